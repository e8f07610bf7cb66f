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
 * --verify-deploy, before prod's update, refuses anything but staging's verified images and commit.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { readArgs } from "./cli-args";
import { projectRoot } from "../components/project-root";
import { stackSettings } from "../plan/stack-config";
import { pagingAlarmNames } from "../topology/host/alarms";
import { releaseServiceNames, sofiaCatalog } from "../model/catalog";
import { checkDeployIsVerified, checkRollback, promote, PromotionError, ProdOutputs, StagingOutputs } from "../release/promote";
import { imagesOf } from "../release/deploy";
import { describeSoak, readAlarms, soakVerdict } from "../release/soak";

const STAGING = "staging";

/** The soak rule for promoting a release verified at `verifiedAt` into the stack of `prodFile`. */
function soak(prodFile: string, verifiedAt: string): { ok: boolean; line: string } {
    const target = /^Pulumi\.(.+)\.yaml$/.exec(path.basename(prodFile))?.[1];
    if (!target) throw new PromotionError(`${prodFile} is not named Pulumi.<stack>.yaml: cannot tell which stack's soak setting applies`);
    const soakMinutes = stackSettings(target, prodFile).deploy.soakMinutes;
    const staging = stackSettings(STAGING);
    const alarms = pagingAlarmNames(sofiaCatalog(staging.timeseriesStore), staging);
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

const USAGE = `usage: npm run promote -- [--from-file <outputs.json>] [--prod-file <path>] [--check] [--rollback --prod-outputs <prod-outputs.json>] [--verify-deploy --prod-outputs <prod-outputs.json>]

Moves the release staging verified into Pulumi.prod.yaml, once it has soaked in staging: every
image staging verified (stores and proxy too), and only when this checkout's code is the commit
staging verified. --check prints the change and the soak left without writing; --from-file reads
staging's outputs from \`pulumi stack output --stack staging --json\` saved to a file. --rollback
puts an earlier verified release back without a soak, and only an earlier one: it needs prod's
outputs (\`pulumi stack output --stack prod --json\`) to tell, and it makes prod's update a full
release deploy. --verify-deploy (run before pulumi up --stack prod) refuses to deploy anything but
what staging verified, or a rollback.`;

/**
 * Files of the checkout that holds the prod file that differ from `commit` (committed or not), the
 * prod file aside; undefined when the commit is not in it.
 */
function codeChanges(prodFile: string): (commit: string) => string[] | undefined {
    return (commit) => {
        const cwd = execFileSync("git", ["rev-parse", "--show-toplevel"], { cwd: path.dirname(prodFile), encoding: "utf8" }).trim();
        if (!/^[0-9a-f]{7,40}$/.test(commit) || spawnSync("git", ["cat-file", "-e", `${commit}^{commit}`], { cwd }).status !== 0) return undefined;
        const out = execFileSync("git", ["diff", "--name-only", commit, "HEAD", "--", ".", `:(exclude)${path.relative(cwd, prodFile)}`], { cwd, encoding: "utf8" });
        // Uncommitted changes to tracked files count too (a deploy runs the working tree); the
        // workflows' downloaded outputs files are untracked.
        const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no", "--", ".", `:(exclude)${path.relative(cwd, prodFile)}`], { cwd, encoding: "utf8" });
        return [...out.split("\n"), ...dirty.split("\n").map((l) => l.slice(3))].filter(Boolean);
    };
}

function readProdOutputs(file: string | undefined, why: string): ProdOutputs {
    if (!file) throw new PromotionError(`${why} needs --prod-outputs <file> (pulumi stack output --stack prod --json)`);
    return JSON.parse(fs.readFileSync(file, "utf8")) as ProdOutputs;
}

async function main(): Promise<number> {
    const parsed = readArgs("promote", USAGE, process.argv.slice(2), {
        "from-file": { type: "string" },
        "prod-file": { type: "string" },
        check: { type: "boolean", default: false },
        rollback: { type: "boolean", default: false },
        "prod-outputs": { type: "string" },
        "verify-deploy": { type: "boolean", default: false },
    });
    if (typeof parsed === "number") return parsed;
    const { values } = parsed;
    const prodFile = path.resolve((values["prod-file"] as string | undefined) ?? path.join(projectRoot(), "Pulumi.prod.yaml"));
    const prodStack = /^Pulumi\.(.+)\.yaml$/.exec(path.basename(prodFile))?.[1] ?? "prod";
    try {
        const outputs = await stagingOutputs(values["from-file"] as string | undefined);
        if (values["verify-deploy"]) {
            const prod = stackSettings(prodStack, prodFile);
            const prodOutputs = readProdOutputs(values["prod-outputs"] as string | undefined, "--verify-deploy");
            const rollbackId = prod.deploy.rollbackId;
            const changes = codeChanges(prodFile);
            if (rollbackId !== undefined && rollbackId !== prodOutputs.verifiedRelease?.rollbackId) {
                // Images go back; the code must be what prod verified last, not what may have failed since.
                const back = prodOutputs.verifiedRelease?.commit;
                if (!back) throw new PromotionError("a rollback needs prod's outputs to record the commit it verified last (outputs of an older version): deploy by promotion first");
                const differ = changes(back);
                if (differ === undefined) throw new PromotionError(`prod's verified commit ${back} is not in this checkout: fetch the history (fetch-depth: 0)`);
                if (differ.length) throw new PromotionError(`a rollback puts images back on the code prod verified last (${back.slice(0, 12)}); this checkout differs from it in ${differ.slice(0, 10).join(", ")}: revert those commits on main too`);
                console.log(`a rollback (${rollbackId}) on the code prod verified last (${back.slice(0, 12)}); it deploys as a full release`);
                return 0;
            }
            // The code must be the commit promotion soaked, as well as the one staging verified.
            const promoted = prod.deploy.promotedCommit;
            if (!promoted) throw new PromotionError(`${path.basename(prodFile)} records no deploy.promotedCommit: a release reaches prod by npm run promote`);
            const sincePromotion = changes(promoted);
            if (sincePromotion === undefined) throw new PromotionError(`the promoted commit ${promoted} is not in this checkout: fetch the history (fetch-depth: 0)`);
            if (sincePromotion.length) throw new PromotionError(`the code differs from the commit promoted to prod (${promoted.slice(0, 12)}) in ${sincePromotion.slice(0, 10).join(", ")}: it has not soaked; promote again once staging verified it`);
            // The images of prod's own catalog (a store it does not run has a default, not a release).
            checkDeployIsVerified(outputs, imagesOf(sofiaCatalog(prod.timeseriesStore).map((e) => e.name), prod.images), changes);
            console.log(`prod is to run exactly what staging verified at ${outputs.verifiedRelease!.verifiedAt}: its images and its commit ${outputs.verifiedRelease!.commit!.slice(0, 12)}`);
            return 0;
        }
        assertClean(prodFile);
        let rollbackId: string | undefined;
        if (values.rollback) {
            checkRollback(outputs, readProdOutputs(values["prod-outputs"] as string | undefined, "--rollback"));
            rollbackId = `rollback-${new Date().toISOString()}`;
        } else {
            // The code too: a promotion from a checkout staging did not verify would carry it along.
            const verified = outputs.verifiedRelease;
            if (verified?.commit) {
                const changed = codeChanges(prodFile)(verified.commit);
                if (changed === undefined) throw new PromotionError(`staging's verified commit ${verified.commit} is not in this checkout: fetch the history (fetch-depth: 0)`);
                if (changed.length) throw new PromotionError(`this checkout's code differs from the commit staging verified (${verified.commit.slice(0, 12)}) in: ${changed.slice(0, 10).join(", ")}. Let staging deploy and verify it first`);
            } else {
                throw new PromotionError("staging's verified release does not record its commit (outputs of an older version): deploy staging again, then promote");
            }
        }
        const defaults = Object.fromEntries(sofiaCatalog(stackSettings(prodStack, prodFile).timeseriesStore).flatMap((e) => (e.defaultImage ? [[e.name, e.defaultImage]] : [])));
        const result = promote(fs.readFileSync(prodFile, "utf8"), outputs, releaseServiceNames, defaults, rollbackId);
        if (result.changes.length === 0 && rollbackId === undefined) {
            console.log(`prod already runs the release staging verified at ${result.verifiedAt}: nothing to promote`);
            return 0;
        }
        for (const c of result.changes) console.log(`${c.service}: ${c.from ?? "(none)"}\n  -> ${c.to}`);
        if (values.rollback) {
            console.log(`rollback to the release verified at ${result.verifiedAt} (${rollbackId}): no soak asked of it; prod's update runs the full checklist`);
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
