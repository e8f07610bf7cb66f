import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { releaseServiceNames } from "../services/catalog";
import { checkRollback, promote, StagingOutputs } from "../services/promote";
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
