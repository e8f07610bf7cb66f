/**
 * `npm run pr-comment -- --base <git-ref> [--stack <name>]... [--artifacts <dir>]`
 *
 * The pull request's comment: each stack's offline diff against the base ref, its policy summary
 * and its start graph when it changes, under GitHub's size limit (plan/comment.ts). The full plans
 * and diffs go to --artifacts for the workflow to attach. Each plan runs in its own process: the
 * Pulumi runtime is process-global.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { readArgs, USAGE_EXIT } from "./cli-args";
import { ARTIFACT_NAME, failureComment, prComment, StackSection } from "../plan/comment";
import { PlanDiff } from "../plan/diff";
import { PROJECT_DIR } from "../plan/stack-config";

const USAGE = `usage: npm run pr-comment -- --base <git-ref> [--head <sha>] [--stack <name>]... [--artifacts <dir>]

Prints the pull request's comment (markdown): each stack's offline diff against <git-ref> (default
stacks: staging and prod), its policy summary line and its start graph when it changes, cut to fit
GitHub's limit; --head names the commit it describes. When a stack cannot be planned, prints a
comment that says so (exit 1), so the last push's diff is not left standing. With --artifacts, the
full plans, diffs and policy reports are written there too.`;

function run(script: string, args: string[]): { status: number; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [path.join(PROJECT_DIR, "scripts", "run-ts.js"), script, ...args], { cwd: PROJECT_DIR, encoding: "utf8", maxBuffer: 512 * 1024 * 1024 });
    return { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr || r.error?.message || "" };
}

function main(): number {
    const parsed = readArgs("pr-comment", USAGE, process.argv.slice(2), { base: { type: "string" }, head: { type: "string" }, stack: { type: "string", multiple: true }, artifacts: { type: "string" } });
    if (typeof parsed === "number") return parsed;
    const values = parsed.values as { base?: string; head?: string; stack?: string[]; artifacts?: string };
    if (!values.base) {
        console.error(`pr-comment: --base <git-ref> is required (${USAGE.split("\n")[0]})`);
        return USAGE_EXIT;
    }
    const stacks = values.stack?.length ? values.stack : ["staging", "prod"];
    if (values.artifacts) fs.mkdirSync(values.artifacts, { recursive: true });
    const sections: StackSection[] = [];
    const failures: { stack: string; error: string }[] = [];
    for (const stack of stacks) {
        console.error(`pr-comment: ${stack}: diff against ${values.base}, policies, full plan`);
        const diff = run("scripts/plan.ts", ["--stack", stack, "--diff", values.base, "--json"]);
        if (values.artifacts) fs.writeFileSync(path.join(values.artifacts, `${stack}.diff.json`), diff.status === 0 ? diff.stdout : diff.stderr);
        if (diff.status !== 0) {
            failures.push({ stack, error: diff.stderr.trim() || `the offline plan exited ${diff.status}` });
            continue;
        }
        const policies = run("scripts/policies.ts", ["--stack", stack]);
        const summary = policies.stdout.trim().split("\n").filter((l) => /^\d+ policies, \d+ violations/.test(l)).pop() ?? `the policy run failed: ${policies.stderr.trim().split("\n")[0]}`;
        sections.push({ diff: JSON.parse(diff.stdout) as PlanDiff, policySummary: summary });
        if (values.artifacts) {
            const full = run("scripts/plan.ts", ["--stack", stack]);
            fs.writeFileSync(path.join(values.artifacts, `${stack}.plan.txt`), full.status === 0 ? full.stdout : full.stderr);
            fs.writeFileSync(path.join(values.artifacts, `${stack}.policies.txt`), policies.stdout + policies.stderr);
        }
    }
    if (failures.length) {
        process.stdout.write(failureComment(values.head, failures, ARTIFACT_NAME));
        return 1;
    }
    process.stdout.write(prComment({ stacks: sections, artifact: ARTIFACT_NAME, head: values.head }));
    return 0;
}

process.exitCode = main();
