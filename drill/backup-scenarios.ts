/**
 * The backup drill: the real host/sofia-backup.sh against real Redis and moto, and each way a
 * backup can fail. Every scenario returns named checks; `npm run drill` prints them and the test
 * suite asserts them.
 */
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { spawn, spawnSync } from "child_process";
import { BACKUP_METRICS, KIND_DIMENSION } from "../model/metrics";
import { stagingPath } from "../components/host";
import { backupPrefix, DRILL_BUCKET, DRILL_STACK, DrillEnv, Run } from "./env";
import { volumeHostPath } from "../topology/host/layout";

export interface Check {
    what: string;
    ok: boolean;
    detail?: string;
}

export interface Scenario {
    name: string;
    run(env: DrillEnv, log: (line: string) => void): Promise<Check[]>;
    /** Run by `npm run drill` only, kept out of the test command for its time (the test command has ten minutes). @default false */
    campaignOnly?: boolean;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const check = (what: string, ok: boolean, detail?: string): Check => ({ what, ok, detail: ok ? undefined : detail });

/** What every failed backup must leave behind: no marker, no held checkpoint, a failure metric, clean staging. */
/** The Kind dimension of a backup's metrics, from its id (Redis-only ids end in -redis). */
const kindOf = (id: string) => ({ [KIND_DIMENSION]: id.endsWith("-redis") ? "redis" : "full" });

/** The member names of a tar archive. */
function tarNames(tar: Buffer): string[] {
    return spawnSync("tar", ["-tf", "-"], { input: tar, encoding: "utf8" }).stdout.split("\n").filter(Boolean);
}

function failedCleanly(env: DrillEnv, id: string, r: Run, reason: RegExp): Check[] {
    return [
        check("exits non-zero", r.status !== 0 && r.status !== null, `exit ${r.status}`),
        check(`says what failed (${reason.source})`, reason.test(r.stderr), r.stderr.slice(-400)),
        check("says what to do next", /sofia-services status|rerun: sofia-backup run/.test(r.stderr), r.stderr.slice(-200)),
        check("writes no COMPLETE marker", !env.keys(backupPrefix(id)).some((k) => k.endsWith("/COMPLETE")), env.keys(backupPrefix(id)).join(", ")),
        check("holds no QuestDB checkpoint afterwards", !env.questdb.held),
        check(`publishes ${BACKUP_METRICS.success}=0 for its kind`, env.metricValues(BACKUP_METRICS.success, kindOf(id)).includes(0), JSON.stringify(env.metricValues(BACKUP_METRICS.success, kindOf(id)))),
        check("cleans its staging space", stagingRuns(env).length === 0, stagingRuns(env).join(", ")),
    ];
}

/** Staging directories of runs (sofia-ops.sh: run.*) still on the data volume. */
export function stagingRuns(env: DrillEnv): string[] {
    const dir = stagingPath(env.dataPath);
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => d.startsWith("run.")) : [];
}

/**
 * Thousands of backups in the bucket (older than the real ones, as months of Redis-only backups
 * every 15 minutes would be): latest, the list and the age stay right, and each is one listing
 * request per kind, however many there are. A pipe cut short (sort into head) would fail here.
 */
