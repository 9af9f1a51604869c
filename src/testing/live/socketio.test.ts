// The socket.io recipe (socketio.ts) with real clients over two processes.
import { testRecipe } from "./recipe-tests.js";

testRecipe("socketio.ts", "socket.io");
