/**
 * `npm run promote -- [--from-file <outputs.json>] [--prod-file <path>] [--check]`
 *
 * Moves the release staging verified into Pulumi.prod.yaml. Staging's outputs come from the
 * Automation API when the Pulumi CLI is installed, or from `pulumi stack output --json` saved to a
 * file (--from-file). Refuses an unverified release, a change beyond the release, and local edits
 * in the prod file. --check prints the change without writing. Rollback: --from-file with an
 * earlier verified release's outputs.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { projectRoot } from "../components/project-root";
import { releaseServiceNames } from "../services/catalog";
import { promote, PromotionError, StagingOutputs } from "../services/promote";

async function stagingOutputs(fromFile: string | undefined): Promise<StagingOutputs> {
    if (fromFile) return JSON.parse(fs.readFileSync(fromFile, "utf8"));
    if (spawnSync("pulumi", ["version"]).status !== 0) throw new PromotionError("no Pulumi CLI here: save staging's outputs with `pulumi stack output --stack staging --json` and pass --from-file");
    const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
    const stack = await LocalWorkspace.selectStack({ stackName: "staging", workDir: projectRoot() });
    return Object.fromEntries(Object.entries(await stack.outputs()).map(([k, v]) => [k, v.value]));
}

/** Local, uncommitted edits to the prod file would be overwritten: refuse them. */
function assertClean(file: string): void {
    let status: string;
    try {
        status = execFileSync("git", ["status", "--porcelain", "--", path.basename(file)], { cwd: path.dirname(file), encoding: "utf8" });
    } catch {
        throw new PromotionError(`${file} is not in a git work tree: promotion must be a reviewable commit`);
    }
    if (status.trim()) throw new PromotionError(`${file} has local edits that promotion would overwrite: commit or stash them first`);
}

async function main(): Promise<number> {
    const { values } = parseArgs({ options: { "from-file": { type: "string" }, "prod-file": { type: "string" }, check: { type: "boolean", default: false } } });
    const prodFile = path.resolve((values["prod-file"] as string | undefined) ?? path.join(projectRoot(), "Pulumi.prod.yaml"));
    try {
        assertClean(prodFile);
        const result = promote(fs.readFileSync(prodFile, "utf8"), await stagingOutputs(values["from-file"] as string | undefined), releaseServiceNames);
        if (result.changes.length === 0) {
            console.log(`prod already runs the release staging verified at ${result.verifiedAt}`);
            return 0;
        }
        for (const c of result.changes) console.log(`${c.service}: ${c.from ?? "(none)"}\n  -> ${c.to}`);
        if (values.check) {
            console.log(`${result.changes.length} image(s) would change in ${path.basename(prodFile)} (verified in staging at ${result.verifiedAt}); --check wrote nothing`);
            return 0;
        }
        fs.writeFileSync(prodFile, result.text);
        console.log(`${result.changes.length} image(s) promoted into ${path.basename(prodFile)}; commit it and run pulumi up --stack prod`);
        return 0;
    } catch (e) {
        if (!(e instanceof PromotionError)) throw e;
        console.error(`promote: refused: ${e.message}`);
        return 1;
    }
}

main().then(
    (code) => (process.exitCode = code),
    (e) => {
        console.error(e?.stack ?? e);
        process.exitCode = 1;
    },
);
