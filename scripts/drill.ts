/**
 * `npm run drill`: the host scripts against real redis-server and moto_server, every scenario,
 * each check printed, then one summary line. Exit 0 only when every check passed.
 */
import { backupScenarios } from "../drill/backup-scenarios";
import { DrillEnv } from "../drill/env";
import { maintenanceScenarios } from "../drill/maintenance-scenarios";
import { restoreScenarios } from "../drill/restore-scenarios";

const scenarios = [...backupScenarios, ...restoreScenarios, ...maintenanceScenarios];

async function main(): Promise<number> {
    const started = Date.now();
    console.log("drill: starting redis-server, moto_server, the QuestDB double");
    const env = await DrillEnv.start();
    let passed = 0;
    let failed = 0;
    try {
        for (const scenario of scenarios) {
            console.log(`\ndrill: ${scenario.name}`);
            const t0 = Date.now();
            const checks = await scenario.run(env, (line) => console.log(`  ${line}`));
            console.log(`  (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
            for (const c of checks) {
                console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.what}${c.ok ? "" : `\n       ${c.detail ?? ""}`}`);
                if (c.ok) passed++;
                else failed++;
            }
        }
    } finally {
        await env.close();
    }
    console.log(`\ndrill: ${scenarios.length} scenarios in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    console.log(`${passed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
}

main().then(
    (code) => (process.exitCode = code),
    (e) => {
        console.error(`drill: ${e?.stack ?? e}`);
        process.exitCode = 1;
    },
);
