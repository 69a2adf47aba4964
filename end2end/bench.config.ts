import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// Benchmarks are not tests: run with `npx playwright test --config bench.config.ts`.
export default defineConfig({ ...base, testDir: "./bench", testMatch: /.*\.bench\.ts/, timeout: 20 * 60_000 });
