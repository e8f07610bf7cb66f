import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { KEEP_LAST_OUTPUT } from "../components/host-command";
import { parseRestoreSummary } from "../topology/host/backups";
import { installedFiles, ofType, planStack } from "./helpers/plan";

const restoreRun = (plan: Awaited<ReturnType<typeof planStack>>) => ofType(plan, "command:local:Command").find((c) => c.name === "sofia-restore-run");

describe("restore as a stack update", () => {
    it("declares no restore step unless restore.from is set", async () => {
        expect(restoreRun(await planStack("staging"))).toBeUndefined();
    });

    it("runs sofia-restore on the host once every container is up, once per backup id", async () => {
        const plan = await planStack("staging", ["restore.from=20261130T010000Z"]);
        const run = restoreRun(plan)!;
        expect(run.inputs.create).toMatch(/\.\/scripts\/ssm-run\.sh i-[0-9a-f]+ eu-central-1 \/usr\/local\/sbin\/sofia-restore 20261130T010000Z$/);
        expect(run.inputs.triggers).toEqual(["20261130T010000Z"]);
        const after = run.dependsOn.map((u) => u.split("::").pop());
        expect(after).toContain("sofia-services-redis-container");
        expect(after).toContain("sofia-services-ui-container");
        expect(after).toContain("sofia-host-files-backups-association");
        expect((run.inputs.environment as Record<string, string>).SSM_RUN_TIMEOUT).toBe("3600");
        expect(plan.outputs.lastRestore).toEqual({ id: "20261130T010000Z", result: "pending" });
        const other = restoreRun(await planStack("staging", ["restore.from=latest"]))!;
        expect(other.inputs.triggers).toEqual(["latest"]);
        // With a release in the same update: after its checklist, so it restores into the verified release.
        const withRelease = restoreRun(await planStack("staging", ["restore.from=latest", `images.ui=ghcr.io/sofia-v2/ui:2026.12.1@sha256:${"1".repeat(64)}`]))!;
        expect(withRelease.dependsOn.map((u) => u.split("::").pop())).toContain("sofia-deploy-page-off-run");
    });

    it("runs again only for a new id: a replaced host, a changed script or anything else updates without running", async () => {
        const run = restoreRun(await planStack("staging", ["restore.from=20261130T010000Z"]))!;
        // The engine replaces the command (and so runs it) only when a trigger changes; every other
        // input change is an update, and the update command runs nothing but keeps the summary.
        expect(run.options.replaceOnChanges).toContain("triggers");
        expect(run.inputs.update).toBe(KEEP_LAST_OUTPUT);
        const summary = '{"restore":{"id":"20261130T010000Z","result":"ok"}}';
        const kept = spawnSync("sh", ["-c", KEEP_LAST_OUTPUT], { env: { PATH: process.env.PATH, PULUMI_COMMAND_STDOUT: `restored\n${summary}` }, encoding: "utf8" });
        expect(kept.stdout).toBe(`restored\n${summary}`);
        expect(parseRestoreSummary(kept.stdout)?.result).toBe("ok");
        // A new host keeps the triggers: a different zone's subnet gives another instance, same id.
        const moved = restoreRun(await planStack("staging", ["restore.from=20261130T010000Z", "instanceType=m6i.large"]))!;
        expect(moved.inputs.triggers).toEqual(run.inputs.triggers);
    });

    it("waits on the host for the scripts this update installs before it restores", async () => {
        const plan = await planStack("staging", ["restore.from=20261130T010000Z"]);
        const env = restoreRun(plan)!.inputs.environment as Record<string, string>;
        const wanted = Object.fromEntries(env.SSM_RUN_REQUIRE.split(" ").map((p) => p.split("=")));
        expect(Object.keys(wanted).sort()).toEqual(["backups", "capacity", "certificate", "diagnostics", "grafana", "maintenance", "monitoring", "services"].map((p) => `/etc/sofia/host-files.d/${p}.sha256`));
        // The deploy key is the Host's own part, for the Docker provider: the restore needs the others.
        for (const doc of ofType(plan, "aws:ssm/document:Document").filter((d) => d.name.startsWith("sofia-host-files-") && !d.name.includes("deploy-key"))) {
            const part = doc.name.replace(/^sofia-host-files-|-document$/g, "");
            expect(JSON.parse(doc.inputs.content as string).description).toContain(`(digest ${wanted[`/etc/sofia/host-files.d/${part}.sha256`].slice(0, 12)})`);
        }
    });

    it("installs sofia-restore on the host", async () => {
        const plan = await planStack("staging");
        expect(installedFiles(plan).map(({ path, mode }) => ({ path, mode }))).toContainEqual({ path: "/usr/local/sbin/sofia-restore", mode: "0755" });
    });

    it("refuses to restore prod unless restore.confirm names it", async () => {
        await expect(planStack("prod", ["restore.from=latest"])).rejects.toThrow(/sofia:restore\.confirm: missing; restoring into prod replaces its live data/);
        await expect(planStack("prod", ["restore.from=latest", "restore.confirm=staging"])).rejects.toThrow(/sofia:restore\.confirm: "staging" is not allowed: it must name this stack, "prod"/);
        const confirmed = await planStack("prod", ["restore.from=latest", "restore.confirm=prod"]);
        expect(restoreRun(confirmed)).toBeDefined();
    });

    it("refuses a malformed backup id", async () => {
        await expect(planStack("staging", ["restore.from=../etc"])).rejects.toThrow(/sofia:restore\.from: "\.\.\/etc" is not allowed: expected a backup id/);
    });

    it("reads the restore's summary line into the lastRestore output", () => {
        const out = 'log line\n{"restore":{"id":"a","started":"s","ended":"e","seconds":12,"result":"ok"}}\n';
        expect(parseRestoreSummary(out)).toEqual({ id: "a", started: "s", ended: "e", seconds: 12, result: "ok" });
        expect(parseRestoreSummary("no summary here")).toBeUndefined();
        expect(parseRestoreSummary(undefined)).toBeUndefined();
    });
});

