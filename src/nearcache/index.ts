// The near-cache layer between the manager and a shared store (DESIGN.md:
// adapter → manager → near-cache → store). Used through createSessions({ nearCache, revocation }).
export { Coherence, type CoherenceOptions } from "./coherence.js";
export { NearCache, type FillTicket } from "./cache.js";
export { decodeMessage, encodeAck, encodeNotice, encodePing, type FeedMessage, type Notice } from "./messages.js";
export { SequenceTracker } from "./sequence.js";
export { LatencySamples, type FeedState, type LatencySummary, type NearCacheStats } from "./stats.js";
