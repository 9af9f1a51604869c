// The ws recipe (fastify.ts) with real clients over two processes.
import { testRecipe } from "./recipe-tests.js";

testRecipe("fastify.ts", "ws");
