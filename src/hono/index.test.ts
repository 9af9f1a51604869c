import { runHttpSuite } from "../testing/http-suite.js";
import { honoServer } from "../testing/servers.js";

runHttpSuite({ name: "Hono 4 (@hono/node-server)", makeServer: honoServer });
