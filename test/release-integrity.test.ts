/**
 * Prod runs exactly what staging verified: every image (stores and proxy too) and the commit; a
 * rollback is a full release deploy, also back to the release prod verified last.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { runAsync } from "../drill/run";
import { stackSettings } from "../plan/stack-config";
import { releaseServiceNames, sofiaCatalog } from "../model/catalog";
import { DEPLOY_COMMIT_ENV, deployKind, HISTORY_LENGTH, imagesOf, nextHistory } from "../release/deploy";
import { checkDeployIsVerified, promote, StagingOutputs } from "../release/promote";
import { planStack } from "./helpers/plan";

const ROOT = path.join(__dirname, "..");
const prodYaml = fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8");
const prodSettings = stackSettings("prod");
// Prod's own catalog's images: a store it does not run (timescaledb next to questdb) has only a default.
const prodImages = imagesOf(sofiaCatalog(prodSettings.timeseriesStore).map((e) => e.name), prodSettings.images);
const COMMIT = "c".repeat(40);

/** Staging verified prod's own images, with a new Redis, from COMMIT. */
function stagingWith(images: Record<string, string>, commit = COMMIT): StagingOutputs {
    const release = Object.fromEntries(releaseServiceNames.map((n) => [n, images[n]]));
    return { release, verifiedRelease: { release, images, verifiedAt: "2026-12-03T08:00:00Z", commit } };
}

describe("what prod runs is what staging verified", () => {
    it("promotes every image staging verified, a store's too, and nothing prod already runs", () => {
        const redis = "redis:7.4.3@sha256:" + "d".repeat(64);
        const r = promote(prodYaml, stagingWith({ ...prodImages, redis }), releaseServiceNames, { redis: prodImages.redis, questdb: prodImages.questdb });
        expect(r.changes.map((c) => c.service)).toContain("redis");
        expect(parse(r.text).config["sofia:images"].redis).toBe(redis);
        expect(r.changes.map((c) => c.service)).not.toContain("questdb");
    });

    it("refuses a deploy whose images or code differ from staging's verified release, naming the difference", () => {
        const same = () => [] as string[];
        expect(() => checkDeployIsVerified(stagingWith(prodImages), prodImages, same)).not.toThrow();
        expect(() => checkDeployIsVerified(stagingWith({ ...prodImages, proxy: "nginx:1.27@sha256:" + "e".repeat(64) }), prodImages, same)).toThrow(/prod's images are not the ones staging verified .*proxy: prod nginx/);
        expect(() => checkDeployIsVerified(stagingWith(prodImages), prodImages, () => ["host/sofia-backup.sh", "model/catalog.ts"])).toThrow(/the code differs from the commit staging verified \(cccccccccccc\) in 2 file\(s\): host\/sofia-backup\.sh, model\/catalog\.ts/);
        expect(() => checkDeployIsVerified(stagingWith(prodImages), prodImages, () => undefined)).toThrow(/is not in this checkout: fetch the history/);
        expect(() => checkDeployIsVerified(stagingWith(prodImages, `${COMMIT}+dirty`), prodImages, same)).toThrow(/staging verified code no commit holds/);
        const old = stagingWith(prodImages);
        delete old.verifiedRelease!.commit;
        expect(() => checkDeployIsVerified(old, prodImages, same)).toThrow(/does not record its images and commit/);
    });
});

describe("npm run promote -- --verify-deploy, in a scratch checkout", () => {
    const git = (dir: string, ...a: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...a], { cwd: dir, encoding: "utf8" }).trim();
    function checkout(): { dir: string; head: string } {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-deploy-"));
        fs.copyFileSync(path.join(ROOT, "Pulumi.prod.yaml"), path.join(dir, "Pulumi.prod.yaml"));
        fs.writeFileSync(path.join(dir, "code.ts"), "export const x = 1;\n");
        git(dir, "init", "-q");
        git(dir, "add", ".");
        git(dir, "commit", "-qm", "verified in staging");
        return { dir, head: git(dir, "rev-parse", "HEAD") };
    }
    const verify = (dir: string) =>
        runAsync("node", [path.join(ROOT, "scripts", "run-ts.js"), "scripts/promote.ts", "--verify-deploy", "--from-file", path.join(dir, "staging.json"), "--prod-outputs", path.join(dir, "prod.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")]);

    it("passes the commit and images staging verified and promotion soaked, refuses a later commit, and holds a rollback to prod's verified code", async () => {
        const { dir, head } = checkout();
        fs.writeFileSync(path.join(dir, "staging.json"), JSON.stringify(stagingWith(prodImages, head)));
        fs.writeFileSync(path.join(dir, "prod.json"), JSON.stringify({ verifiedRelease: { ...stagingWith(prodImages, head).verifiedRelease } }));
        // Without the promoted commit in the prod file: not a promotion.
        const unpromoted = await verify(dir);
        expect(unpromoted.status).toBe(1);
        expect(unpromoted.stderr).toContain("records no deploy.promotedCommit");
        fs.appendFileSync(path.join(dir, "Pulumi.prod.yaml"), `  sofia:deploy:\n    promotedCommit: ${head}\n`);
        git(dir, "commit", "-qam", "promoted");
        const ok = await verify(dir);
        expect(ok.status, ok.stderr).toBe(0);
        expect(ok.stdout).toContain(`prod is to run exactly what staging verified at 2026-12-03T08:00:00Z: its images and its commit ${head.slice(0, 12)}`);
        // A commit merged after staging verified: its code reaches prod unverified.
        fs.writeFileSync(path.join(dir, "code.ts"), "export const x = 2;\n");
        git(dir, "commit", "-qam", "not verified");
        const later = await verify(dir);
        expect(later.status).toBe(1);
        expect(later.stderr).toMatch(/promote: refused: the code differs from the commit promoted to prod .* in code\.ts: it has not soaked/);
        // A rollback id does not let that code through: a rollback runs the code prod verified last.
        fs.appendFileSync(path.join(dir, "Pulumi.prod.yaml"), "    rollbackId: rollback-2026-12-03T09:00:00.000Z\n");
        const sneaked = await verify(dir);
        expect(sneaked.status).toBe(1);
        expect(sneaked.stderr).toMatch(/a rollback puts images back on the code prod verified last .* differs from it in code\.ts: revert those commits on main too/);
        // With the code reverted, the rollback deploys.
        fs.writeFileSync(path.join(dir, "code.ts"), "export const x = 1;\n");
        git(dir, "commit", "-qam", "revert");
        const back = await verify(dir);
        expect(back.status, back.stderr).toBe(0);
        expect(back.stdout).toContain("a rollback (rollback-2026-12-03T09:00:00.000Z) on the code prod verified last");
    }, 60_000);
});

