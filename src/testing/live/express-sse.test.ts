// The sse recipe (express.ts) with real clients over two processes.
import { testRecipe } from "./recipe-tests.js";

testRecipe("express.ts", "sse");
