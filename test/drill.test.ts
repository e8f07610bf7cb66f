/**
 * The drill's restore and maintenance scenarios (npm run drill) as part of the test command: real
 * redis-server and moto_server, the real host scripts, every scenario's checks asserted. The backup
 * scenarios are test/drill-backup.test.ts, in an environment of their own (two workers, two halves).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DrillEnv } from "../drill/env";
import { maintenanceScenarios } from "../drill/maintenance-scenarios";
import { restoreScenarios } from "../drill/restore-scenarios";

describe("restore and maintenance drill", () => {
    let env: DrillEnv;
    beforeAll(async () => {
        env = await DrillEnv.start();
    }, 60_000);
    afterAll(() => env?.close());

    // The scenarios share one environment and run in order, as `npm run drill` runs them.
    for (const scenario of [...restoreScenarios, ...maintenanceScenarios]) {
        it(scenario.name, async () => {
            const checks = await scenario.run(env, () => undefined);
            const failed = checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.detail ?? ""}`);
            expect(failed).toEqual([]);
            expect(checks.length).toBeGreaterThanOrEqual(2);
        }, 120_000);
    }
});
