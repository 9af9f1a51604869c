import { runSessionsConformance, runStoreConformance } from "../../conformance/index.js";
import { memoryStore } from "./index.js";

runStoreConformance({ name: "memoryStore", createStore: () => memoryStore() });
runSessionsConformance({ name: "memoryStore", createStore: () => memoryStore() });
