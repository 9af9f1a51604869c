import { runStoreConformance } from "../conformance/index.js";
import { memoryStore } from "./index.js";

runStoreConformance({ name: "memoryStore", createStore: () => memoryStore() });
