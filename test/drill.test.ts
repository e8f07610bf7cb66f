/**
 * The drill (npm run drill) as part of the test command: real redis-server and moto_server, the
 * real host scripts, every scenario's checks asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupScenarios } from "../drill/backup-scenarios";
import { DrillEnv } from "../drill/env";
import { maintenanceScenarios } from "../drill/maintenance-scenarios";
import { restoreScenarios } from "../drill/restore-scenarios";

describe("backup, restore and maintenance drill", () => {
    let env: DrillEnv;
    beforeAll(async () => {
        env = await DrillEnv.start();
    }, 60_000);
    afterAll(() => env?.close());

    // The scenarios share one environment and run in order, as `npm run drill` runs them (less the campaign's own).
    for (const scenario of [...backupScenarios, ...restoreScenarios, ...maintenanceScenarios].filter((s) => !s.campaignOnly)) {
        it(scenario.name, async () => {
            const checks = await scenario.run(env, () => undefined);
            const failed = checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.detail ?? ""}`);
            expect(failed).toEqual([]);
            expect(checks.length).toBeGreaterThanOrEqual(2);
        }, 120_000);
    }
});
