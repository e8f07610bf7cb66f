/**
 * host/sofia-app-files.sh for real on this machine's file system, with TEST DOUBLES of mount,
 * umount, mountpoint and mount.efs (drill/doubles/efs: no NFS server here, and a test must not
 * mount). The "file system" is a directory the doubles call mounted.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { beforeEach, describe, expect, it } from "vitest";
import { runAsync, mountPointOf } from "../drill/run";
import { sofiaCatalog } from "../model/catalog";
import { appFilesHostFiles, APP_FILES_OWNER } from "../topology/ecs/files";
import { hostEnv } from "../topology/host/layout";
import { sofiaHostLayout } from "../topology/host/services-files";

const ROOT = path.join(__dirname, "..");
const SCRIPT = path.join(ROOT, "host", "sofia-app-files.sh");
const DOUBLES = path.join(ROOT, "drill", "doubles", "efs");
const FS_ID = "fs-0123456789abcdef0";

/** The stack's own app-files.env for a file system, as the host gets it. */
async function stackConfig(dataPath: string, fileSystemId = FS_ID): Promise<string> {
    const file = appFilesHostFiles(sofiaCatalog("questdb"), fileSystemId, dataPath).files.find((f) => f.path.endsWith("app-files.env"))!;
    return new Promise((resolve) => pulumi.output(file.content).apply((c) => resolve(c as string)));
}

