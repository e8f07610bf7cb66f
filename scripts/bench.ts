/**
 * `npm run bench [-- --runs N] [-- name...]`: every figure the issues ask for, each measured side by
 * side with its floor in the same run, as medians and a ratio against the target.
 */
import { parseArgs } from "util";
import { compare, Comparison } from "../bench/measure";
import { planComparison } from "../bench/plan";

const benchmarks: Record<string, () => Comparison> = { plan: planComparison };

const { values, positionals } = parseArgs({ options: { runs: { type: "string", default: "7" } }, allowPositionals: true });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
    console.error(`--runs must be a positive whole number, got "${values.runs}"`);
    process.exit(64);
}
const unknown = positionals.filter((p) => !(p in benchmarks));
if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(benchmarks).join(", ")}`);
    process.exit(64);
}

let failures = 0;
for (const name of positionals.length ? positionals : Object.keys(benchmarks)) {
    const c = benchmarks[name]();
    console.log(`${c.name}: ${c.subject.label} vs floor (${c.floorIs}), ${runs} runs each`);
    const r = compare(c, runs, (s) => console.log(s));
    console.log(`${c.name}: median ${r.subject.toFixed(0)} ms, floor median ${r.floor.toFixed(0)} ms, ratio ${r.ratio.toFixed(2)}x (target <= ${c.target}x) ${r.ok ? "OK" : "OVER TARGET"}`);
    if (!r.ok) failures++;
}
process.exitCode = failures ? 1 : 0;