export function manyBackups(count: number): Scenario {
    return {
        name: `${count.toLocaleString("en")} backups in the bucket: latest, list and age stay right, one listing request each`,
        async run(env, log) {
            const year = Math.floor(Date.now() / 1000) - 365 * 86400;
            const keys = Array.from({ length: count }, (_, i) => {
                const at = year - i * 900;
                const id = `${new Date(at * 1000).toISOString().replace(/[-:]|\.\d+/g, "")}-redis`;
                return `${DRILL_STACK}/redis/index/${String(9999999999 - at).padStart(10, "0")}-${id}`;
            });
            const firstRedis = (out: string) => out.split("\n").find((l) => /-redis\t/.test(l));
            // One real Redis-only backup, newer than all of them.
            const real = await env.runHost("sofia-backup", ["run", "--only", "redis"], { SOFIA_BACKUP_ID: `drill-many-${count}-redis` });
            if (real.status !== 0) throw new Error(`drill: a Redis-only backup failed: ${real.stderr}`);
            const newestBefore = firstRedis((await env.runHost("sofia-backup", ["list", "--kind", "redis", "--limit", "1"])).stdout);
            const t0 = Date.now();
            env.bulkPut(keys);
            log(`wrote ${count} index entries of year-old Redis-only backups in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
            env.proxy.requests.length = 0;
            const age = await env.runHost("sofia-backup", ["age"]);
            const ageLists = env.proxy.requests.filter((r) => r.startsWith("GET ") && r.includes("list-type=2")).length;
            env.proxy.requests.length = 0;
            const list = await env.runHost("sofia-backup", ["list", "--limit", "3"]);
            const listLists = env.proxy.requests.filter((r) => r.includes("list-type=2")).length;
            const all = await env.runHost("sofia-backup", ["list", "--kind", "redis", "--limit", "0"]);
            const rows = all.stdout.split("\n").filter((l) => /-redis\t/.test(l));
            const published = env.metricValues(BACKUP_METRICS.age, { [KIND_DIMENSION]: "redis" });
            return [
                check("the age publisher succeeds with one listing request per kind", age.status === 0 && ageLists === 2, `exit ${age.status}, ${ageLists} list requests: ${age.stderr}`),
                check("and publishes a Redis-only age of minutes, not of the year-old ones", published.length > 0 && Math.min(...published) < 1, JSON.stringify(published)),
                check("the list still shows the newest first, with one listing request per kind", list.status === 0 && listLists === 2 && newestBefore !== undefined && firstRedis(list.stdout) === newestBefore, `${listLists} requests, newest before: ${newestBefore}:\n${list.stdout}`),
                check(`the whole list has every one of them (${count} and the real ones), paged through without a broken pipe`, all.status === 0 && rows.length >= count, `exit ${all.status}, ${rows.length} rows: ${all.stderr}`),
            ];
        },
    };
}

export const backupScenarios: Scenario[] = [
    {
        name: "a good backup is complete, verified and described by its manifest",
        async run(env, log) {
            const keys = env.loadRedis(5000);
            log(`loaded ${keys} keys into redis-server :${env.redisPort}`);
            const id = "drill-good";
            const r = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: id });
            log(`sofia-backup run: exit ${r.status} in ${r.seconds.toFixed(1)}s`);
            const prefix = backupPrefix(id);
            const stored = env.keys(prefix).map((k) => k.slice(prefix.length)).sort();
            const checks = [
                check("exits 0", r.status === 0, r.stderr),
                check("uploads every item, the manifest and the marker", JSON.stringify(stored) === JSON.stringify(["COMPLETE", "config.tar", "manifest.json", "models.tar", "questdb.tar", "redis.rdb", "ui-extensions.tar"]), stored.join(", ")),
            ];
            if (r.status !== 0) return checks;
            const manifestBody = env.getObject(`${prefix}manifest.json`);
            const manifest = JSON.parse(manifestBody.toString());
            const mismatched = (manifest.files as { path: string; size: number; sha256: string }[]).filter((f) => {
                const body = env.getObject(prefix + f.path);
                return body.length !== f.size || sha256(body) !== f.sha256;
            });
            const marker = JSON.parse(env.getObject(`${prefix}COMPLETE`).toString());
            const rdb = path.join(env.dir, "downloaded.rdb");
            fs.writeFileSync(rdb, env.getObject(`${prefix}redis.rdb`));
            const q = env.questdb.queries.filter((x) => /checkpoint/i.test(x));
            return [
                ...checks,
                check("every stored object matches its manifest size and SHA-256", mismatched.length === 0, mismatched.map((f) => f.path).join(", ")),
                check("the marker names the manifest's SHA-256", marker.manifest_sha256 === sha256(manifestBody)),
                check(`the manifest records Redis DBSIZE (${keys})`, manifest.stores?.redis?.dbsize === keys, JSON.stringify(manifest.stores)),
                check("the manifest records the release and tool versions", typeof manifest.release?.api === "string" && typeof manifest.tools?.tar === "string"),
                check("the stored RDB passes redis-check-rdb", spawnSync("redis-check-rdb", [rdb]).status === 0),
                check("QuestDB: CHECKPOINT CREATE, then RELEASE", JSON.stringify(q) === JSON.stringify(["CHECKPOINT CREATE", "CHECKPOINT RELEASE"]), JSON.stringify(q)),
                check("QuestDB: every query carries the credentials of its server.conf (none refused)", env.questdb.refused.length === 0, JSON.stringify(env.questdb.refused)),
                check("QuestDB: its server.conf (the stack's credentials) is not in the backup", !tarNames(env.getObject(`${prefix}questdb.tar`)).some((n) => n.endsWith("conf/server.conf")), tarNames(env.getObject(`${prefix}questdb.tar`)).join(", ")),
                check(`publishes ${BACKUP_METRICS.success}=1, bytes and age 0`, env.metricValues(BACKUP_METRICS.success, { [KIND_DIMENSION]: "full" }).includes(1) && env.metricValues(BACKUP_METRICS.bytes).length > 0 && env.metricValues(BACKUP_METRICS.age, { [KIND_DIMENSION]: "full" }).includes(0)),
                check("uploads items of this size in 16 MiB parts", manifest.files.every((f: { part_mib: number }) => f.part_mib === 16), JSON.stringify(manifest.files.map((f: { part_mib: number }) => f.part_mib))),
                check("cleans its staging space", stagingRuns(env).length === 0, stagingRuns(env).join(", ")),
                check("indexes it as the newest full backup", env.keys(`${DRILL_STACK}/full/index/`).some((k) => k.endsWith(`-${id}`)), env.keys(`${DRILL_STACK}/full/index/`).join(", ")),
            ];
        },
    },
    {
        // S3 allows 10,000 parts; the drill lowers that to 2 rather than upload 10,000.
        name: "an item too big for S3's part limit in 16 MiB parts: larger parts, verified as usual",
        async run(env, log) {
            const big = path.join(volumeHostPath(env.dataPath, "models"), "big.bin");
            fs.writeFileSync(big, randomBytes(40 * 1024 * 1024));
            const id = "drill-big-parts";
            const r = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: id, SOFIA_BACKUP_MAX_PARTS: "2" });
            fs.rmSync(big);
            log(`sofia-backup run with a 40 MiB model file and at most 2 parts an object: exit ${r.status}`);
            const prefix = backupPrefix(id);
            if (r.status !== 0) return [check("exits 0", false, r.stderr)];
            const entry = JSON.parse(env.getObject(`${prefix}manifest.json`).toString()).files.find((f: { path: string }) => f.path === "models.tar");
            const etag = env.aws(["s3api", "head-object", "--bucket", DRILL_BUCKET, "--key", `${prefix}models.tar`, "--query", "ETag", "--output", "text"]).stdout.trim().replace(/"/g, "");
            const body = env.getObject(`${prefix}models.tar`);
            return [
                check("exits 0 and marks the backup complete", env.keys(prefix).some((k) => k.endsWith("/COMPLETE"))),
                check("chooses 32 MiB parts (40 MiB and a quarter do not fit in two of 16 MiB)", entry?.part_mib === 32, JSON.stringify(entry)),
                check("S3 stored it in 2 parts, with the digest the manifest expected", etag.endsWith("-2") && etag === entry?.stored_digest, `${etag} vs ${entry?.stored_digest}`),
                check("the stored object matches the manifest's size and SHA-256", body.length === entry?.size && sha256(body) === entry?.sha256),
            ];
        },
    },
    {
        name: "Redis down: no marker, failure reported",
        async run(env, log) {
            await env.stopRedis();
            log("stopped redis-server");
            const r = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: "drill-redis-down" });
            log(`sofia-backup run: exit ${r.status}`);
            await env.startRedis();
            log("restarted redis-server (its AOF brings the data back)");
            // A stopped Redis is a stopped container: the password cannot even be read from it.
            return failedCleanly(env, "drill-redis-down", r, /could not read the Redis password from sofia-redis; is it running\?/);
        },
    },
    {
        name: "upload interrupted while the QuestDB checkpoint is held: no marker, the trap releases it",
        async run(env, log) {
            env.questdb.queries.length = 0;
            env.proxy.hits = 0;
            env.proxy.fault = { kind: "cut", pathEndsWith: "/questdb.tar" };
            const r = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: "drill-cut", AWS_MAX_ATTEMPTS: "2" });
            env.proxy.fault = { kind: "none" };
            log(`sofia-backup run with the connection cut during the QuestDB copy (${env.proxy.hits} cuts): exit ${r.status}`);
            return [
                ...failedCleanly(env, "drill-cut", r, /upload of questdb\.tar to s3:\/\/.* failed or was interrupted/),
                check("CHECKPOINT CREATE, then RELEASE despite the failure", JSON.stringify(env.questdb.queries) === JSON.stringify(["CHECKPOINT CREATE", "CHECKPOINT RELEASE"]), JSON.stringify(env.questdb.queries)),
            ];
        },
    },
    {
        name: "a corrupted object: verification refuses to mark it complete",
        async run(env, log) {
            env.proxy.hits = 0;
            env.proxy.fault = { kind: "flip", pathEndsWith: "/questdb.tar" };
            const r = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: "drill-corrupt" });
            env.proxy.fault = { kind: "none" };
            log(`sofia-backup run with one byte of questdb.tar flipped in transit (${env.proxy.hits} times): exit ${r.status}`);
            const stored = env.keys(backupPrefix("drill-corrupt"));
            return [
                ...failedCleanly(env, "drill-corrupt", r, /verification failed, not marking drill-corrupt complete: questdb\.tar: stored MD5/),
                check("the corrupted object really was stored (so only verification caught it)", stored.some((k) => k.endsWith("/questdb.tar"))),
            ];
        },
    },
    {
        name: "QuestDB refuses the checkpoint: no marker, failure reported",
        async run(env, log) {
            env.questdb.checkpoint = "error";
            const r = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: "drill-qdb-refused" });
            env.questdb.checkpoint = "ok";
            log(`sofia-backup run with QuestDB refusing CHECKPOINT CREATE: exit ${r.status}`);
            return failedCleanly(env, "drill-qdb-refused", r, /QuestDB refused CHECKPOINT CREATE: .*checkpoint is already in progress/);
        },
    },
    {
        name: "a deploy's backup behind a running operation: it waits for the host lock with --wait, and fails at once without, naming the holder",
        async run(env, log) {
            const lock = path.join(env.dir, "ops.lock");
            fs.writeFileSync(`${lock}.holder`, "sofia-backup run drill-nightly (pid 4242) since 2026-12-02T01:00:00Z\n");
            // Another operation holding the lock for five seconds (flock, as sofia-ops.sh takes it): long
            // enough, on a loaded machine, for the refused run to end and the waiting one to start.
            const holder = spawn("flock", [lock, "sleep", "5"], { stdio: "ignore" });
            await new Promise((r) => setTimeout(r, 300));
            const refused = await env.runHost("sofia-backup", ["run", "--only", "redis"], { SOFIA_BACKUP_ID: "drill-locked-redis" });
            const started = Date.now();
            const waited = await env.runHost("sofia-backup", ["run", "--only", "redis", "--wait", "30"], { SOFIA_BACKUP_ID: "drill-waited-redis" });
            const seconds = (Date.now() - started) / 1000;
            await new Promise((r) => (holder.exitCode === null ? holder.once("exit", r) : r(null)));
            log(`while another operation holds the lock: without --wait exit ${refused.status}; with --wait 30 exit ${waited.status} after ${seconds.toFixed(1)}s`);
            return [
                check("without --wait: refused at once, naming who holds the lock since when", refused.status === 1 && /another Sofia operation holds the host lock: sofia-backup run drill-nightly \(pid 4242\) since 2026-12-02T01:00:00Z/.test(refused.stderr), refused.stderr),
                check("with --wait: says it waits, then completes the backup", waited.status === 0 && /waiting up to 30s for the host lock, held by sofia-backup run drill-nightly/.test(waited.stdout) && env.keys(backupPrefix("drill-waited-redis")).some((k) => k.endsWith("/COMPLETE")), waited.stderr.slice(-300)),
                check("and really waited for the other operation", seconds >= 1.2, `${seconds}s`),
                check("a Redis-only backup is indexed as such, not as the newest full one", env.keys(`${DRILL_STACK}/redis/index/`).some((k) => k.endsWith("-drill-waited-redis")) && !env.keys(`${DRILL_STACK}/full/index/`).some((k) => k.includes("drill-waited"))),
            ];
        },
    },
    // Past S3's page of 1,000 keys, so the listing pages; npm run drill adds the 10,000 the issue names.
    manyBackups(1_200),
];
