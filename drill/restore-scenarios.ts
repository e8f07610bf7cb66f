/**
 * The restore drill: the real host/sofia-restore.sh against real Redis (stopped and started through
 * the docker double like a container) and moto. Datasets are compared whole, by DEBUG DIGEST.
 */
import * as fs from "fs";
import * as path from "path";
import { Check, Scenario } from "./backup-scenarios";
import { backupPrefix, DRILL_BUCKET, DrillEnv, Run } from "./env";
import { volumeHostPath } from "../topology/host/layout";

const check = (what: string, ok: boolean, detail?: string): Check => ({ what, ok, detail: ok ? undefined : detail });

function summary(r: Run): { result?: string; seconds?: number; id?: string } {
    const last = r.stdout.trim().split("\n").at(-1) ?? "";
    try {
        return JSON.parse(last).restore ?? {};
    } catch {
        return {};
    }
}

/** Changes the live data in every way a restore must undo. */
function mutate(env: DrillEnv): void {
    env.redisCli(["SET", "quote:0", "changed"]);
    env.redisCli(["DEL", "position:1", "trades:2", "book:3"]);
    env.redisCli(["SET", "brand-new-key", "not in the backup"]);
    fs.writeFileSync(path.join(volumeHostPath(env.dataPath, "models"), "sentiment.onnx"), "overwritten");
}

async function backup(env: DrillEnv, id: string): Promise<void> {
    const r = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: id });
    if (r.status !== 0) throw new Error(`drill: backup ${id} failed: ${r.stderr}`);
}

