import { reactRouter } from "@react-router/dev/vite";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [reactRouter()],
  // latchkey and its SQLite driver run as Node packages, not bundled.
  ssr: { external: ["latchkey", "better-sqlite3"] },
});
