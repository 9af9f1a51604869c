// The sse recipe (hono.ts) with real clients over two processes.
import { testRecipe } from "./recipe-tests.js";

testRecipe("hono.ts", "sse");
