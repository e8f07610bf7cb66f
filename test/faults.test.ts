/**
 * The fault drill's representative cases in the test command (npm run drill runs the whole
 * campaign): a reboot in the middle of the swap, TERM during verification, a kill after it, two
 * restores at once, a backup killed with QuestDB's checkpoint held. Real redis-server and
 * moto_server, the real host scripts; its own drill environment, beside the drill's.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DrillEnv } from "../drill/env";
import { faultSubset } from "../drill/fault-scenarios";

describe("the data-safety invariant under faults", () => {
    let env: DrillEnv;
    beforeAll(async () => {
        env = await DrillEnv.start();
        env.loadRedis(2000);
    }, 60_000);
    afterAll(() => env?.close());

    for (const scenario of faultSubset) {
        it(scenario.name, async () => {
            const checks = await scenario.run(env, () => undefined);
            const failed = checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.detail ?? ""}`);
            expect(failed).toEqual([]);
            expect(checks.length).toBeGreaterThanOrEqual(5);
        }, 180_000);
    }
});
