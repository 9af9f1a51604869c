/** @type {import("next").NextConfig} */
export default {
  // latchkey and its SQLite driver run as Node packages, not bundled.
  serverExternalPackages: ["latchkey", "better-sqlite3"],
};