describe("sofia-app-files: the ECS topology's shared files on the store host", () => {
    let dir: string;
    let data: string;
    let mnt: string;
    let env: NodeJS.ProcessEnv;
    const models = () => path.join(data, "docker", "volumes", "sofia-models", "_data");
    const run = (cmd: string, extra: Record<string, string> = {}) => runAsync("bash", [SCRIPT, cmd], { ...env, ...extra });
    const owner = (p: string) => `${fs.statSync(p).uid}:${fs.statSync(p).gid}`;
    const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8).padStart(4, "0");

    beforeEach(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "app-files-"));
        data = path.join(dir, "data");
        mnt = path.join(dir, "efs");
        fs.mkdirSync(models(), { recursive: true });
        fs.writeFileSync(path.join(models(), "model.bin"), "weights");
        fs.mkdirSync(path.join(models(), "sub"));
        fs.writeFileSync(path.join(models(), "sub", "config.json"), "{}");
        fs.symlinkSync("model.bin", path.join(models(), "latest"));
        fs.writeFileSync(path.join(dir, "fstab"), "UUID=abc / xfs defaults 0 0\n# a comment\n");
        fs.writeFileSync(path.join(dir, "app-files.env"), await stackConfig(data));
        fs.writeFileSync(
            path.join(dir, "host.env"),
            hostEnv({ ...sofiaHostLayout(data), SOFIA_DATA_MOUNT: mountPointOf(dir), SOFIA_OPS_LOCK: path.join(dir, "ops.lock"), SOFIA_STATE_DIR: path.join(dir, "state"), SOFIA_APP_FILES_CONFIG: path.join(dir, "app-files.env"), SOFIA_OPS_LIB: path.join(ROOT, "host", "sofia-ops.sh") }),
        );
        env = { ...process.env, PATH: `${DOUBLES}:${process.env.PATH}`, SOFIA_HOST_ENV: path.join(dir, "host.env"), SOFIA_FSTAB: path.join(dir, "fstab"), EFS_MOUNTED: path.join(dir, "mounted"), EFS_LOG: path.join(dir, "efs.log"), FILES_MOUNT: mnt, FILES_MOUNT_TRIES: "2", FILES_MOUNT_WAIT: "0" };
    });

    it("mount: one fstab line for the file system (TLS), mounted, each volume's directory as the tasks' access point makes it; a second run changes nothing", async () => {
        const r = await run("mount");
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        const fstab = fs.readFileSync(path.join(dir, "fstab"), "utf8");
        expect(fstab).toBe(`UUID=abc / xfs defaults 0 0\n# a comment\n${FS_ID}:/ ${mnt} efs _netdev,noresvport,tls 0 0\n`);
        for (const v of ["models", "ui-extensions"]) {
            expect(owner(path.join(mnt, v))).toBe(`${APP_FILES_OWNER.uid}:${APP_FILES_OWNER.gid}`);
            expect(mode(path.join(mnt, v))).toBe(APP_FILES_OWNER.mode);
        }
        const again = await run("mount");
        expect(again.status).toBe(0);
        expect(fs.readFileSync(path.join(dir, "fstab"), "utf8")).toBe(fstab);
        // Mounted once: the second run found it mounted.
        expect(fs.readFileSync(path.join(dir, "efs.log"), "utf8").match(/^mount /gm)).toHaveLength(1);
    });

    it("mount: a replaced file system takes the mount point's fstab line and the mount from the old one", async () => {
        expect((await run("mount")).status).toBe(0);
        fs.writeFileSync(path.join(dir, "app-files.env"), await stackConfig(data, "fs-00000000000000001"));
        const r = await run("mount");
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toContain(`${mnt} holds ${FS_ID}; unmounting it for fs-00000000000000001`);
        const lines = fs.readFileSync(path.join(dir, "fstab"), "utf8").split("\n").filter((l) => l.includes(mnt));
        expect(lines).toEqual([`fs-00000000000000001:/ ${mnt} efs _netdev,noresvport,tls 0 0`]);
        expect(fs.readFileSync(path.join(dir, "efs.log"), "utf8")).toMatch(/^umount /m);
    });

    it("mount that fails (no mount target answers) says what to check, and makes no volume directory on the bare mount point", async () => {
        const r = await run("mount", { EFS_MOUNT_FAIL: "1" });
        expect(r.status).toBe(1);
        expect(r.stdout).toContain("mount: not yet (try 1); trying again in 0s");
        expect(r.stderr).toContain(`could not mount ${FS_ID} at ${mnt} (above): its mount targets must be available, one in this host's zone, and allow NFS (2049) from this host's security group`);
        expect(fs.readdirSync(mnt)).toEqual([]);
        // A backup of the bare directory must fail, not take it for the data: nothing there to take.
        const move = await run("move");
        expect(move.status).toBe(1);
        expect(move.stderr).toContain(`${mnt} is not mounted`);
    });

    it("move: the host's volume, file for file (links kept), owned as the tasks work on it; once: a second run leaves what the tasks wrote since", async () => {
        expect((await run("mount")).status).toBe(0);
        const r = await run("move");
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("move: ui-extensions: no ");
        const target = path.join(mnt, "models");
        expect(spawnSync("diff", ["-r", "--no-dereference", models(), target]).status).toBe(0);
        expect(fs.readlinkSync(path.join(target, "latest"))).toBe("model.bin");
        expect(owner(path.join(target, "sub", "config.json"))).toBe(`${APP_FILES_OWNER.uid}:${APP_FILES_OWNER.gid}`);
        expect(mode(target)).toBe(APP_FILES_OWNER.mode);
        // The host's copy is only read.
        expect(owner(path.join(models(), "model.bin"))).toBe(`${process.getuid!()}:${process.getgid!()}`);
        fs.writeFileSync(path.join(target, "model.bin"), "retrained on ECS");
        fs.writeFileSync(path.join(models(), "model.bin"), "stale host copy");
        const again = await run("move");
        expect(again.status).toBe(0);
        expect(again.stdout).toMatch(/move: done before \(.*\); the file system holds what the tasks wrote since: nothing to do/);
        expect(fs.readFileSync(path.join(target, "model.bin"), "utf8")).toBe("retrained on ECS");
    });

    it("move on a stack already on ECS (its cache moved before this step existed): nothing carried over what the tasks wrote, and recorded", async () => {
        expect((await run("mount")).status).toBe(0);
        fs.writeFileSync(path.join(mnt, "models", "model.bin"), "trained on ECS");
        fs.mkdirSync(path.join(dir, "state"), { recursive: true });
        fs.writeFileSync(path.join(dir, "state", "cache-moved"), "2026-11-01T00:00:00Z into the cache\n");
        const r = await run("move");
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toContain("the host's volumes are older than the file system's; nothing is carried");
        expect(fs.readFileSync(path.join(mnt, "models", "model.bin"), "utf8")).toBe("trained on ECS");
        expect(fs.readFileSync(path.join(mnt, ".sofia-app-files-moved"), "utf8")).toContain("the stack had moved before; nothing carried");
    });

    it("move finds a volume already holding files it did not copy (a new instance, its record lost): left as it is; the others carried", async () => {
        expect((await run("mount")).status).toBe(0);
        fs.writeFileSync(path.join(mnt, "models", "model.bin"), "trained on ECS");
        const ext = path.join(data, "docker", "volumes", "sofia-ui-extensions", "_data");
        fs.mkdirSync(ext, { recursive: true });
        fs.writeFileSync(path.join(ext, "theme.json"), "{}");
        const r = await run("move");
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toContain(`move: models: ${path.join(mnt, "models")} holds files already (written on ECS): left as it is, nothing carried`);
        expect(fs.readFileSync(path.join(mnt, "models", "model.bin"), "utf8")).toBe("trained on ECS");
        expect(fs.readFileSync(path.join(mnt, "ui-extensions", "theme.json"), "utf8")).toBe("{}");
    });

    it("move refuses a volume holding a socket, fifo or device (no copy carries one), naming it, before copying anything", async () => {
        expect((await run("mount")).status).toBe(0);
        spawnSync("mkfifo", [path.join(models(), "pipe")]);
        const r = await run("move");
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`${path.join(models(), "pipe")}, a socket, fifo or device, which a copy cannot carry`);
        expect(fs.readdirSync(path.join(mnt, "models"))).toEqual([]);
    });

    it("move killed (SIGKILL) in the middle of the copy: the host's volume untouched, nothing recorded; the next run carries it whole", async () => {
        for (let i = 0; i < 400; i++) fs.writeFileSync(path.join(models(), `part-${i}.bin`), Buffer.alloc(256 * 1024, i));
        expect((await run("mount")).status).toBe(0);
        const before = spawnSync("sh", ["-c", `cd '${models()}' && find . -type f -exec sha256sum {} + | sort`], { encoding: "utf8" }).stdout;
        const child = spawn("bash", [SCRIPT, "move"], { env });
        await new Promise<void>((resolve) => child.stdout.on("data", (d) => String(d).includes("copying") && resolve()));
        spawnSync("pkill", ["-KILL", "-f", `cp -a ${models()}`]);
        child.kill("SIGKILL");
        await new Promise((r) => child.on("close", r));
        expect(fs.existsSync(path.join(mnt, ".sofia-app-files-moved"))).toBe(false);
        expect(spawnSync("sh", ["-c", `cd '${models()}' && find . -type f -exec sha256sum {} + | sort`], { encoding: "utf8" }).stdout).toBe(before);
        const again = await run("move");
        expect(again.status, again.stderr).toBe(0);
        expect(spawnSync("diff", ["-r", "--no-dereference", models(), path.join(mnt, "models")]).status).toBe(0);
        expect(fs.existsSync(path.join(mnt, ".sofia-move-models"))).toBe(false);
    });

    it("refuses a configuration whose volume names could leave the mount point, naming the entry", async () => {
        const r = await run("mount", { FILES_VOLUMES: `../etc=${models()}` });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`FILES_VOLUMES entry '../etc=${models()}' is not <name>=<absolute host path>`);
        expect(fs.existsSync(path.join(dir, "mounted"))).toBe(false);
    });
});
