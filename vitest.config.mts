import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        // The Pulumi runtime is process-global: every test file gets its own process.
        pool: "forks",
        // Two at a time: much of the suite waits on servers, timers and child processes, not on CPU.
        maxWorkers: 2,
        testTimeout: 60_000,
        hookTimeout: 60_000,
    },
});