export const restoreScenarios: Scenario[] = [
    {
        name: "restore round trip: every key back, AOF handled, safety copy gone",
        async run(env, log) {
            env.loadRedis(4000);
            const original = env.digest();
            const keys = env.redisCli(["DBSIZE"]).stdout.trim();
            await backup(env, "drill-restore-base");
            mutate(env);
            const mutated = env.digest();
            // The stack's credentials changed since (as in a restore from another stack): the live ones stay.
            const conf = path.join(volumeHostPath(env.dataPath, "questdb-data"), "conf", "server.conf");
            const liveConf = fs.readFileSync(conf, "utf8") + "# changed after the backup\n";
            fs.writeFileSync(conf, liveConf);
            log(`backed up ${keys} keys as drill-restore-base, then changed, deleted and added keys`);
            const r = await env.runHost("sofia-restore", ["drill-restore-base"]);
            const s = summary(r);
            log(`sofia-restore drill-restore-base: exit ${r.status}, recovery time ${s.seconds ?? "?"}s (${r.seconds.toFixed(1)}s measured)`);
            const afterRestore = env.digest();
            // A write after the restore goes to the AOF's new increment; then restart Redis: a
            // restore that only copied dump.rdb would come back empty here (AOF on).
            env.redisCli(["SET", "written-after-the-restore", "kept"]);
            await env.stopRedis();
            await env.startRedis();
            const kept = env.redisCli(["GET", "written-after-the-restore"]).stdout.trim();
            env.redisCli(["DEL", "written-after-the-restore"]);
            const afterRestart = env.digest();
            const models = fs.readFileSync(path.join(volumeHostPath(env.dataPath, "models"), "sentiment.onnx"));
            const qdbRoot = volumeHostPath(env.dataPath, "questdb-data");
            return [
                check("exits 0", r.status === 0, r.stderr.slice(-600)),
                check("the data really had changed before the restore", mutated !== original),
                check(`every key is back as it was (DEBUG DIGEST, ${keys} keys)`, afterRestore === original, `${afterRestore} vs ${original}`),
                check("still every key after Redis restarts from its AOF", afterRestart === original, `${afterRestart} vs ${original}`),
                check("a write after the restore survives the restart (the AOF is live, not only its base)", kept === "kept", kept),
                check("Redis runs with AOF on, from the snapshot as the AOF's base", env.redisCli(["CONFIG", "GET", "appendonly"]).stdout.includes("yes") && fs.existsSync(path.join(env.redisDir, "appendonlydir", "appendonly.aof.1.base.rdb"))),
                check("the models volume is back", models.length === 128 * 1024 && models[0] === 3),
                check("QuestDB's root is back with its _restore trigger", fs.existsSync(path.join(qdbRoot, "_restore")) && fs.existsSync(path.join(qdbRoot, "db", "ticks", "_meta"))),
                check("QuestDB keeps this stack's live server.conf (its credentials), which the backup does not carry", fs.readFileSync(conf, "utf8") === liveConf),
                check("QuestDB: the verification's queries carry those credentials (none refused)", env.questdb.refused.length === 0, JSON.stringify(env.questdb.refused)),
                check("stopped the services in reverse order and started them in catalog order", ordered(r.stdout), r.stdout),
                check("the safety copy is removed once verified", !fs.existsSync(`${env.redisDir}.before-restore`)),
                check('prints a summary line {"restore": {id, started, ended, seconds, result: "ok"}}', s.result === "ok" && s.id === "drill-restore-base" && typeof s.seconds === "number"),
            ];
        },
    },
    {
        name: "a backup from manifest format 1 (the RDB followed by redis-cli's end-of-transfer mark) still restores",
        // A compatibility case that changes nothing between releases: the campaign keeps it.
        campaignOnly: true,
        async run(env, log) {
            env.loadRedis(500);
            const original = env.digest();
            await backup(env, "drill-format-1");
            // Rewrite the backup as the previous backup script stored it: mark after the RDB, format 1.
            const rdb = env.getObject(`${backupPrefix("drill-format-1")}redis.rdb`);
            env.rewriteBackup("drill-format-1", (manifest) => {
                manifest.format = 1;
                return { "redis.rdb": Buffer.concat([rdb, Buffer.from("0123456789abcdef0123456789abcdef01234567")]) };
            });
            mutate(env);
            const r = await env.runHost("sofia-restore", ["drill-format-1"]);
            log(`sofia-restore of a format-1 backup: exit ${r.status}`);
            return [
                check("the backup as stored today is the RDB alone (ends in its checksum, no mark)", !/^[0-9a-f]{40}$/.test(rdb.subarray(-40).toString("latin1")) && rdb[rdb.length - 9] === 0xff),
                check("exits 0, saying it cut the mark", r.status === 0 && /cut the end-of-transfer mark/.test(r.stdout), r.stderr.slice(-600)),
                check("every key is back as it was", env.digest() === original),
            ];
        },
    },
    {
        name: "a corrupted object: refused, live data unchanged",
        async run(env, log) {
            mutate(env);
            const before = env.digest();
            // Overwrite the stored RDB behind the backup's back.
            const bad = path.join(env.dir, "garbage.rdb");
            fs.writeFileSync(bad, "not an rdb at all");
            env.aws(["s3", "cp", bad, `s3://${DRILL_BUCKET}/${backupPrefix("drill-restore-base")}redis.rdb`, "--only-show-errors"]);
            const stops = countStops(env);
            const r = await env.runHost("sofia-restore", ["drill-restore-base"]);
            log(`sofia-restore of a backup whose redis.rdb was overwritten in S3: exit ${r.status}`);
            return [
                check("exits non-zero", r.status === 1, `exit ${r.status}`),
                check("says which object does not match its manifest", /backup drill-restore-base does not match its manifest \(redis\.rdb corrupted: 17 bytes, .*\): refusing it/.test(r.stderr), r.stderr),
                check("says nothing was changed", /refused; nothing was changed/.test(r.stderr), r.stderr),
                check("did not stop any service", countStops(env) === stops),
                check("live data unchanged", env.digest() === before),
                check('summary result "failed"', summary(r).result === "failed"),
            ];
        },
    },
    {
        name: "a manifest carrying code or values of the wrong shape (whoever can write the bucket writes it): refused before anything runs or stops",
        async run(env, log) {
            await backup(env, "drill-hostile");
            const original = JSON.parse(env.getObject(`${backupPrefix("drill-hostile")}manifest.json`).toString("utf8"));
            const ran = path.join(env.dir, "hostile-ran");
            // One case end to end (test/restore.test.ts refuses every other shape at the check itself).
            const hostile: Record<string, (m: any) => void> = {
                "format as an array subscript with a command": (m) => (m.format = `BASH_VERSINFO[$(touch ${ran})]`),
                "a size that is arithmetic with a command": (m) => (m.files[0].size = `0 + $(touch ${ran})`),
            };
            const before = env.digest();
            const stops = countStops(env);
            const results: Check[] = [];
            for (const [what, edit] of Object.entries(hostile)) {
                env.rewriteBackup("drill-hostile", (m) => {
                    for (const k of Object.keys(m)) delete m[k];
                    Object.assign(m, structuredClone(original));
                    edit(m);
                    return {};
                });
                const r = await env.runHost("sofia-restore", ["drill-hostile"]);
                results.push(check(`${what}: refused as not shaped as a Sofia manifest, nothing changed`, r.status === 1 && /manifest\.json is not shaped as a Sofia manifest/.test(r.stderr) && /refused; nothing was changed/.test(r.stderr), r.stderr.slice(-400)));
            }
            log(`${Object.keys(hostile).length} hostile manifests, each with a matching COMPLETE marker`);
            return [
                ...results,
                check("no command in them ran", !fs.existsSync(ran)),
                check("no service was stopped", countStops(env) === stops),
                check("live data unchanged", env.digest() === before),
            ];
        },
    },
    {
        name: "a backup whose manifest lists an item none of its objects holds: refused before any service stops",
        async run(env, log) {
            await backup(env, "drill-missing-item");
            let dropped = "";
            env.rewriteBackup("drill-missing-item", (m) => {
                dropped = m.items.find((i: string) => i !== "redis");
                m.files = m.files.filter((f: { item: string }) => f.item !== dropped);
                return {};
            });
            const before = env.digest();
            const stops = countStops(env);
            const r = await env.runHost("sofia-restore", ["drill-missing-item"]);
            log(`sofia-restore of a backup whose manifest lists ${dropped} with no object for it: exit ${r.status}`);
            return [
                check("exits non-zero, naming the item", r.status === 1 && new RegExp(`lists ${dropped} among its items, but none of its objects holds it: refusing it`).test(r.stderr), r.stderr.slice(-400)),
                check("says nothing was changed", /refused; nothing was changed/.test(r.stderr), r.stderr.slice(-400)),
                check("no service was stopped", countStops(env) === stops),
                check("live data unchanged", env.digest() === before),
            ];
        },
    },
    {
        name: "keys with spaces or binary names, and keys that expire between the backup and the restore: the restore verifies",
        async run(env, log) {
            env.redisCli(["SET", "a key with spaces", "1"]);
            env.redisCli(["SET", "tab\tkey", "2"]);
            env.redisCli(["SET", "\u00ff\u00febinary", "3"]);
            // Long enough to outlive the backup on a loaded machine; the restore starts once they are gone.
            const ttlMs = 6000;
            const set = Date.now();
            for (let i = 0; i < 50; i++) env.redisCli(["SET", `ephemeral:${i}`, "x", "PX", String(ttlMs)]);
            await backup(env, "drill-odd-keys");
            const manifest = JSON.parse(env.getObject(`${backupPrefix("drill-odd-keys")}manifest.json`).toString("utf8"));
            const facts = manifest.stores.redis;
            await new Promise((r) => setTimeout(r, Math.max(0, set + ttlMs + 500 - Date.now())));
            const r = await env.runHost("sofia-restore", ["drill-odd-keys"]);
            const got = Number(env.redisCli(["DBSIZE"]).stdout.trim());
            log(`backup of ${facts.dbsize} keys (${facts.expires} with a TTL, ${facts.sample.length} sampled); restored after the TTLs passed: exit ${r.status}, ${got} keys`);
            return [
                check("the manifest counts the snapshot's keys and those with a TTL", facts.expires >= 50 && facts.dbsize >= 53, JSON.stringify({ dbsize: facts.dbsize, expires: facts.expires })),
                check("the sample holds only keys of printable characters without spaces, and none with a TTL", facts.sample.length > 0 && facts.sample.every((k: { key: string }) => /^[!-~]+$/.test(k.key) && !k.key.startsWith("ephemeral:")), JSON.stringify(facts.sample)),
                check("the restore verifies and completes", r.status === 0, r.stderr.slice(-600)),
                check("the expired keys are gone, every other key is back", got === facts.dbsize - 50 && env.redisCli(["GET", "a key with spaces"]).stdout.trim() === "1", `${got} keys`),
            ];
        },
    },
    {
        name: "a backup without its COMPLETE marker: refused",
        async run(env, log) {
            env.proxy.fault = { kind: "cut", pathEndsWith: "/questdb.tar" };
            await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: "drill-unfinished", AWS_MAX_ATTEMPTS: "1" });
            env.proxy.fault = { kind: "none" };
            await backup(env, "drill-restore-good");
            const before = env.digest();
            const r = await env.runHost("sofia-restore", ["drill-unfinished"]);
            log(`sofia-restore of a backup whose upload was cut off: exit ${r.status}`);
            return [
                check("the unfinished backup has objects but no marker", env.keys(backupPrefix("drill-unfinished")).length > 0 && !env.keys(backupPrefix("drill-unfinished")).some((k) => k.endsWith("COMPLETE"))),
                check("exits non-zero", r.status === 1),
                check("says it has no COMPLETE marker and names complete ones", /backup drill-unfinished has no COMPLETE marker .* Most recent complete backups: .*drill-restore-good/.test(r.stderr), r.stderr),
                check("live data unchanged", env.digest() === before),
            ];
        },
    },
    {
        name: "a backup id that does not exist: a clear error with the valid ids",
        async run(env, log) {
            const r = await env.runHost("sofia-restore", ["20990101T000000Z"]);
            log(`sofia-restore 20990101T000000Z: exit ${r.status}`);
            return [
                check("exits non-zero", r.status === 1),
                check("names the missing id and the most recent complete backups", /there is no backup 20990101T000000Z under s3:\/\/.*\. Most recent complete backups: drill-restore-good, /.test(r.stderr), r.stderr),
            ];
        },
    },
    {
        name: "S3 out of reach: refused before anything is touched, saying what could not be read",
        async run(env, log) {
            const before = env.digest();
            const stops = countStops(env);
            const r = await env.runHost("sofia-restore", ["drill-restore-good"], { AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1" });
            log(`sofia-restore drill-restore-good with S3 out of reach: exit ${r.status}`);
            return [
                check("exits non-zero", r.status === 1, `exit ${r.status}`),
                check("says what it could not read, with the aws CLI's words", /could not read s3:\/\/\S+\/full\/drill-restore-good\/: .*Could not connect/.test(r.stderr), r.stderr),
                check("did not stop any service", countStops(env) === stops),
                check("live data unchanged", env.digest() === before),
            ];
        },
    },
    {
        name: "too little room for the backup: refused before anything is downloaded or stopped",
        async run(env, log) {
            const before = env.digest();
            const stops = countStops(env);
            // No volume here is small enough to fill; asking for an exabyte to stay free is the same to the check.
            const r = await env.runHost("sofia-restore", ["drill-restore-good"], { SOFIA_RESTORE_MIN_FREE_BYTES: String(2 ** 60) });
            log(`sofia-restore drill-restore-good with 1 EiB to keep free: exit ${r.status}`);
            return [
                check("exits non-zero", r.status === 1, `exit ${r.status}`),
                check("says how much room it needs, for what, how much there is, and what to do", /backup drill-restore-good needs \d+ MiB free on the data volume \(\d+ MiB of backup, \d+ MiB kept free for the stores\), and \d+ MiB are: free space there \(or grow the data volume, sofia:dataVolumeGb\)/.test(r.stderr), r.stderr),
                check("says nothing was changed", /refused; nothing was changed/.test(r.stderr), r.stderr),
                check("did not stop any service", countStops(env) === stops),
                check("live data unchanged", env.digest() === before),
            ];
        },
    },
    {
        name: "a failure in the middle of the restore: the data from before is put back",
        async run(env, log) {
            mutate(env);
            env.redisCli(["SET", "written-after-the-backup", "must survive the failed restore"]);
            const before = env.digest();
            // The API fails its health check once, after the data has been swapped.
            fs.writeFileSync(path.join(env.state, "sofia-api.health"), "unhealthy\nhealthy\n");
            const r = await env.runHost("sofia-restore", ["latest"]);
            log(`sofia-restore latest with the API unhealthy after the swap: exit ${r.status}, ${summary(r).seconds ?? "?"}s`);
            return [
                check("exits non-zero", r.status === 1),
                check("says what failed", /api \(sofia-api\) is unhealthy/.test(r.stderr), r.stderr),
                check("says the data from before is back", /FAILED; the data from before it is back in place/.test(r.stderr), r.stderr),
                check("chose the newest complete full backup for latest", /backup drill-restore-good \(live\)/.test(r.stdout), r.stdout),
                check("data equal to before the attempt", env.digest() === before),
                check("Redis serves again after the put-back", env.redisCli(["GET", "written-after-the-backup"]).stdout.trim() === "must survive the failed restore"),
                check("no safety copy left behind", !fs.existsSync(`${env.redisDir}.before-restore`)),
            ];
        },
    },
    {
        name: "the ECS apps' files: restored onto a file system of their own (EFS on the store host), every file given to the tasks' user; stopped after the swap, the files from before are back",
        async run(env, log) {
            const owner = "1000:1000";
            return env.withSharedModels(owner, async (models, shared) => {
                fs.chownSync(models, 1000, 1000);
                fs.writeFileSync(path.join(models, "sentiment.onnx"), Buffer.alloc(64 * 1024, 5), { mode: 0o600 });
                await backup(env, "drill-shared-files");
                fs.writeFileSync(path.join(models, "sentiment.onnx"), "retrained after the backup");
                fs.writeFileSync(path.join(models, "new.bin"), "not in the backup");
                const stopped = await env.runHost("sofia-restore", ["drill-shared-files"], { SOFIA_FAULT: "verifying:TERM", SOFIA_FAULT_MARK: path.join(env.dir, "shared-files-mark") });
                const putBack = fs.readFileSync(path.join(models, "sentiment.onnx"), "utf8");
                const r = await env.runHost("sofia-restore", ["drill-shared-files"]);
                log(`sofia-restore onto ${models}: stopped after the swap exit ${stopped.status}, then exit ${r.status}`);
                const owners = fs.readdirSync(models).map((f) => `${f}=${fs.statSync(path.join(models, f)).uid}:${fs.statSync(path.join(models, f)).gid}`);
                const restored = fs.readFileSync(path.join(models, "sentiment.onnx"));
                return [
                    check("stopped after the swap (TERM while verifying): exits non-zero, the data from before back", stopped.status !== 0 && /FAILED; the data from before it is back in place/.test(stopped.stderr), stopped.stderr.slice(-600)),
                    check("the files from before are back on the shared file system", putBack === "retrained after the backup", putBack),
                    check("the next restore exits 0", r.status === 0, r.stderr.slice(-600)),
                    check("the backup's files are back, and nothing written since", restored.length === 64 * 1024 && restored[0] === 5 && !fs.existsSync(path.join(models, "new.bin")), fs.readdirSync(models).join(",")),
                    check(`every restored file belongs to the tasks' user (${owner})`, owners.length > 0 && owners.every((o) => o.endsWith(`=${owner}`)) && fs.statSync(models).uid === 1000, owners.join(" ")),
                    check("the directory keeps its mode", (fs.statSync(models).mode & 0o777) === 0o750),
                    check("no safety copy left on the shared file system", !fs.existsSync(`${models}.before-restore`), fs.readdirSync(shared).join(",")),
                ];
            });
        },
    },
];

function countStops(env: DrillEnv): number {
    const file = path.join(env.dir, "docker.log");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l.startsWith("stop ")).length : 0;
}

/** True when the script's output stops the API before Redis and starts Redis before the API. */
function ordered(stdout: string): boolean {
    const at = (s: string) => stdout.indexOf(s);
    return at("stopping api") >= 0 && at("stopping api") < at("stopping redis") && at("starting redis") > at("stopping redis") && at("starting redis") < at("starting api");
}
