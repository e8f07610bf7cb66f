import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { releaseServiceNames } from "../model/catalog";
import { checkRollback, promote, StagingOutputs } from "../release/promote";
import { runAsync } from "../drill/run";

const ROOT = path.join(__dirname, "..");
const prodYaml = fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8");
const digest = (c: string) => `sha256:${c.repeat(64)}`;

/** A verified release of new images (one digest letter per build). */
function verified(letter = "b", at: string | null = "2026-11-30T08:00:00Z"): StagingOutputs {
    const release = Object.fromEntries(releaseServiceNames.map((n) => [n, `ghcr.io/sofia-v2/${n}:2026.12.1@${digest(letter)}`]));
    return { release, verifiedRelease: { release, verifiedAt: at } };
}

describe("promotion", () => {
    it("moves exactly the verified release into the prod file, keeping comments and order", () => {
        const r = promote(prodYaml, verified(), releaseServiceNames);
        expect(r.changes.map((c) => c.service).sort()).toEqual([...releaseServiceNames].sort());
        const after = parse(r.text);
        expect(after.config["sofia:images"].api).toBe(`ghcr.io/sofia-v2/api:2026.12.1@${digest("b")}`);
        // Everything else is as it was, comments included, in the same order.
        const lines = (t: string) => t.split("\n").filter((l) => !/^\s{4}[a-z-]+: ghcr\.io\//.test(l));
        expect(lines(r.text)).toEqual(lines(prodYaml));
        expect(r.text).toContain("# The release: written by `npm run promote`, never by hand.");
    });

    it("changes nothing when prod already runs the verified release", () => {
        const once = promote(prodYaml, verified(), releaseServiceNames);
        const twice = promote(once.text, verified(), releaseServiceNames);
        expect(twice.changes).toEqual([]);
        expect(twice.text).toBe(once.text);
    });

    it("refuses an unverified release", () => {
        expect(() => promote(prodYaml, verified("b", null), releaseServiceNames)).toThrow(/staging's release is not verified/);
        expect(() => promote(prodYaml, { release: verified().release }, releaseServiceNames)).toThrow(/not verified/);
    });

    it("refuses when staging runs something other than what it verified", () => {
        const o = verified();
        expect(() => promote(prodYaml, { ...o, release: { ...o.release, api: `ghcr.io/sofia-v2/api:x@${digest("c")}` } }, releaseServiceNames)).toThrow(/current release is not the one it verified/);
    });

    it("refuses a release that is not exactly the catalog's apps, or not pinned by digest", () => {
        const o = verified();
        const extra = { ...o.verifiedRelease!.release, redis: "redis:8@" + digest("d") };
        expect(() => promote(prodYaml, { verifiedRelease: { release: extra, verifiedAt: "t" } }, releaseServiceNames)).toThrow(/a release is exactly/);
        const tagOnly = { ...o.verifiedRelease!.release, ui: "ghcr.io/sofia-v2/ui:2026.12.1" };
        expect(() => promote(prodYaml, { verifiedRelease: { release: tagOnly, verifiedAt: "t" } }, releaseServiceNames)).toThrow(/not pinned: ui/);
    });

    it("lets a rollback go back only: earlier than what prod verified, from a prod that verified something", () => {
        const prod = { verifiedRelease: { ...verified("a").verifiedRelease!, verifiedAt: "2026-12-01T09:00:00Z" } };
        expect(() => checkRollback(verified("b", "2026-11-30T08:00:00Z"), prod)).not.toThrow();
        expect(() => checkRollback(verified("b", "2026-12-01T09:00:00Z"), prod)).toThrow(/would move prod forward/);
        // Back to the very release prod verified last (after a failed deploy of a newer one) is back.
        expect(() => checkRollback({ verifiedRelease: prod.verifiedRelease }, prod)).not.toThrow();
        expect(() => checkRollback(verified("b", "2026-11-30T08:00:00Z"), {})).toThrow(/nothing to roll back from/);
        expect(() => checkRollback(verified("b", "yesterday"), prod)).toThrow(/not ISO 8601/);
    });

    describe("with prod's own history of verified releases", () => {
        /** A release prod verified: its images (one digest letter), commit, time, schema and pre-deploy backup. */
        const record = (letter: string, at: string, schema?: { version: number; oldestCompatible: number }, preDeployBackup?: string) => {
            const release = verified(letter, at).verifiedRelease!.release;
            return { release, images: release, commit: letter.repeat(40), verifiedAt: at, ...(schema ? { schema } : {}), ...(preDeployBackup ? { preDeployBackup } : {}) };
        };
        const a = record("a", "2026-11-20T08:00:00Z", { version: 3, oldestCompatible: 3 }, "20261120T075000Z");
        const b = record("b", "2026-11-25T08:00:00Z", { version: 4, oldestCompatible: 3 }, "20261125T075000Z");
        const c = record("c", "2026-12-01T08:00:00Z", { version: 5, oldestCompatible: 4 }, "20261201T075000Z");
        const prod = { verifiedRelease: { ...c, history: [c, b, a] } };
        const target = (r: typeof a) => ({ verifiedRelease: r });

        it("goes back to a release prod verified whose app reads the stores' schema", () => {
            expect(() => checkRollback(target(b), prod)).not.toThrow();
            expect(() => checkRollback(target(c), prod)).not.toThrow();
        });

        it("refuses a release prod never verified, even one verified earlier in staging, naming prod's history", () => {
            const stagingOnly = record("d", "2026-11-28T08:00:00Z", { version: 5, oldestCompatible: 4 });
            expect(() => checkRollback(target(stagingOnly), prod)).toThrow(/goes back only to a release prod itself verified; the one verified at 2026-11-28T08:00:00Z is not in prod's history \(2026-12-01T08:00:00Z \(cccccccccccc\), 2026-11-25T08:00:00Z/);
            // The same images from another commit are another release.
            expect(() => checkRollback(target({ ...b, commit: "e".repeat(40) }), prod)).toThrow(/is not in prod's history/);
        });

        it("refuses an app that cannot read the stores' schema, offering the backup from before the migration that left it behind", () => {
            expect(() => checkRollback(target(a), prod)).toThrow(
                /--rollback refused: the release verified at 2026-11-20T08:00:00Z is built for schema 3, older than the stores' schema 5 \(readable by apps of schema 4 and newer\)\. The way back is the data from before that deploy \(2026-12-01T08:00:00Z\): its pre-deploy backup, pulumi config set --path restore\.from 20261201T075000Z and restore\.confirm prod/,
            );
            // A release recorded without a schema cannot be known to read it.
            const old = { ...a, schema: undefined };
            expect(() => checkRollback(target(old), { verifiedRelease: { ...c, history: [c, b, old] } })).toThrow(/prod recorded no schema for the release verified at 2026-11-20T08:00:00Z, so it cannot be known to read the stores' schema 5/);
        });

        it("carries staging's schema contract into prod with the release; a rollback leaves prod's", () => {
            const staged = verified("f");
            const withSchema = { ...staged, verifiedRelease: { ...staged.verifiedRelease!, schema: { version: 6, oldestCompatible: 5 } } };
            const r = promote(prodYaml, withSchema, releaseServiceNames);
            expect(parse(r.text).config["sofia:deploy"].schema).toEqual({ version: 6, oldestCompatible: 5 });
            expect(r.changes.find((x) => x.service === "(schema)")).toMatchObject({ to: JSON.stringify({ version: 6, oldestCompatible: 5 }) });
            expect(parse(promote(prodYaml, withSchema, releaseServiceNames, {}, "rollback-x").text).config["sofia:deploy"].schema).toBeUndefined();
        });
    });

    it("refuses a prod file with no release to promote into", () => {
        expect(() => promote("config:\n  aws:region: eu-central-1\n", verified(), releaseServiceNames)).toThrow(/has no config\.sofia:images/);
    });
});

describe("npm run promote (the command, in a scratch git repository)", () => {
    let dir: string;
    // The file handling, with no soak asked (--rollback): the soak is test/soak.test.ts's subject,
    // against moto's CloudWatch.
    // Prod verified its release after the targets below were verified in staging: they are earlier.
    const run = (args: string[]) => runAsync("node", [path.join(ROOT, "scripts", "run-ts.js"), "scripts/promote.ts", "--rollback", "--prod-outputs", path.join(dir, "prod-outputs.json"), ...args]);
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "promote-"));
        fs.copyFileSync(path.join(ROOT, "Pulumi.prod.yaml"), path.join(dir, "Pulumi.prod.yaml"));
        fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(verified()));
        fs.writeFileSync(path.join(dir, "prod-outputs.json"), JSON.stringify({ verifiedRelease: { ...verified("a").verifiedRelease, verifiedAt: "2026-12-01T09:00:00Z" } }));
        const git = (...a: string[]) => execFileSync("git", a, { cwd: dir });
        git("init", "-q");
        git("-c", "user.name=t", "-c", "user.email=t@t", "add", "Pulumi.prod.yaml");
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "prod");
    });

    it("--check prints the change and writes nothing", async () => {
        const before = fs.readFileSync(path.join(dir, "Pulumi.prod.yaml"), "utf8");
        const r = await run(["--check", "--from-file", path.join(dir, "outputs.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/api: ghcr\.io\/sofia-v2\/api:2026\.11\.3@sha256:df4f[0-9a-f]+\n  -> ghcr\.io\/sofia-v2\/api:2026\.12\.1@sha256:b{64}/);
        expect(r.stdout).toContain("8 image(s) would change in Pulumi.prod.yaml (verified in staging at 2026-11-30T08:00:00Z); --check wrote nothing");
        expect(fs.readFileSync(path.join(dir, "Pulumi.prod.yaml"), "utf8")).toBe(before);
    });

    it("writes the promotion, and refuses local edits it would overwrite", async () => {
        const ok = await run(["--from-file", path.join(dir, "outputs.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")]);
        expect(ok.status).toBe(0);
        expect(parse(fs.readFileSync(path.join(dir, "Pulumi.prod.yaml"), "utf8")).config["sofia:images"].ui).toBe(`ghcr.io/sofia-v2/ui:2026.12.1@${digest("b")}`);
        // The promoted file is now an uncommitted edit: a second promotion must not overwrite it.
        const again = await run(["--from-file", path.join(dir, "outputs.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")]);
        expect(again.status).toBe(1);
        expect(again.stderr).toMatch(/promote: refused: .*Pulumi\.prod\.yaml has local edits that promotion would overwrite/);
    });

    it("refuses an unverified release with exit 1 and says what to do", async () => {
        fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(verified("b", null)));
        const r = await run(["--from-file", path.join(dir, "outputs.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")]);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("promote: refused: the rollback target is not a verified release");
    });

    it("refuses a --rollback that would move prod forward (a release verified after prod's), and one without prod's outputs", async () => {
        const before = fs.readFileSync(path.join(dir, "Pulumi.prod.yaml"), "utf8");
        fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(verified("c", "2026-12-01T09:00:05Z")));
        const forward = await run(["--from-file", path.join(dir, "outputs.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")]);
        expect(forward.status).toBe(1);
        expect(forward.stderr).toContain("promote: refused: --rollback to the release verified at 2026-12-01T09:00:05Z would move prod forward: prod runs the release it verified at 2026-12-01T09:00:00Z");
        const blind = await runAsync("node", [path.join(ROOT, "scripts", "run-ts.js"), "scripts/promote.ts", "--rollback", "--from-file", path.join(dir, "outputs.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")]);
        expect(blind.status).toBe(1);
        expect(blind.stderr).toContain("--rollback needs --prod-outputs <file>");
        expect(fs.readFileSync(path.join(dir, "Pulumi.prod.yaml"), "utf8")).toBe(before);
    });
});
