import { runHttpSuite } from "../testing/http-suite.js";
import { webServer } from "../testing/servers.js";

runHttpSuite({ name: "withSession (web fetch handler)", makeServer: webServer });
