// Types shared by the manager's modules (options, metrics, migration), kept in
// a leaf module so that those modules never import each other for a type.

export type DestroyReason = "logout" | "revoke" | "revoke-user" | "logout-others" | "expired";

export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}