describe("a backup's manifest is checked before a restore uses any of its values (sofia-backup-lib.sh manifest_shaped)", () => {
    const LIB = path.join(__dirname, "..", "host", "sofia-backup-lib.sh");
    const sha = "a".repeat(64);
    // As sofia-backup writes one (format 2).
    const good = {
        format: 2, backup_id: "20261201T010000Z", kind: "full", items: ["redis", "questdb", "models"],
        files: [{ path: "redis.rdb", item: "redis", size: 1234, sha256: sha, stored_digest: "x", part_mib: 16 }, { path: "questdb.tar", item: "questdb", size: 0, sha256: sha }],
        stores: { redis: { dbsize: 10, expires: 2, sample: [{ key: "quote:1", type: "string" }], tool: "redis-cli 7.0.15" }, questdb: { checkpoint: true, tables: ["ticks"] } },
        release: {}, tools: {},
    };
    const shaped = (manifest: unknown, dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-manifest-"))) => {
        const file = path.join(dir, "manifest.json");
        fs.writeFileSync(file, typeof manifest === "string" ? manifest : JSON.stringify(manifest));
        // The lib needs to know where the backup configuration is, not to read it, for this check.
        const env = { ...process.env, SOFIA_BACKUP_ENV: path.join(dir, "backup.env"), SOFIA_BACKUP_ITEMS: path.join(dir, "backup.tsv") };
        return spawnSync("bash", ["-c", 'source "$1"; manifest_shaped "$2"', "_", LIB, file], { env, encoding: "utf8" }).status === 0;
    };
    const hostile: Record<string, (m: any, ran: string) => void> = {
        "format as an array subscript with a command": (m, ran) => (m.format = `BASH_VERSINFO[$(touch ${ran})]`),
        "a size that is arithmetic with a command": (m, ran) => (m.files[0].size = `0 + $(touch ${ran})`),
        "a negative size": (m) => (m.files[0].size = -1),
        "a fractional size": (m) => (m.files[0].size = 1.5),
        "an object path climbing out of staging": (m) => (m.files[0].path = "../../etc/cron.d/x"),
        "an object path with a newline": (m) => (m.files[0].path = "redis.rdb\nquestdb.tar"),
        "a digest that is not hex": (m) => (m.files[0].sha256 = "$(reboot)"),
        "an item name with a command": (m, ran) => (m.items = [...m.items, `redis;touch ${ran}`]),
        "a sampled key with a space (split into a key and a type)": (m) => (m.stores.redis.sample = [{ key: "a b", type: "string" }]),
        "a sampled type with a command": (m) => (m.stores.redis.sample = [{ key: "k", type: "string$(id)" }]),
        "a key count that is not a number": (m) => (m.stores.redis.dbsize = "1; touch x"),
        "files that are not a list": (m) => (m.files = { path: "redis.rdb" }),
    };

    it("passes a manifest as sofia-backup writes it", () => {
        expect(shaped(good)).toBe(true);
        expect(shaped({ ...good, format: undefined })).toBe(true); // format 1 wrote none
    });

    for (const [what, edit] of Object.entries(hostile)) {
        it(`refuses ${what}, running nothing`, () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-manifest-"));
            const m = structuredClone(good);
            edit(m, path.join(dir, "ran"));
            expect(shaped(m, dir)).toBe(false);
            expect(fs.existsSync(path.join(dir, "ran"))).toBe(false);
        });
    }

    it("refuses what is not JSON", () => {
        expect(shaped("format=2")).toBe(false);
    });
});