describe("the workflows hold prod to it", () => {
    const workflow = (f: string) => parse(fs.readFileSync(path.join(ROOT, ".github", "workflows", f), "utf8"));
    it("record the commit they deploy, and prod checks it against staging's before its update", () => {
        for (const f of ["deploy-staging.yml", "deploy-prod.yml"]) expect(workflow(f).jobs.deploy.env[DEPLOY_COMMIT_ENV], f).toBe("${{ github.sha }}");
        const steps = workflow("deploy-prod.yml").jobs.deploy.steps as { run?: string; uses?: string; with?: Record<string, unknown> }[];
        const check = steps.findIndex((s) => s.run?.includes("npm run -s promote -- --verify-deploy"));
        const up = steps.findIndex((s) => s.uses?.startsWith("pulumi/actions") && s.with?.command === "up");
        expect(check).toBeGreaterThan(0);
        expect(check).toBeLessThan(up);
        expect(steps[0].with?.["fetch-depth"]).toBe(0);
        expect((workflow("promote-prod.yml").jobs.promote.steps as { with?: Record<string, unknown> }[])[0].with?.["fetch-depth"]).toBe(0);
    });
});

describe("a rollback is a deploy like any other", () => {
    afterEach(() => {
        delete process.env[DEPLOY_COMMIT_ENV];
    });

    it("runs the full checklist, also back to the release prod verified last, and records its id and commit", async () => {
        const images = { api: "a" };
        const prev = { release: images, images, containers: "c", verifiedAt: "2026-12-01T00:00:00Z" };
        expect(deployKind(prev, images, "c")).toBe("none");
        expect(deployKind(prev, images, "c", "rollback-1")).toBe("release");
        expect(deployKind({ ...prev, rollbackId: "rollback-1" }, images, "c", "rollback-1")).toBe("none");
        // New code alone (a host script, an alarm) is verified and recorded: the stack's commit never goes stale.
        expect(deployKind({ ...prev, commit: "a" }, images, "c", undefined, "b")).toBe("config");
        expect(deployKind({ ...prev, commit: "a" }, images, "c", undefined, "a")).toBe("none");
        process.env[DEPLOY_COMMIT_ENV] = COMMIT;
        const plan = await planStack("prod", ["deploy.rollbackId=rollback-2026-12-03T09:00:00.000Z"]);
        expect((plan.outputs.deploy as { kind: string }).kind).toBe("release");
        expect(plan.outputs.verifiedRelease).toMatchObject({ commit: COMMIT, rollbackId: "rollback-2026-12-03T09:00:00.000Z" });
        // The older app reads the stores' newer schema (promotion checked): its migration is not run against it.
        expect((plan.outputs.deploy as { steps: string[] }).steps).toEqual(["page-on", "backup", "verify", "page-off"]);
        expect(plan.resources.filter((r) => /migrat/.test(r.name))).toEqual([]);
    }, 60_000);

    it("keeps prod's own history of verified releases, newest first, each with its schema and pre-deploy backup", () => {
        const rec = (n: number) => ({ release: { api: `a${n}` }, images: { api: `a${n}` }, verifiedAt: `2026-12-0${n}T00:00:00Z`, commit: `${n}`.repeat(40), schema: { version: n, oldestCompatible: n }, preDeployBackup: `b${n}` });
        // Outputs of an older version: their last release starts the history.
        expect(nextHistory(rec(2), { ...rec(1), containers: "c", rollbackId: "r" })).toEqual([rec(2), rec(1)]);
        expect(nextHistory(rec(3), { ...rec(2), history: [rec(2), rec(1)] })).toEqual([rec(3), rec(2), rec(1)]);
        expect(nextHistory(rec(1), undefined)).toEqual([rec(1)]);
        const long = Array.from({ length: HISTORY_LENGTH }, (_, i) => rec((i % 9) + 1));
        expect(nextHistory(rec(9), { ...rec(1), history: long })).toHaveLength(HISTORY_LENGTH);
    });

    it("is written by promote --rollback as a new deploy.rollbackId, and nothing else but the release", () => {
        const r = promote(prodYaml, stagingWith(prodImages), releaseServiceNames, {}, "rollback-2026-12-03T09:00:00.000Z");
        expect(parse(r.text).config["sofia:deploy"].rollbackId).toBe("rollback-2026-12-03T09:00:00.000Z");
    });
});
