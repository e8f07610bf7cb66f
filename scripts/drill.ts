/**
 * `npm run drill`: the host scripts against real redis-server and moto_server, every scenario,
 * each check printed, then one summary line. Exit 0 only when every check passed.
 */
import { parseArgs } from "util";
import { backupScenarios, manyBackups } from "../drill/backup-scenarios";
import { DrillEnv } from "../drill/env";
import { faultScenarios } from "../drill/fault-scenarios";
import { maintenanceScenarios } from "../drill/maintenance-scenarios";
import { restoreScenarios } from "../drill/restore-scenarios";

// The campaign's last case: the bucket as months of 15-minute Redis backups leave it.
const scenarios = [...backupScenarios, ...restoreScenarios, ...maintenanceScenarios, ...faultScenarios, manyBackups(10_000)];

const USAGE = `usage: npm run drill -- [--only <text>]
  runs every scenario (backup, restore, maintenance, the fault campaign) against a real redis-server
  and moto_server; --only runs those whose name matches <text> (a regular expression)`;

async function main(): Promise<number> {
    let only: string | undefined;
    try {
        const { values } = parseArgs({ args: process.argv.slice(2), options: { only: { type: "string" }, help: { type: "boolean", default: false } }, strict: true, allowPositionals: false });
        if (values.help) {
            console.log(USAGE);
            return 0;
        }
        only = values.only;
    } catch (e) {
        console.error(`drill: ${(e as Error).message}\n${USAGE}`);
        return 2;
    }
    const chosen = scenarios.filter((s) => only === undefined || new RegExp(only).test(s.name));
    if (chosen.length === 0) {
        console.error(`drill: no scenario's name contains "${only}"`);
        return 2;
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
        console.error(`drill: ${e?.stack ?? e}`);
        process.exitCode = 1;
    },
);
