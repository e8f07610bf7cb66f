/**
 * `npm run drill`: the host scripts against real redis-server and moto_server, every scenario,
 * each check printed, then one summary line. Exit 0 only when every check passed.
 */
import { readArgs, USAGE_EXIT } from "./cli-args";
import { backupScenarios, manyBackups } from "../drill/backup-scenarios";
import { DrillEnv } from "../drill/env";
import { faultScenarios } from "../drill/fault-scenarios";
import { maintenanceScenarios } from "../drill/maintenance-scenarios";
import { diagnosticsScenarios } from "../drill/diagnostics-scenarios";
import { restoreScenarios } from "../drill/restore-scenarios";

// The campaign's last case: the bucket as months of 15-minute Redis backups leave it.
const scenarios = [...backupScenarios, ...restoreScenarios, ...maintenanceScenarios, ...diagnosticsScenarios, ...faultScenarios, manyBackups(10_000)];

const USAGE = `usage: npm run drill -- [--only <text>]
  runs every scenario (backup, restore, maintenance, the fault campaign) against a real redis-server
  and moto_server; --only runs those whose name matches <text> (a regular expression)`;

async function main(): Promise<number> {
    const parsed = readArgs("drill", USAGE, process.argv.slice(2), { only: { type: "string" } });
    if (typeof parsed === "number") return parsed;
    const only = parsed.values.only as string | undefined;
    let pattern: RegExp | undefined;
    try {
        pattern = only === undefined ? undefined : new RegExp(only);
    } catch (e) {
        console.error(`drill: --only "${only}" is not a regular expression: ${(e as Error).message}`);
        return USAGE_EXIT;
    }
    const chosen = scenarios.filter((s) => !pattern || pattern.test(s.name));
    if (chosen.length === 0) {
        console.error(`drill: no scenario's name matches "${only}"`);
        return USAGE_EXIT;
    }
    const started = Date.now();
    console.log("drill: starting redis-server, moto_server, the QuestDB double");
    const env = await DrillEnv.start();
    let passed = 0;
    let failed = 0;
    try {
        for (const scenario of chosen) {
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
    console.log(`\ndrill: ${chosen.length} scenarios in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    console.log(`${passed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
}

main().then(
    (code) => (process.exitCode = code),
    (e) => {
        // Set-up failures (a tool missing, a port taken) are said in a line; anything else with its stack.
        console.error(`drill: ${e instanceof Error && e.message.startsWith("drill:") ? e.message.replace(/^drill: /, "") : e?.stack ?? e}`);
        process.exitCode = 1;
    },
);
