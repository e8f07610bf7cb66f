/**
 * The maintenance drill: the weekly backup verification and the monthly disaster-recovery test
 * (both sofia-restore modes that never touch live data), and the maintenance signal.
 */
import * as fs from "fs";
import * as path from "path";
import { BACKUP_METRICS, MAINTENANCE_METRIC } from "../model/metrics";
import { Check, Scenario, stagingRuns } from "./backup-scenarios";
import { backupPrefix, DRILL_BUCKET, DrillEnv } from "./env";

const check = (what: string, ok: boolean, detail?: string): Check => ({ what, ok, detail: ok ? undefined : detail });

function stops(env: DrillEnv): number {
    const file = path.join(env.dir, "docker.log");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l.startsWith("stop ")).length : 0;
}

/** A complete backup whose questdb.tar is then overwritten in S3. */
async function corruptedBackup(env: DrillEnv, id: string): Promise<void> {
    const r = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: id });
    if (r.status !== 0) throw new Error(`drill: backup ${id} failed: ${r.stderr}`);
    const bad = path.join(env.dir, "bad.tar");
    fs.writeFileSync(bad, "not the archive the manifest describes");
    env.aws(["s3", "cp", bad, `s3://${DRILL_BUCKET}/${backupPrefix(id)}questdb.tar`, "--only-show-errors"]);
}

