import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "turso",
  schema: "./src/storage/schema.ts",
  out: "./migrations",
});
