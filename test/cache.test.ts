/**
 * host/sofia-cache.sh for real: the drill's world (a real redis-server as the host's Redis,
 * moto_server for S3 and Secrets Manager) and a second redis-server standing in for ElastiCache
 * (a TEST DOUBLE of it: plain TCP where ElastiCache speaks TLS, CACHE_TLS=no).
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DrillEnv } from "../drill/env";
import { freePort } from "../drill/moto";
import { shellDefaults } from "../topology/host/layout";
import { backupItems } from "../topology/host/backups";

const TOKEN = "cache-token-0123456789abcdef";

describe("sofia-cache: the host's Redis into the cache, and a backup's", () => {
    let env: DrillEnv;
    let cache: ChildProcess;
    let port: number;
    let extra: Record<string, string>;
    const cacheCli = (args: string[]) => spawnSync("redis-cli", ["-p", String(port), "--no-auth-warning", "-a", TOKEN, ...args], { encoding: "utf8" }).stdout.trim();

    beforeAll(async () => {
        env = await DrillEnv.start();
        env.loadRedis(300);
        port = await freePort();
        cache = spawn("redis-server", ["--port", String(port), "--requirepass", TOKEN, "--save", "", "--appendonly", "no", "--enable-debug-command", "local", "--dir", env.dir], { stdio: "ignore" });
        for (let i = 0; i < 100 && cacheCli(["PING"]) !== "PONG"; i++) await new Promise((r) => setTimeout(r, 50));
        const secret = env.aws(["secretsmanager", "create-secret", "--region", "eu-central-1", "--name", "sofia-drill-redis-auth", "--secret-string", TOKEN]);
        expect(secret.status, secret.stderr).toBe(0);
        const config = path.join(env.configDir, "cache.env");
        fs.writeFileSync(
            config,
            shellDefaults(config, "test", {
                CACHE_ENDPOINT: "127.0.0.1",
                CACHE_PORT: String(port),
                CACHE_TLS: "no",
                CACHE_TOKEN_SECRET: JSON.parse(secret.stdout).ARN,
                AWS_REGION_NAME: "eu-central-1",
                HOST_REDIS_CONTAINER: "sofia-redis",
                HOST_REDIS_PORT: String(env.redisPort),
                HOST_REDIS_PASSWORD_FILE: "/run/secrets/redis-password",
                SEED_REDIS_IMAGE: "redis:7.4.2",
            }),
        );
        const state = path.join(env.dir, "state");
        // The seed's Redis from PATH (no Docker engine here): an empty SEED_REDIS_IMAGE, as in the drills.
        extra = { SOFIA_CACHE_CONFIG: config, SOFIA_REDIS_COPY: path.join(__dirname, "..", "host", "sofia-redis-copy.py"), SOFIA_STATE_DIR: state, SEED_REDIS_IMAGE: "" };
    }, 120_000);
    afterAll(async () => {
        cache?.kill("SIGKILL");
        await env?.close();
    });

    it("move: every key of the host's Redis, value for value, once; a second run leaves the cache's live data alone", async () => {
        const r = await env.runHost("sofia-cache", ["move"], extra);
        expect(r.stderr.split("\n").filter((l) => l && !/keys so far/.test(l))).toEqual([]);
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("copied 300 keys");
        expect(cacheCli(["DEBUG", "DIGEST"])).toBe(env.digest());
        cacheCli(["SET", "live", "written on ECS since"]);
        const again = await env.runHost("sofia-cache", ["move"], extra);
        expect(again.status).toBe(0);
        expect(again.stdout).toMatch(/move: done before \(.* into 127\.0\.0\.1\); the cache holds live data since: nothing to do/);
        expect(cacheCli(["GET", "live"])).toBe("written on ECS since");
        // The token came from Secrets Manager: not on any command line the script ran.
        expect(fs.readFileSync(path.join(env.dir, "docker.log"), "utf8")).not.toContain(TOKEN);
    }, 120_000);

    it("move killed (SIGKILL) in the middle of the copy: the host's Redis untouched, nothing recorded; the next run carries it whole", async () => {
        const state = extra.SOFIA_STATE_DIR;
        fs.rmSync(path.join(state, "cache-moved"), { force: true });
        env.loadRedis(20000);
        const before = env.digest();
        const child = spawn("bash", [path.join(__dirname, "..", "host", "sofia-cache.sh"), "move"], { env: env.scriptEnv(extra) });
        // Killed once the copy reports progress: part of the keys are in the cache.
        await new Promise<void>((resolve) => child.stderr.on("data", (d) => String(d).includes("keys so far") && resolve()));
        spawnSync("pkill", ["-KILL", "-f", "sofia-redis-copy.py"]);
        child.kill("SIGKILL");
        await new Promise((r) => child.on("close", r));
        expect(fs.existsSync(path.join(state, "cache-moved"))).toBe(false);
        expect(env.digest()).toBe(before);
        const again = await env.runHost("sofia-cache", ["move"], extra);
        expect(again.status, again.stderr).toBe(0);
        expect(cacheCli(["DEBUG", "DIGEST"])).toBe(before);
    }, 180_000);

    it("seed: a backup's Redis replaces what the cache holds, checked against its manifest; once per backup", async () => {
        const backup = await env.runHost("sofia-backup", ["run", "--only", "redis"], { SOFIA_BACKUP_ID: "cache-1-redis" });
        expect(backup.status, backup.stderr).toBe(0);
        const atBackup = env.digest();
        env.redisCli(["SET", "after-backup", "1"]);
        cacheCli(["SET", "stale", "1"]);
        const r = await env.runHost("sofia-cache", ["seed", "cache-1-redis"], extra);
        expect(r.stderr.split("\n").filter((l) => l && !/keys so far/.test(l))).toEqual([]);
        expect(r.status).toBe(0);
        expect(cacheCli(["DEBUG", "DIGEST"])).toBe(atBackup);
        expect(cacheCli(["EXISTS", "stale"])).toBe("0");
        // Nothing of the seed's Redis is left running.
        expect(spawnSync("pgrep", ["-f", "dbfilename dump.rdb"]).status).not.toBe(0);
        cacheCli(["SET", "live", "1"]);
        const again = await env.runHost("sofia-cache", ["seed", "cache-1-redis"], extra);
        expect(again.stdout).toContain("backup cache-1-redis went into the cache before");
        expect(cacheCli(["GET", "live"])).toBe("1");
        const missing = await env.runHost("sofia-cache", ["seed", "no-such-backup"], extra);
        expect(missing.status).toBe(1);
        expect(missing.stderr).toContain("backup no-such-backup has no COMPLETE marker or manifest");
        expect((await env.runHost("sofia-cache", ["seed", "../x"], extra)).stderr).toContain("usage: sofia-cache seed <backup-id|latest>");
    }, 180_000);

    it("the cache's own backup (the ECS store host's Redis item): a live copy into a Redis on the host, snapshotted and verified as the host's Redis is; a seed from it brings the cache back", async () => {
        // The ECS stack's item list: the cache first, as the Redis item.
        const items = path.join(env.dir, "backup-ecs.tsv");
        fs.writeFileSync(items, backupItems([], env.dataPath, { cache: true }));
        const backupEnv = { ...extra, SOFIA_BACKUP_ITEMS: items, SOFIA_CACHE_BIN: path.join(__dirname, "..", "host", "sofia-cache.sh"), SOFIA_BACKUP_ID: "cache-3-redis" };
        cacheCli(["FLUSHALL"]);
        spawnSync("redis-cli", ["-p", String(port), "--no-auth-warning", "-a", TOKEN], { input: Array.from({ length: 500 }, (_, i) => `SET cache:${i} ${i}`).join("\n") + "\n" });
        cacheCli(["HSET", "position:7", "qty", "2"]);
        const atBackup = cacheCli(["DEBUG", "DIGEST"]);
        const hostRedis = env.digest();
        const r = await env.runHost("sofia-backup", ["run", "--only", "redis"], backupEnv);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toContain("redis: 501 keys in the snapshot (0 with a TTL)");
        expect(r.stdout).toMatch(/export: copying the cache \(127\.0\.0\.1:\d+, live\) into 127\.0\.0\.1:\d+/);
        // The copy's Redis is gone, the host lock free, the host's own Redis untouched.
        expect(spawnSync("pgrep", ["-f", "dbfilename dump.rdb"]).status).not.toBe(0);
        expect(fs.existsSync(path.join(extra.SOFIA_STATE_DIR, "seed-redis.pid"))).toBe(false);
        expect(env.digest()).toBe(hostRedis);
        // restore.from a Redis-only backup on ECS: nothing for the store host (no service stops); the seed puts it back.
        const stops = () => (fs.existsSync(path.join(env.dir, "docker.log")) ? fs.readFileSync(path.join(env.dir, "docker.log"), "utf8").split("\n").filter((l) => l.startsWith("stop ")).length : 0);
        const stopsBefore = stops();
        const restore = await env.runHost("sofia-restore", ["cache-3-redis"], backupEnv);
        expect(restore.status, restore.stderr).toBe(0);
        expect(restore.stdout).toContain("backup cache-3-redis holds only the cache's data, which sofia-cache seed puts back next: nothing to restore on this host");
        expect(restore.stdout.trim().split("\n").at(-1)).toMatch(/"result":"ok"/);
        expect(stops()).toBe(stopsBefore);
        cacheCli(["SET", "cache:0", "changed after the backup"]);
        // As a restore on ECS runs it: the maintenance page raised (again) before the cache is replaced.
        const seed = await env.runHost("sofia-cache", ["seed", "cache-3-redis", "--page", "30", "restore-ecs"], extra);
        expect(seed.status, seed.stderr).toBe(0);
        expect(seed.stdout).toContain("maintenance page on for at most 30 minutes (restore-ecs)");
        expect(fs.existsSync(env.pageFlag)).toBe(true);
        expect((await env.runHost("sofia-maintenance", ["page", "off", "restore-ecs"], extra)).status).toBe(0);
        expect((await env.runHost("sofia-cache", ["seed", "cache-3-redis", "--page", "soon", "x"], extra)).stderr).toContain("usage: sofia-cache seed <backup-id|latest> [--page <minutes> <owner>]");
        expect(cacheCli(["DEBUG", "DIGEST"])).toBe(atBackup);
        // The cache unreachable: the backup fails, saying so, and leaves no Redis of its own behind.
        const down = await env.runHost("sofia-backup", ["run", "--only", "redis"], { ...backupEnv, SOFIA_BACKUP_ID: "cache-4-redis", CACHE_PORT: "9" });
        expect(down.status).toBe(1);
        expect(down.stderr).toContain("redis: could not copy the cache into a Redis on this host for its backup");
        expect(spawnSync("pgrep", ["-f", "dbfilename dump.rdb"]).status).not.toBe(0);
    }, 180_000);

    it("the cache's backup killed (SIGKILL, the whole tree) while it copies the cache: the next backup stops the Redis it left, then backs up whole", async () => {
        const items = path.join(env.dir, "backup-ecs.tsv");
        fs.writeFileSync(items, backupItems([], env.dataPath, { cache: true }));
        const backupEnv = { ...extra, SOFIA_BACKUP_ITEMS: items, SOFIA_CACHE_BIN: path.join(__dirname, "..", "host", "sofia-cache.sh") };
        cacheCli(["FLUSHALL"]);
        spawnSync("redis-cli", ["-p", String(port), "--no-auth-warning", "-a", TOKEN], { input: Array.from({ length: 30000 }, (_, i) => `SET big:${i} ${i}`).join("\n") + "\n" });
        const child = spawn("bash", [path.join(__dirname, "..", "host", "sofia-backup.sh"), "run", "--only", "redis"], { env: env.scriptEnv({ ...backupEnv, SOFIA_BACKUP_ID: "cache-5-redis" }), detached: true });
        await new Promise<void>((resolve) => child.stderr.on("data", (d) => String(d).includes("keys so far") && resolve()));
        process.kill(-child.pid!, "SIGKILL");
        await new Promise((r) => child.on("close", r));
        const pid = fs.readFileSync(path.join(extra.SOFIA_STATE_DIR, "seed-redis.pid"), "utf8").trim();
        expect(fs.existsSync(`/proc/${pid}`)).toBe(true);
        expect(spawnSync("flock", ["-n", path.join(env.dir, "ops.lock"), "true"]).status).toBe(0);
        const next = await env.runHost("sofia-backup", ["run", "--only", "redis"], { ...backupEnv, SOFIA_BACKUP_ID: "cache-6-redis" });
        expect(next.status, next.stderr).toBe(0);
        expect(next.stdout).toContain(`stopped the temporary Redis (pid ${pid}) an interrupted cache seed or export left running`);
        expect(next.stdout).toContain("redis: 30000 keys in the snapshot");
        expect(spawnSync("pgrep", ["-f", "dbfilename dump.rdb"]).status).not.toBe(0);
    }, 240_000);

    it("seed killed (SIGKILL) in the middle of the copy: nothing recorded, the host lock free; the next run stops the Redis it left and copies the backup whole", async () => {
        const state = extra.SOFIA_STATE_DIR;
        env.loadRedis(20000);
        const backup = await env.runHost("sofia-backup", ["run", "--only", "redis"], { SOFIA_BACKUP_ID: "cache-2-redis" });
        expect(backup.status, backup.stderr).toBe(0);
        const atBackup = env.digest();
        const child = spawn("bash", [path.join(__dirname, "..", "host", "sofia-cache.sh"), "seed", "cache-2-redis"], { env: env.scriptEnv(extra) });
        await new Promise<void>((resolve) => child.stderr.on("data", (d) => String(d).includes("keys so far") && resolve()));
        spawnSync("pkill", ["-KILL", "-f", "sofia-redis-copy.py"]);
        child.kill("SIGKILL");
        await new Promise((r) => child.on("close", r));
        expect(fs.existsSync(path.join(state, "cache-seeded-cache-2-redis"))).toBe(false);
        // The seed's Redis (a daemon here, a container on a host) outlives the kill, without the host lock.
        const pid = fs.readFileSync(path.join(state, "seed-redis.pid"), "utf8").trim();
        expect(fs.existsSync(`/proc/${pid}`)).toBe(true);
        expect(spawnSync("flock", ["-n", path.join(env.dir, "ops.lock"), "true"]).status).toBe(0);
        const again = await env.runHost("sofia-cache", ["seed", "cache-2-redis"], extra);
        expect(again.status, again.stderr).toBe(0);
        expect(again.stdout).toContain(`stopped the temporary Redis (pid ${pid}) an interrupted cache seed or export left running`);
        expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
        expect(cacheCli(["DEBUG", "DIGEST"])).toBe(atBackup);
        expect(spawnSync("pgrep", ["-f", "dbfilename dump.rdb"]).status).not.toBe(0);
    }, 240_000);
});
