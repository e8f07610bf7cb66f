/**
 * `npm run bench [-- --runs N] [-- name...]`: every figure the issues ask for, each measured side by
 * side with its floor in the same run, as medians and a ratio against the target.
 */
import { readArgs, USAGE_EXIT } from "./cli-args";
import { backupComparison } from "../bench/backup";
import { compare, Comparison } from "../bench/measure";
import { ecsPlanComparison, planComparison } from "../bench/plan";
import { restoreComparison } from "../bench/restore";

type Setup = (log: (s: string) => void) => Promise<{ comparison: Comparison; close?: () => Promise<void> }>;

const benchmarks: Record<string, { runs: number; setup: Setup }> = {
    plan: { runs: 7, setup: async () => ({ comparison: planComparison() }) },
    "plan-ecs": { runs: 5, setup: async () => ({ comparison: ecsPlanComparison() }) },
    backup: { runs: 3, setup: backupComparison },
    restore: { runs: 3, setup: restoreComparison },
};

const USAGE = `usage: npm run bench -- [--runs N] [plan|plan-ecs|backup|restore ...]

Measures each figure the issues ask for beside its floor, in the same run (medians, ratio, target);
exit 1 when one is over its target. Without names, runs all of them.`;

async function main(): Promise<number> {
    const parsed = readArgs("bench", USAGE, process.argv.slice(2), { runs: { type: "string" } }, true);
    if (typeof parsed === "number") return parsed;
    const { values, positionals } = parsed;
    const runsOverride = values.runs === undefined ? undefined : Number(values.runs);
    if (runsOverride !== undefined && (!Number.isInteger(runsOverride) || runsOverride < 1)) {
        console.error(`bench: --runs must be a positive whole number, got "${values.runs}"`);
        return USAGE_EXIT;
    }
    const unknown = positionals.filter((p) => !(p in benchmarks));
    if (unknown.length) {
        console.error(`bench: unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(benchmarks).join(", ")}`);
        return USAGE_EXIT;
    }
    let failures = 0;
    const summary: string[] = [];
    for (const name of positionals.length ? positionals : Object.keys(benchmarks)) {
        const { runs: defaultRuns, setup } = benchmarks[name];
        const runs = runsOverride ?? defaultRuns;
        const log = (s: string) => console.log(s);
        const { comparison: c, close } = await setup(log);
        try {
            console.log(`${c.name}: ${c.subject.label} vs floor (${c.floorIs}), ${runs} runs each`);
            const r = await compare(c, runs, log);
            const line = `${c.name}: median ${r.subject.toFixed(0)} ms, floor median ${r.floor.toFixed(0)} ms, ratio ${r.ratio.toFixed(2)}x (target <= ${c.target}x) ${r.ok ? "OK" : "OVER TARGET"}`;
            console.log(line);
            summary.push(line);
            console.log(
                `  cpu medians: ${r.subjectCpu.toFixed(2)} s against the floor's ${r.floorCpu.toFixed(2)} s (${(r.subjectCpu / r.floorCpu).toFixed(2)}x);` +
                    ` on ${r.cores} cores the subject's CPU alone takes at least ${r.subjectCpuBoundMs.toFixed(0)} ms (${(r.subjectCpuBoundMs / r.floor).toFixed(2)}x the floor's wall time)`,
            );
            if (r.bound && c.bound) {
                const against = c.bound.target === undefined ? "" : `; ${c.subject.label} is ${r.bound.subjectRatio.toFixed(2)}x it (target <= ${c.bound.target}x) ${r.bound.ok ? "OK" : "OVER TARGET"}`;
                console.log(`  least possible, ${c.bound.is}: median ${r.bound.ms.toFixed(0)} ms, ${r.bound.ratio.toFixed(2)}x the floor${against}`);
                if (c.bound.target !== undefined) summary.push(`  ${c.name}: ${r.bound.subjectRatio.toFixed(2)}x the least possible verified backup (target <= ${c.bound.target}x) ${r.bound.ok ? "OK" : "OVER TARGET"}`);
            }
            if (!r.ok) failures++;
        } finally {
            await close?.();
        }
    }
    console.log(["", "summary:", ...summary].join("\n"));
    return failures ? 1 : 0;
}

main().then(
    (code) => (process.exitCode = code),
    (e) => {
        console.error(e?.stack ?? e);
        process.exitCode = 1;
    },
);
