/**
 * `npm run promote -- [--from-file <outputs.json>] [--prod-file <path>] [--check] [--rollback]`
 *
 * Moves the release staging verified into Pulumi.prod.yaml. Staging's outputs come from the
 * Automation API when the Pulumi CLI is installed, or from `pulumi stack output --json` saved to a
 * file (--from-file). Refuses an unverified release, a change beyond the release, local edits in
 * the prod file, and a release that has not soaked in staging: the target stack's
 * deploy.soakMinutes since verification with no level 2 or 3 alarm (read from CloudWatch with the
 * aws CLI). --check prints the change and how long the soak has left, without writing.
 * --rollback puts an earlier verified release back (--from-file with its outputs): it soaked when
 * it was new, so no soak is asked of it; --prod-outputs (prod's outputs) shows that it is earlier.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { readArgs } from "./cli-args";
import { DEFAULT_DATA_PATH } from "../components/host";
import { projectRoot } from "../components/project-root";
import { stackSettings } from "../plan/stack-config";
import { pagingAlarmNames } from "../services/alarms";
import { releaseServiceNames, sofiaCatalog } from "../services/catalog";
import { checkRollback, promote, PromotionError, ProdOutputs, StagingOutputs } from "../services/promote";
import { describeSoak, readAlarms, soakVerdict } from "../services/soak";

const STAGING = "staging";

/** The soak rule for promoting a release verified at `verifiedAt` into the stack of `prodFile`. */
function soak(prodFile: string, verifiedAt: string): { ok: boolean; line: string } {
    const target = /^Pulumi\.(.+)\.yaml$/.exec(path.basename(prodFile))?.[1];
    if (!target) throw new PromotionError(`${prodFile} is not named Pulumi.<stack>.yaml: cannot tell which stack's soak setting applies`);
    const soakMinutes = stackSettings(target, prodFile).deploy.soakMinutes;
    const staging = stackSettings(STAGING);
    const alarms = pagingAlarmNames(sofiaCatalog(staging.timeseriesStore), staging, DEFAULT_DATA_PATH);
    let read;
    try {
        read = readAlarms(alarms, staging.region, verifiedAt);
    } catch (e) {
        const why = String((e as { stderr?: string }).stderr ?? e).trim().split("\n").pop();
        throw new PromotionError(`cannot read staging's alarms from CloudWatch (${why}); the soak cannot be checked: run with AWS credentials for staging`);
    }
    const verdict = soakVerdict({ verifiedAt, now: new Date(), soakMinutes, alarms, ...read });
    return { ok: verdict.ok, line: describeSoak(verdict, soakMinutes) };
}

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

const USAGE = `usage: npm run promote -- [--from-file <outputs.json>] [--prod-file <path>] [--check] [--rollback --prod-outputs <prod-outputs.json>]

Moves the release staging verified into Pulumi.prod.yaml, once it has soaked in staging. --check
prints the change and the soak left without writing; --from-file reads staging's outputs from
\`pulumi stack output --stack staging --json\` saved to a file. --rollback puts an earlier verified
release back without a soak, and only an earlier one: it needs prod's outputs
(\`pulumi stack output --stack prod --json\`) to tell.`;

async function main(): Promise<number> {
    const parsed = readArgs("promote", USAGE, process.argv.slice(2), {
        "from-file": { type: "string" },
        "prod-file": { type: "string" },
        check: { type: "boolean", default: false },
        rollback: { type: "boolean", default: false },
        "prod-outputs": { type: "string" },
    });
    if (typeof parsed === "number") return parsed;
    const { values } = parsed;
    const prodFile = path.resolve((values["prod-file"] as string | undefined) ?? path.join(projectRoot(), "Pulumi.prod.yaml"));
    try {
        assertClean(prodFile);
        const outputs = await stagingOutputs(values["from-file"] as string | undefined);
        if (values.rollback) {
            const prodOutputs = values["prod-outputs"] as string | undefined;
            if (!prodOutputs) throw new PromotionError("--rollback needs --prod-outputs <file> (pulumi stack output --stack prod --json): a rollback may only go back from what prod runs");
            checkRollback(outputs, JSON.parse(fs.readFileSync(prodOutputs, "utf8")) as ProdOutputs);
        }
        const result = promote(fs.readFileSync(prodFile, "utf8"), outputs, releaseServiceNames);
        if (result.changes.length === 0) {
            console.log(`prod already runs the release staging verified at ${result.verifiedAt}`);
            return 0;
        }
        for (const c of result.changes) console.log(`${c.service}: ${c.from ?? "(none)"}\n  -> ${c.to}`);
        if (values.rollback) {
            console.log(`rollback to the release verified at ${result.verifiedAt}: no soak asked of it`);
        } else {
            const soaked = soak(prodFile, result.verifiedAt);
            console.log(soaked.line);
            if (!soaked.ok) throw new PromotionError(`the release has not soaked in staging: ${soaked.line}. npm run promote -- --check says how long is left`);
        }
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