export const maintenanceScenarios: Scenario[] = [
    {
        name: "weekly backup verification: the latest backup passes, a corrupted one fails, live data untouched",
        async run(env, log) {
            const good = await env.runHost("sofia-restore", ["--verify-only", "latest"]);
            log(`sofia-restore --verify-only latest: exit ${good.status}`);
            await corruptedBackup(env, "drill-verify-bad");
            const before = env.digest();
            const stopped = stops(env);
            const bad = await env.runHost("sofia-restore", ["--verify-only", "drill-verify-bad"]);
            log(`sofia-restore --verify-only drill-verify-bad (questdb.tar overwritten in S3): exit ${bad.status}`);
            const verified = env.metricValues(BACKUP_METRICS.verified);
            return [
                check("the latest backup passes", good.status === 0 && /passes: manifest, checksums, redis-check-rdb, archives/.test(good.stdout), good.stderr),
                check("the corrupted backup fails, naming the object", bad.status === 1 && /does not match its manifest \(questdb\.tar corrupted: /.test(bad.stderr), bad.stderr),
                check(`publishes ${BACKUP_METRICS.verified} 1 and 0`, verified.includes(1) && verified.includes(0), JSON.stringify(verified)),
                check("stops no service and leaves live data as it was", stops(env) === stopped && env.digest() === before),
            ];
        },
    },
    {
        name: "monthly DR test: the latest backup restored into scratch space, verified and timed; never the live data",
        async run(env, log) {
            const before = env.digest();
            const stopped = stops(env);
            const good = await env.runHost("sofia-restore", ["--scratch", "drill-restore-good"]);
            const bad = await env.runHost("sofia-restore", ["--scratch", "drill-verify-bad"]);
            // A backup whose manifest promises one key more than its snapshot holds: the temporary
            // Redis starts, the check fails, and the Redis must not be left running.
            await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: "drill-dr-dbsize" });
            env.rewriteBackup("drill-dr-dbsize", (manifest) => {
                manifest.stores.redis.dbsize += 1;
                return {};
            });
            const mismatch = await env.runHost("sofia-restore", ["--scratch", "drill-dr-dbsize"]);
            const portFree = await env.portIsFree(env.restorePort);
            const seconds = env.metricValues(BACKUP_METRICS.drSeconds);
            log(`sofia-restore --scratch drill-restore-good: exit ${good.status}, DR test took ${seconds[0] ?? "?"}s; with a corrupted backup: exit ${bad.status}`);
            const success = env.metricValues(BACKUP_METRICS.drSuccess);
            return [
                check("restores and verifies into scratch space", good.status === 0 && /DR test of drill-restore-good passed/.test(good.stdout), good.stderr.slice(-500)),
                check("loaded the restored AOF in a temporary Redis and checked DBSIZE and sampled keys", /the restored AOF loads in a temporary Redis/.test(good.stdout), good.stdout.slice(-800)),
                check("fails on a corrupted backup", bad.status === 1),
                check("fails when the restored Redis does not have the manifest's DBSIZE, and stops its temporary Redis", mismatch.status === 1 && /verify: redis has \d+ keys; the backup's snapshot has \d+/.test(mismatch.stderr) && /the DR test of drill-dr-dbsize FAILED; nothing live was touched/.test(mismatch.stderr) && portFree, `${mismatch.stderr.slice(-400)} port free: ${portFree}`),
                check(`publishes ${BACKUP_METRICS.drSuccess} 1 and 0, and ${BACKUP_METRICS.drSeconds}`, success.includes(1) && success.includes(0) && seconds.length > 0, JSON.stringify({ success, seconds })),
                check("stops no service and leaves live data as it was", stops(env) === stopped && env.digest() === before),
                check("leaves no scratch space behind", stagingRuns(env).length === 0, stagingRuns(env).join(", ")),
            ];
        },
    },
    {
        name: "maintenance signal: on suppresses pages, off resumes them, and it lapses by itself if off never runs",
        async run(env, log) {
            const probe = async () => (await env.runHost("sofia-probe", ["--dry-run"])).stdout;
            await env.runHost("sofia-maintenance", ["signal", "on", "120"]);
            const during = await probe();
            await env.runHost("sofia-maintenance", ["signal", "off"]);
            const after = await probe();
            // A window whose clearing task failed: the deadline is the window's end, already past here.
            await env.runHost("sofia-maintenance", ["signal", "on", "0"]);
            const lapsed = await probe();
            log("signal on 120, probe; signal off, probe; signal on 0 (a window already over), probe");
            const published = env.metricValues(MAINTENANCE_METRIC);
            return [
                check(`the probe publishes ${MAINTENANCE_METRIC}=1 while the window runs`, during.includes(`"MetricName":"${MAINTENANCE_METRIC}"`), during),
                check("and stops once it is cleared", !after.includes(MAINTENANCE_METRIC), after),
                check("and stops when the window's time is up even if nothing clears it", !lapsed.includes(MAINTENANCE_METRIC), lapsed),
                check("on and off reach CloudWatch at once", published.includes(1) && published.includes(0), JSON.stringify(published)),
            ];
        },
    },
    {
        name: "a page its owner could not raise leaves nothing up; a deadline a killed `on` half wrote is nobody's",
        async run(env, log) {
            const owners = path.join(env.dir, "var", "maintenance");
            const failed = await env.runHost("sofia-maintenance", ["page", "on", "90", "restore"], { AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1" });
            const left = fs.existsSync(owners) ? fs.readdirSync(owners).filter((f) => /restore/.test(f)) : [];
            const flag = fs.existsSync(env.pageFlag);
            // A killed `page on` between writing its deadline and renaming it into place.
            fs.mkdirSync(owners, { recursive: true });
            const tmp = path.join(owners, "page.deploy.tmp");
            fs.writeFileSync(tmp, `${Math.floor(Date.now() / 1000) + 3600}\n`);
            const active = (await env.runHost("sofia-maintenance", ["active"])).stdout.trim();
            const status = (await env.runHost("sofia-maintenance", ["status"])).stdout.trim();
            const old = new Date(Date.now() - 5 * 60_000);
            fs.utimesSync(tmp, old, old);
            await env.runHost("sofia-maintenance", ["lapse"]);
            log(`page on with CloudWatch out of reach: exit ${failed.status}; left: ${left.join(", ") || "nothing"}; with a half-written deadline, active: ${active}`);
            return [
                check("raising it fails, saying pages are not suppressed", failed.status === 1 && /pages are NOT suppressed/.test(failed.stderr), failed.stderr.slice(-300)),
                check("and leaves no deadline of its owner and no page behind", left.length === 0 && !flag, left.join(", ")),
                check("a half-written deadline counts as no owner (active 0, status empty)", active === "0" && status === "", `${active} / ${status}`),
                check("and the next lapse removes it", !fs.existsSync(tmp)),
            ];
        },
    },
    {
        name: "a deploy's maintenance page: on holds clients off and suppresses pages, off lets them back; a page its deploy left lapses",
        async run(env, log) {
            const probe = async () => (await env.runHost("sofia-probe", ["--dry-run"])).stdout;
            const on = await env.runHost("sofia-maintenance", ["page", "on", "60"]);
            const flagDuring = fs.existsSync(env.pageFlag);
            const during = await probe();
            const off = await env.runHost("sofia-maintenance", ["page", "off"]);
            const flagAfter = fs.existsSync(env.pageFlag);
            const after = await probe();
            // A deploy that died with the page up: once its minutes are over (its deadline moved into the
            // past here, as time would), the probe's next run lifts it.
            await env.runHost("sofia-maintenance", ["page", "on", "30", "deploy"]);
            const left = fs.existsSync(env.pageFlag);
            for (const kind of ["page", "signal"]) fs.writeFileSync(path.join(env.dir, "var", "maintenance", `${kind}.deploy`), `${Math.floor(Date.now() / 1000) - 60}\n`);
            const lapse = await env.runHost("sofia-probe", []);
            const bad = await env.runHost("sofia-maintenance", ["page", "on", "soon"]);
            log(`page on 60: exit ${on.status}; page off: exit ${off.status}; page on 0 then the probe: ${lapse.stdout.trim() || lapse.stderr.trim()}`);
            return [
                check("page on writes the flag the proxy checks, with its deadline", on.status === 0 && flagDuring && /maintenance page on for at most 60 minutes/.test(on.stdout), on.stderr),
                check(`and raises the maintenance signal (${MAINTENANCE_METRIC}=1)`, during.includes(`"MetricName":"${MAINTENANCE_METRIC}"`), during),
                check("page off removes the flag and clears the signal", off.status === 0 && !flagAfter && !after.includes(MAINTENANCE_METRIC), off.stderr + after),
                check("a page left by a dead deploy is lifted by the probe once its minutes are up", left && !fs.existsSync(env.pageFlag) && /the maintenance page of deploy lapsed: its owner never ended it/.test(lapse.stdout) && /maintenance page lapsed: clients reach the services again/.test(lapse.stdout), lapse.stdout + lapse.stderr),
                check("a bad duration is refused with the usage", bad.status === 1 && /usage: sofia-maintenance page on <minutes>/.test(bad.stderr), bad.stderr),
            ];
        },
    },
    {
        name: "owners, not a shared switch: a window's signal survives a deploy inside it, and a deploy's page survives a window inside it",
        async run(env, log) {
            const probe = async () => (await env.runHost("sofia-probe", ["--dry-run"])).stdout;
            const status = async () => (await env.runHost("sofia-maintenance", ["status"])).stdout;
            const signalled = (out: string) => out.includes(`"MetricName":"${MAINTENANCE_METRIC}"`);
            // A deploy inside the weekly window.
            await env.runHost("sofia-maintenance", ["signal", "on", "120", "window-weekly"]);
            await env.runHost("sofia-maintenance", ["page", "on", "60", "deploy"]);
            const both = await status();
            await env.runHost("sofia-maintenance", ["page", "off", "deploy"]);
            const windowLeft = await status();
            const duringWindow = await probe();
            await env.runHost("sofia-maintenance", ["signal", "off", "window-weekly"]);
            const afterWindow = await probe();
            // A window that starts and ends inside a deploy.
            await env.runHost("sofia-maintenance", ["page", "on", "60", "deploy"]);
            await env.runHost("sofia-maintenance", ["signal", "on", "120", "window-monthly"]);
            await env.runHost("sofia-maintenance", ["signal", "off", "window-monthly"]);
            const pageStays = fs.existsSync(env.pageFlag);
            const duringDeploy = await probe();
            await env.runHost("sofia-maintenance", ["page", "off", "deploy"]);
            const clear = await probe();
            log(`window then deploy: ${both.trim().replace(/\n/g, "; ")}`);
            return [
                check("each owner holds its own deadline: the deploy's 60 minutes do not shorten the window's 120", /^signal window-weekly until /m.test(both) && /^signal deploy until /m.test(both) && /^page deploy until /m.test(both), both),
                check("the deploy's page off leaves the window's signal on", /^signal window-weekly until /m.test(windowLeft) && !/deploy/.test(windowLeft) && signalled(duringWindow), windowLeft + duringWindow),
                check("and the window's own off clears it", !signalled(afterWindow), afterWindow),
                check("a window's signal off inside a deploy leaves the deploy's page and signal up", pageStays && signalled(duringDeploy), duringDeploy),
                check("and the deploy's page off clears both", !fs.existsSync(env.pageFlag) && !signalled(clear), clear),
            ];
        },
    },
    {
        name: "the weekly patch task waits for a running restore, reboots only through SSM, and nothing starts before the reboot",
        async run(env, log) {
            env.loadRedis(500);
            const b = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: "drill-patch-base" });
            if (b.status !== 0) throw new Error(`drill: backup for the patch scenario failed: ${b.stderr}`);
            const dnfLog = path.join(env.dir, "dnf.log");
            fs.rmSync(dnfLog, { force: true });
            const lock = path.join(env.dir, "ops.lock");
            const holder = () => (fs.existsSync(`${lock}.holder`) ? fs.readFileSync(`${lock}.holder`, "utf8") : "");
            // The restore runs; the patch task starts while it holds the host lock.
            const restore = env.runHost("sofia-restore", ["drill-patch-base"]);
            for (let i = 0; i < 200 && !/sofia-restore/.test(holder()); i++) await new Promise((r) => setTimeout(r, 50));
            // Under SSM (the agent sets AWS_SSM_INSTANCE_ID): only there does exit 194 bring a reboot.
            const patch = env.runHost("sofia-services", ["patch"], { DNF_LOG: dnfLog, DNF_NEEDS_REBOOT: "1", SOFIA_OPS_WAIT: "300", AWS_SSM_INSTANCE_ID: "i-0drill" });
            const restored = await restore;
            const restoreEnded = Date.now() / 1000;
            const patched = await patch;
            const calls = fs.existsSync(dnfLog) ? fs.readFileSync(dnfLog, "utf8").trim().split("\n") : [];
            const firstCall = calls.length ? Number(calls[0].split(" ")[0]) : 0;
            // Between the task's exit and the reboot: nothing may start.
            const backupBeforeReboot = await env.runHost("sofia-backup", ["run", "--only", "redis"], { SOFIA_BACKUP_ID: "drill-during-reboot-redis" });
            // The reboot empties /run, and with it the mark; SSM runs the task again.
            fs.rmSync(`${lock}.reboot`, { force: true });
            const redisDown = env.redisCli(["PING"]).stdout.trim() !== "PONG";
            const journalled = fs.existsSync(path.join(env.dataPath, "sofia-ops.journal")) && /op=restart/.test(fs.readFileSync(path.join(env.dataPath, "sofia-ops.journal"), "utf8"));
            // The boot starts every service in catalog order (sofia-boot.service), as after any reboot.
            const boot = await env.runHost("sofia-services", ["start"]);
            const rerun = await env.runHost("sofia-services", ["patch"], { DNF_LOG: dnfLog, DNF_NEEDS_REBOOT: "0", AWS_SSM_INSTANCE_ID: "i-0drill" });
            // By hand (no SSM): told to reboot, no mark that would block every operation.
            const byHand = await env.runHost("sofia-services", ["patch"], { DNF_LOG: dnfLog, DNF_NEEDS_REBOOT: "1" });
            const markedByHand = fs.existsSync(`${lock}.reboot`);
            log(`restore exit ${restored.status}; patch exit ${patched.status}; dnf calls: ${calls.map((c) => c.replace(/^\S+ /, "")).join(" | ")}; rerun exit ${rerun.status}`);
            return [
                check("the restore completes undisturbed", restored.status === 0, restored.stderr.slice(-400)),
                check("the patch task said it waited for the restore's lock", /waiting up to 300s for the host lock, held by sofia-restore/.test(patched.stdout), patched.stdout.slice(-400)),
                check("and installed nothing until the restore was done", calls.length > 0 && firstCall >= restoreEnded - 0.5, `${firstCall} vs ${restoreEnded}`),
                check("updates needing a reboot: exit 194, SSM's code to reboot and run the task again", patched.status === 194 && calls.some((c) => / -y upgrade --security$/.test(c)) && calls.some((c) => / needs-restarting -r$/.test(c)), patched.stderr),
                check("until the reboot, another operation refuses, naming it", backupBeforeReboot.status === 1 && /the host is about to reboot for security updates \(sofia-services patch asked for a reboot at /.test(backupBeforeReboot.stderr), backupBeforeReboot.stderr),
                check("before asking for the reboot it stopped the services in order (the stores last)", redisDown && /stopping/i.test(patched.stdout), patched.stdout.slice(-400)),
                check("the stop is journalled as a restart (killed there, the next command starts the services)", journalled),
                check("the boot starts every service again, and the journal is done", boot.status === 0 && env.redisCli(["PING"]).stdout.trim() === "PONG" && !fs.existsSync(path.join(env.dataPath, "sofia-ops.journal")), boot.stderr.slice(-300)),
                check("after the reboot, the task's rerun finds nothing to do and exits 0", rerun.status === 0 && /no reboot needed/.test(rerun.stdout), rerun.stderr),
                check("run by hand, it says to reboot and marks nothing", byHand.status === 0 && /not run by SSM, so reboot by hand/.test(byHand.stdout) && !markedByHand, byHand.stdout + byHand.stderr),
            ];
        },
    },
];
