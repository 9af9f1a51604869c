// Input limits every store can rely on: the manager refuses longer values
// before any store is called (see src/core/validate.ts and src/devices).

/** The longest user id accepted. */
export const MAX_USER_ID_LENGTH = 256;
/** The longest session key accepted. */
export const MAX_KEY_LENGTH = 200;
/** The longest User-Agent kept; longer ones are cut (some bots send kilobytes). */
export const MAX_USER_AGENT_LENGTH = 512;
