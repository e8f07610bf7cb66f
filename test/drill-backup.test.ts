/**
 * The drill's backup scenarios (npm run drill runs them first) as part of the test command, in an
 * environment of their own: real redis-server and moto_server, the real host scripts, every
 * scenario's checks asserted. A file apart from the restore and maintenance scenarios
 * (test/drill.test.ts), so that the two halves run on two workers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupScenarios } from "../drill/backup-scenarios";
import { DrillEnv } from "../drill/env";

describe("backup drill", () => {
    let env: DrillEnv;
    beforeAll(async () => {
        env = await DrillEnv.start();
    }, 60_000);
    afterAll(() => env?.close());

    // The scenarios share one environment and run in order, as `npm run drill` runs them.
    for (const scenario of backupScenarios) {
        it(scenario.name, async () => {
            const checks = await scenario.run(env, () => undefined);
            const failed = checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.detail ?? ""}`);
            expect(failed).toEqual([]);
            expect(checks.length).toBeGreaterThanOrEqual(2);
        }, 120_000);
    }
});
