// `latchkey/store`: what a store author needs — the contract a store
// implements (checked by `latchkey/conformance`), its record types, and the
// helpers the built-in stores share. Apps never import this.
export type {
  ChangeSet,
  CreateInput,
  CreateResult,
  SessionLimit,
  SessionMeta,
  DestroyOptions,
  DestroyUserOptions,
  DeviceInfo,
  EndedSession,
  FeedListener,
  FeedSubscription,
  JsonValue,
  ListUserOptions,
  LiveLease,
  PatchInput,
  PatchResult,
  RotateInput,
  RotateResult,
  SessionRecord,
  SessionExpiry,
  SessionStore,
  StoreFeed,
  TooLargeResult,
} from "./contract.js";
export { dataBytes, overLimit, SessionExistsError } from "./contract.js";
export {
  applyChange,
  applySessionMeta,
  decodeDevice,
  encodeDevice,
  encodeSessionMeta,
  endedSession,
  rotatedRecord,
  sessionMetaOf,
  sessionsOverLimit,
} from "./records.js";
export { keepListening, type FeedConnection } from "./feed.js";
export { idOfToken, isWellFormedId, isWellFormedToken, routeOfId, userRoute } from "./token.js";
export { MAX_KEY_LENGTH, MAX_USER_AGENT_LENGTH, MAX_USER_ID_LENGTH } from "./limits.js";
