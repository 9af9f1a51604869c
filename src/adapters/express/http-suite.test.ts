import express5 from "express";
import express4 from "express4";
import { runHttpSuite } from "../../testing/http-suite.js";
import { expressServer } from "../../testing/servers.js";

runHttpSuite({ name: "Express 4", makeServer: expressServer(express4 as never) });
runHttpSuite({ name: "Express 5", makeServer: expressServer(express5) });
