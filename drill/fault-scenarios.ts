/**
 * The fault drill: the restore, the backup and the DR test interrupted at each of their steps
 * (TERM as SSM's timeout sends it; the whole process tree killed, as SSM's kill or a reboot),
 * each followed by the next entry point (the next `pulumi up`'s retry, a boot, a backup); two
 * operations at once; the disk filling under a download. After each, the invariant: the live data
 * is, byte for byte, the data from before or the backup, services run, nothing is left held.
 */
import { spawnSync } from "child_process";
import { runAsync } from "./run";
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { BACKUP_METRICS, KIND_DIMENSION } from "../model/metrics";
import { Check, Scenario } from "./backup-scenarios";
import { backupPrefix, DRILL_STACK, DrillEnv } from "./env";
import { DataState, dataState, diverge, FILE_VOLUMES, invariantChecks, isState, killTree, reached, reboot, release, runHeld, treeHash } from "./faults";
import { volumeHostPath } from "../topology/host/layout";

const check = (what: string, ok: boolean, detail?: string): Check => ({ what, ok, detail: ok ? undefined : detail });

const BASE = "drill-fault-base";
/** The data as the fault drill's backup holds it (taken by the first scenario). */
let backupState: DataState | undefined;

async function ensureBase(env: DrillEnv): Promise<DataState> {
    if (backupState) return backupState;
    const r = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: BASE });
    if (r.status !== 0) throw new Error(`drill: the fault drill's backup failed: ${r.stderr}`);
    backupState = dataState(env);
    return backupState;
}

type Next = "retry" | "boot" | "backup";

/** Runs the next entry point after an interrupted restore: the retried update, a boot, a scheduled backup. */
async function nextEntry(env: DrillEnv, next: Next): Promise<{ ok: boolean; what: string; detail: string }> {
    switch (next) {
        case "retry": {
            const r = await env.runHost("sofia-restore", [BASE]);
            return { ok: r.status === 0, what: "the retried restore (the next pulumi up) completes", detail: r.stderr.slice(-600) };
        }
        case "boot": {
            const r = await env.runHost("sofia-services", ["start"]);
            return { ok: r.status === 0, what: "the boot (sofia-services start) recovers and starts every service", detail: r.stderr.slice(-600) + r.stdout.slice(-600) };
        }
        case "backup": {
            const r = await env.runHost("sofia-backup", ["run", "--only", "redis"], { SOFIA_BACKUP_ID: `drill-after-fault-${Date.now()}-redis` });
            return { ok: r.status === 0, what: "the next backup recovers first, then backs up", detail: r.stderr.slice(-600) };
        }
    }
}

/** The restore stopped at `point` by TERM: its own traps put everything back (or finish, once verified). */
function restoreTerm(point: string, expect: "before" | "backup"): Scenario {
    return {
        name: `restore stopped by TERM at "${point}": ${expect === "before" ? "the data from before is back" : "it was verified: the restored data stays"}, services run`,
        async run(env, log) {
            const backup = await ensureBase(env);
            diverge(env, `term-${point}`);
            const before = dataState(env);
            const h = runHeld(env, "sofia-restore", [BASE], `${point}:TERM`);
            const r = await h.done;
            log(`sofia-restore ${BASE} with TERM at ${point}: exit ${r.status} in ${r.seconds.toFixed(1)}s`);
            return [
                check(`it reached "${point}" and was stopped there`, fs.existsSync(h.mark), r.stdout.slice(-400)),
                expect === "before"
                    ? point === "fetching"
                        ? check("exits non-zero, saying nothing was changed (nothing was, yet)", r.status === 1 && /refused; nothing was changed/.test(r.stderr), r.stderr.slice(-600))
                        : check("exits non-zero, saying the data from before is back", r.status !== 0 && /FAILED; the data from before it is back in place/.test(r.stderr), r.stderr.slice(-600))
                    : check("exits 0, saying the verified restore stays", r.status === 0 && /was stopped after it was verified: the restored data stays/.test(r.stdout), r.stdout.slice(-400) + r.stderr.slice(-400)),
                check(`the live data is ${expect === "before" ? "the data from before" : "the backup"}`, isState(env, expect === "before" ? before : backup), JSON.stringify(dataState(env))),
                ...invariantChecks(env, before, backup),
            ];
        },
    };
}

/** The restore's whole process tree killed at `point` (SSM's kill; or a reboot), then the next entry point. */
function restoreKill(point: string, next: Next, asReboot = false): Scenario {
    return {
        name: `restore ${asReboot ? "cut by a reboot" : "killed (SIGKILL, the whole tree)"} at "${point}", then ${next === "retry" ? "the retried update" : next === "boot" ? "the boot" : "the next backup"}`,
        async run(env, log) {
            const backup = await ensureBase(env);
            diverge(env, `kill-${point}-${next}`);
            const before = dataState(env);
            const h = runHeld(env, "sofia-restore", [BASE], `${point}:HOLD`);
            const got = await reached(h);
            if (asReboot) await reboot(env, h);
            else await killTree(h);
            const entry = await nextEntry(env, next);
            log(`killed at ${point}${asReboot ? " with a reboot" : ""}; ${entry.what}: ${entry.ok ? "yes" : "NO"}`);
            return [
                check(`it reached "${point}" before it was killed`, got),
                check(entry.what, entry.ok, entry.detail),
                ...(next === "retry" ? [check("the retry restored the backup", isState(env, backup), JSON.stringify(dataState(env)))] : []),
                ...invariantChecks(env, before, backup),
            ];
        },
    };
}

const twoRestores: Scenario = {
    name: "two restores at once: the second is refused at once, naming the first; the first completes",
    async run(env, log) {
        const backup = await ensureBase(env);
        diverge(env, "two-restores");
        const before = dataState(env);
        const first = runHeld(env, "sofia-restore", [BASE], "stopped:HOLD");
        const got = await reached(first);
        const second = await env.runHost("sofia-restore", ["latest"], { SOFIA_OPS_WAIT: "0" });
        release(first);
        const r = await first.done;
        log(`first restore held after stopping the services; a second one: exit ${second.status}; the first then: exit ${r.status}`);
        return [
            check("the first reached its swap", got),
            check("the second is refused, naming who holds the host lock", second.status === 1 && /another Sofia operation holds the host lock: sofia-restore drill-fault-base \(pid \d+\) since /.test(second.stderr), second.stderr),
            check("the second changed nothing: it says so", /refused; nothing was changed/.test(second.stderr), second.stderr),
            check("the first completes", r.status === 0, r.stderr.slice(-500)),
            check("the live data is the backup", isState(env, backup)),
            ...invariantChecks(env, before, backup),
        ];
    },
};

const restoreBesideBackup: Scenario = {
    name: "a restore beside a running backup waits for it (bounded), then restores; the backup completes",
    async run(env, log) {
        const backup = await ensureBase(env);
        diverge(env, "beside-backup");
        const running = runHeld(env, "sofia-backup", ["run"], "checkpoint-held:HOLD", { SOFIA_BACKUP_ID: "drill-beside-restore" });
        const got = await reached(running);
        const before = dataState(env);
        const refused = await env.runHost("sofia-restore", [BASE], { SOFIA_OPS_WAIT: "0" });
        const waiting = env.runHost("sofia-restore", [BASE], { SOFIA_OPS_WAIT: "120" });
        await new Promise((r) => setTimeout(r, 1000));
        release(running);
        const b = await running.done;
        const r = await waiting;
        log(`backup held with QuestDB's checkpoint; restore without waiting: exit ${refused.status}; with a wait: exit ${r.status}; the backup: exit ${b.status}`);
        return [
            check("the backup reached its checkpoint", got),
            check("a restore that may not wait is refused, naming the backup", refused.status === 1 && /holds the host lock: sofia-backup run drill-beside-restore/.test(refused.stderr), refused.stderr),
            check("a restore that may wait says so, then restores", r.status === 0 && /waiting up to 120s for the host lock, held by sofia-backup run drill-beside-restore/.test(r.stdout), r.stderr.slice(-500)),
            check("the backup completes, with the data from before the restore", b.status === 0 && env.keys(backupPrefix("drill-beside-restore")).some((k) => k.endsWith("/COMPLETE")), b.stderr.slice(-500)),
            check("the live data is the backup restored", isState(env, backup)),
            ...invariantChecks(env, before, backup),
        ];
    },
};

const restoreBesideDrTest: Scenario = {
    name: "a live restore beside the monthly DR test is refused while the test runs; the test completes, the live data untouched",
    async run(env, log) {
        await ensureBase(env);
        diverge(env, "beside-dr");
        const before = dataState(env);
        const dr = runHeld(env, "sofia-restore", ["--scratch", BASE], "fetching:HOLD");
        const got = await reached(dr);
        const live = await env.runHost("sofia-restore", [BASE], { SOFIA_OPS_WAIT: "0" });
        release(dr);
        const r = await dr.done;
        log(`DR test held while downloading; live restore: exit ${live.status}; the DR test: exit ${r.status}`);
        return [
            check("the DR test reached its download", got),
            check("the live restore is refused, naming the DR test", live.status === 1 && /holds the host lock: sofia-restore --scratch drill-fault-base/.test(live.stderr), live.stderr),
            check("the DR test completes", r.status === 0 && /DR test of drill-fault-base passed/.test(r.stdout), r.stderr.slice(-500)),
            ...invariantChecks(env, before, undefined),
        ];
    },
};

function backupKilled(how: "TERM" | "KILL"): Scenario {
    return {
        name: `a backup ${how === "TERM" ? "stopped by TERM" : "killed (SIGKILL)"} mid-stream with QuestDB's checkpoint held: no marker, the checkpoint released ${how === "TERM" ? "by its trap" : "by the next command"}, the failure published`,
        async run(env, log) {
            const id = `drill-killed-${how.toLowerCase()}`;
            const before = dataState(env);
            const h = runHeld(env, "sofia-backup", ["run"], `checkpoint-held:${how === "TERM" ? "TERM" : "HOLD"}`, { SOFIA_BACKUP_ID: id });
            const got = await reached(h);
            if (how === "KILL") await killTree(h);
            const r = await h.done;
            const heldAfterKill = env.questdb.held;
            // The next entry point: a boot (it releases the checkpoint); then the age publisher (it reports the failure).
            const boot = how === "KILL" ? await env.runHost("sofia-services", ["start"]) : undefined;
            const age = how === "KILL" ? await env.runHost("sofia-backup", ["age"]) : undefined;
            log(`backup ${id}: ${how} at the checkpoint: exit ${r.status}${boot ? `; boot: exit ${boot.status}; age: exit ${age!.status}` : ""}`);
            return [
                check("it reached its checkpoint", got),
                check("no COMPLETE marker", !env.keys(backupPrefix(id)).some((k) => k.endsWith("/COMPLETE"))),
                ...(how === "KILL"
                    ? [
                          check("killed, it left the checkpoint held (nothing could release it)", heldAfterKill),
                          check("the next command released it, saying so", boot!.status === 0 && /released the QuestDB checkpoint a backup \(drill-killed-kill\) left held/.test(boot!.stdout), boot!.stdout.slice(-500) + boot!.stderr),
                          check("the next backup command published the failure", age!.status === 0 && /backup drill-killed-kill was interrupted before it was complete: its failure \(BackupSuccess=0\) is published now/.test(age!.stdout), age!.stdout + age!.stderr),
                      ]
                    : [check("its trap published the failure, saying what to do", r.status === 1 && /backup drill-killed-term FAILED/.test(r.stderr), r.stderr.slice(-400))]),
                check(`${BACKUP_METRICS.success}=0 reached CloudWatch`, env.metricValues(BACKUP_METRICS.success, { [KIND_DIMENSION]: "full" }).includes(0), JSON.stringify(env.metricValues(BACKUP_METRICS.success, { [KIND_DIMENSION]: "full" }))),
                ...invariantChecks(env, before, undefined),
            ];
        },
    };
}

/**
 * A backup killed, then the next backup of its kind: that run's result stands for both, so the
 * interrupted one's 0 is not published into the period where the new run's 1 goes (the alarm reads
 * the period's minimum, and would stay in ALARM after a good backup).
 */
const backupKilledThenRerun: Scenario = {
    name: "a backup killed (SIGKILL), then the next backup of its kind: its good result clears the failure, no 0 beside its 1",
    async run(env, log) {
        const id = "drill-killed-rerun";
        const h = runHeld(env, "sofia-backup", ["run"], "checkpoint-held:HOLD", { SOFIA_BACKUP_ID: id });
        const got = await reached(h);
        await killTree(h);
        await h.done;
        const boot = await env.runHost("sofia-services", ["start"]);
        const rerun = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: `${id}-next` });
        log(`backup ${id} killed at its checkpoint; boot: exit ${boot.status}; the next full backup: exit ${rerun.status}`);
        return [
            check("it reached its checkpoint", got),
            check("the next full backup completes", rerun.status === 0, rerun.stderr.slice(-400)),
            check("it says its result stands for the interrupted one", /backup drill-killed-rerun was interrupted before it was complete; this full backup's result stands for it/.test(rerun.stdout), rerun.stdout.slice(0, 600)),
            check("it did not publish the interrupted one's failure", !/drill-killed-rerun was interrupted .* is published now/.test(rerun.stdout)),
        ];
    },
};

/** A backup stopped between its COMPLETE marker and its index entry (its own trap runs for TERM; not for KILL). */
function backupStoppedComplete(how: "TERM" | "KILL"): Scenario {
    return {
        name: `a backup ${how === "TERM" ? "stopped by TERM" : "killed"} between its COMPLETE marker and its index entry: the next backup command indexes it`,
        async run(env, log) {
            const id = `drill-${how.toLowerCase()}-complete-redis`;
            const h = runHeld(env, "sofia-backup", ["run", "--only", "redis"], `complete:${how === "TERM" ? "TERM" : "HOLD"}`, { SOFIA_BACKUP_ID: id });
            const got = await reached(h);
            if (how === "KILL") await killTree(h);
            const r = await h.done;
            const indexedBefore = env.keys(`${DRILL_STACK}/redis/index/`).some((k) => k.endsWith(`-${id}`));
            const next = await env.runHost("sofia-backup", ["age"]);
            const list = await env.runHost("sofia-backup", ["list", "--kind", "redis"]);
            log(`${how} after COMPLETE: indexed then: ${indexedBefore}; sofia-backup age: exit ${next.status}`);
            return [
                check("it reached its marker", got),
                check(`${how === "TERM" ? "stopped" : "killed"} there, it is complete but not yet indexed`, !indexedBefore && env.keys(backupPrefix(id)).some((k) => k.endsWith("/COMPLETE"))),
                ...(how === "TERM"
                    ? [check("its trap says it is complete and will be indexed, not that it failed", /backup drill-term-complete-redis is complete \(its COMPLETE marker is written\) but not yet indexed/.test(r.stderr) && !/FAILED/.test(r.stderr), r.stderr.slice(-500))]
                    : []),
                check("the next backup command indexes it, saying so", next.status === 0 && new RegExp(`backup ${id} was complete when it was interrupted: indexed now`).test(next.stdout), next.stdout + next.stderr),
                check("and it is listed among the Redis-only backups", new RegExp(id).test(list.stdout), list.stdout),
            ];
        },
    };
}
const backupKilledComplete = backupStoppedComplete("KILL");

const releaseRefused: Scenario = {
    name: "QuestDB refuses to release the checkpoint: the record stays, and the next command releases it",
    async run(env, log) {
        const before = dataState(env);
        env.questdb.release = "error";
        const b = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: "drill-release-refused" });
        const heldAfter = env.questdb.held;
        env.questdb.release = "ok";
        const next = await env.runHost("sofia-services", ["start"]);
        log(`backup with QuestDB refusing RELEASE: exit ${b.status}, held after: ${heldAfter}; the next command: exit ${next.status}`);
        return [
            check("the backup says the checkpoint could not be released, and that the next command tries again", /could not release the QuestDB checkpoint; the next Sofia command tries again/.test(b.stderr), b.stderr.slice(-500)),
            check("QuestDB still held it", heldAfter),
            check("the next command released it, naming the backup", next.status === 0 && /released the QuestDB checkpoint a backup \(drill-release-refused\) left held/.test(next.stdout), next.stdout.slice(-500) + next.stderr),
            ...invariantChecks(env, before, undefined),
        ];
    },
};

const stuckContainer: Scenario = {
    name: "a container that does not stop: nothing is renamed under it, the journal stays; once it stops, the next command puts everything back",
    async run(env, log) {
        await ensureBase(env);
        diverge(env, "stuck");
        const before = dataState(env);
        const stuck = path.join(env.state, "sofia-redis.stuck");
        fs.writeFileSync(stuck, "");
        const r = await env.runHost("sofia-restore", [BASE]);
        const renamed = fs.readdirSync(path.dirname(env.redisDir)).some((d) => d.endsWith(".before-restore"));
        const journalKept = fs.existsSync(path.join(env.dataPath, "sofia-ops.journal"));
        fs.rmSync(stuck);
        const next = await env.runHost("sofia-services", ["start"]);
        log(`restore with sofia-redis stuck: exit ${r.status}; the next start, once it stops: exit ${next.status}`);
        return [
            check("the restore fails, naming the container that would not stop", r.status === 1 && /sofia-redis still running after docker stop/.test(r.stderr), r.stderr.slice(-600)),
            check("and says the data from before could not be put back yet, the journal staying", /putting the data from before it back did not finish \(above\); its journal stays/.test(r.stderr), r.stderr.slice(-600)),
            check("nothing was renamed under the running store", !renamed),
            check("the journal stays while it runs", journalKept),
            check("the next command recovers and starts every service", next.status === 0, next.stdout.slice(-500) + next.stderr),
            ...invariantChecks(env, before, undefined),
        ];
    },
};

/**
 * The data volume filling up under a download: the restore runs in a private mount namespace whose
 * data directory is a tmpfs just big enough for the live data, and another process fills it while
 * the restore downloads. Needs root (a mount); the drill says so if it is not.
 */
const diskFills: Scenario = {
    name: "the disk fills during the download: refused with the room named, nothing stopped, live data untouched",
    async run(env, log) {
        if (process.getuid?.() !== 0) return [check("runs as root (it mounts a small tmpfs in a private namespace)", false, "run npm run drill as root")];
        await ensureBase(env);
        const before = dataState(env);
        const stops = () => (fs.existsSync(path.join(env.dir, "docker.log")) ? fs.readFileSync(path.join(env.dir, "docker.log"), "utf8").split("\n").filter((l) => l.startsWith("stop ")).length : 0);
        const stopped = stops();
        const data = env.dataPath;
        const used = Number(spawnSync("du", ["-sb", data], { encoding: "utf8" }).stdout.split("\t")[0]);
        // A copy of the data volume on a tmpfs with 3 MiB to spare: the space check passes; then another
        // process fills the disk right as the download starts.
        const script = [
            "set -euo pipefail",
            `cp -a ${data} ${data}.orig`,
            `mount -t tmpfs -o size=$(( ${used} + 3145728 + 1048576 )) tmpfs ${data}`,
            `cp -a ${data}.orig/. ${data}/`,
            `hash() { for v in ${FILE_VOLUMES.map((v) => volumeHostPath(data, v)).join(" ")}; do (cd "$v" && find . -type f -print0 | sort -z | xargs -0 sha256sum); done | sha256sum; }`,
            "before=$(hash)",
            // Filled to within 64 KiB: the restore's own small files still fit, the data does not.
            `(while [ ! -e ${env.dir}/disk-mark ]; do sleep 0.05; done; avail=$(df -B1 --output=avail ${data} | tail -n 1); dd if=/dev/zero of=${data}/filler bs=4096 count=$(( (avail - 65536) / 4096 )) 2>/dev/null || true; rm -f ${env.dir}/disk-mark) &`,
            `set +e; bash ${path.join(projectRoot(), "host", "sofia-restore.sh")} ${BASE}; rc=$?; set -e`,
            'after=$(hash)',
            'echo "rc=$rc same=$([ "$before" = "$after" ] && echo yes || echo no) runs=$(ls ' + `${data}/backup-staging 2>/dev/null | grep -c '^run\\.' || true)"`,
        ].join("\n");
        // Not spawnSync: the S3 proxy the restore talks to is served by this very process.
        const r = await runAsync("unshare", ["--mount", "--propagation", "private", "bash", "-c", script], env.scriptEnv({ SOFIA_RESTORE_MIN_FREE_BYTES: "0", SOFIA_FAULT: "fetching:HOLD", SOFIA_FAULT_MARK: path.join(env.dir, "disk-mark") }));
        fs.rmSync(`${data}.orig`, { recursive: true, force: true });
        const result = /rc=(\d+) same=(\w+) runs=(\d+)/.exec(r.stdout);
        log(`restore with the data volume filling during the download: ${result?.[0] ?? `exit ${r.status}`}`);
        return [
            check("the restore fails", result?.[1] === "1", r.stdout.slice(-400) + r.stderr.slice(-800)),
            check("saying the write failed and how much room is left", /No space left on device.*free on the data volume/.test(r.stderr), r.stderr.slice(-800)),
            check("and that nothing was changed", /refused; nothing was changed/.test(r.stderr), r.stderr.slice(-400)),
            check("no service was stopped", stops() === stopped),
            check("the live files on the full volume are untouched, its staging removed", result?.[2] === "yes" && result?.[3] === "0", result?.[0]),
            ...invariantChecks(env, before, undefined),
        ];
    },
};

const rebootWhileSwapping = restoreKill("swapping", "boot", true);
const termWhileVerifying = restoreTerm("verifying", "before");
const killAfterVerified = restoreKill("verified", "retry");
const backupKilledHard = backupKilled("KILL");

/** Every fault case, as `npm run drill` runs them. */
/**
 * A deploy's quiesce killed half-way (some writers stopped, some not), then the deploy gone: before
 * the deadline the watchdog leaves the writers alone; past it, it starts every one; run twice, a
 * quiesce is harmless, and a resume starts them all.
 */
const quiesceKilled: Scenario = {
    name: "a deploy's quiesce killed (SIGKILL) half-way: the watchdog leaves the writers until the deadline, then starts every one; quiesce twice, then resume, is harmless",
    async run(env, log) {
        const writers = ["crypto-ws", "equities", "ts-writer", "news", "whale-alerts"];
        const running = (n: string) => fs.readFileSync(path.join(env.state, `sofia-${n}.running`), "utf8").trim() === "true";
        const mark = path.join(env.dir, "var", "quiesced");
        const h = runHeld(env, "sofia-services", ["quiesce", "60"], "quiesced-stage-4:HOLD");
        const got = await reached(h);
        await killTree(h);
        await h.done;
        const half = writers.filter((w) => !running(w));
        const early = await env.runHost("sofia-services", ["watchdog"]);
        const stillStopped = half.every((w) => !running(w));
        fs.writeFileSync(mark, `${Math.floor(Date.now() / 1000) - 1}\n`);
        const late = await env.runHost("sofia-services", ["watchdog"]);
        const allBack = writers.every(running) && !fs.existsSync(mark);
        const twice = [await env.runHost("sofia-services", ["quiesce", "60"]), await env.runHost("sofia-services", ["quiesce", "60"])];
        const quiet = writers.every((w) => !running(w));
        const resume = await env.runHost("sofia-services", ["resume"]);
        log(`quiesce killed after ${half.join(", ")} stopped; watchdog before the deadline: exit ${early.status}; after: exit ${late.status}; resume: exit ${resume.status}`);
        return [
            check("it was killed with the later stage's writers stopped and the others running", got && half.length > 0 && half.length < writers.length, half.join(", ")),
            check("before the deadline the watchdog leaves them stopped", early.status === 0 && stillStopped, early.stdout.slice(-400)),
            check("past the deadline it starts every writer and clears the record", late.status === 0 && allBack, late.stdout.slice(-400) + late.stderr),
            check("quiesce twice is harmless", twice.every((r) => r.status === 0) && quiet, twice.map((r) => r.stderr).join("")),
            check("resume starts them all and clears the record", resume.status === 0 && writers.every(running) && !fs.existsSync(mark), resume.stderr),
        ];
    },
};

/**
 * The ECS apps' files restored onto a file system of their own (EFS on the store host; tmpfs here):
 * unpacked beside the live directory there, so that the swap stays a rename. Killed while it
 * unpacks, the retried update restores them whole, and no partial copy or safety copy is left.
 */
const killMidSharedCopy: Scenario = {
    name: "restore killed (SIGKILL, the whole tree) while it unpacks the apps' files onto their own file system, then the retried update: the backup's files, whole",
    async run(env, log) {
        return env.withSharedModels("1000:1000", async (models, shared) => {
            // Large enough that the copy takes a while: the kill lands in it.
            for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(models, `part-${i}.bin`), Buffer.alloc(1024 * 1024, i));
            const b = await env.runHost("sofia-backup", ["run"], { SOFIA_BACKUP_ID: "drill-fault-shared" });
            if (b.status !== 0) throw new Error(`drill: the shared files' backup failed: ${b.stderr}`);
            const backed = treeHash(models);
            // The rest of the live data is the backup's (taken just now): the retry must leave it so.
            const backupState = dataState(env);
            fs.writeFileSync(path.join(models, "live.txt"), "written after the backup");
            const h = runHeld(env, "sofia-restore", ["drill-fault-shared"], "fetching:HOLD");
            const got = await reached(h);
            release(h);
            // Killed once the unpacking beside the live directory has begun.
            const partial = `${models}.restore-new`;
            for (let i = 0; i < 6000 && !fs.existsSync(partial) && h.child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 10));
            const unpacking = fs.existsSync(partial);
            await new Promise((r) => setTimeout(r, 50));
            await killTree(h);
            const partialLeft = fs.existsSync(partial);
            const left = `${fs.readdirSync(shared).join(", ")}; models ${fs.existsSync(models) ? `${fs.readdirSync(models).length} entries` : "missing"}`;
            // The next command that takes the lock (the backup-age publisher, every few minutes) removes the partial copy: EFS bills for it.
            const age = await env.runHost("sofia-backup", ["age"]);
            const partialAfterAge = fs.existsSync(partial);
            const r = await env.runHost("sofia-restore", ["drill-fault-shared"]);
            log(`killed while restoring onto ${shared} (it then held ${left}); sofia-backup age: exit ${age.status}, partial copy ${partialAfterAge ? "still there" : "removed"}; the retried restore: exit ${r.status}`);
            return [
                check('it reached "fetching" before it was killed', got),
                check("it was killed while it unpacked the files beside the live ones", unpacking && partialLeft, `left: ${left}`),
                check("the next command that takes the lock (sofia-backup age) removes the partial copy", !partialAfterAge && /removed .*\.restore-new/.test(age.stderr + age.stdout), (age.stderr + age.stdout).slice(-600)),
                check("the retried restore (the next pulumi up) completes", r.status === 0, r.stderr.slice(-600)),
                check("the shared files are the backup's, whole, and nothing written since", treeHash(models) === backed, `after the kill: ${left}`),
                check("no safety copy or partial copy left on the shared file system", fs.readdirSync(shared).join(",") === "models", fs.readdirSync(shared).join(",")),
                ...invariantChecks(env, backupState, backupState),
            ];
        });
    },
};

export const faultScenarios: Scenario[] = [
    restoreTerm("fetching", "before"),
    restoreTerm("stopped", "before"),
    restoreTerm("swapping", "before"),
    restoreTerm("started-stage-0", "before"),
    termWhileVerifying,
    restoreTerm("verified", "backup"),
    restoreKill("fetching", "retry"),
    restoreKill("stopped", "boot", true),
    rebootWhileSwapping,
    restoreKill("started-stage-0", "backup"),
    restoreKill("verifying", "retry"),
    killAfterVerified,
    restoreKill("verified", "boot", true),
    twoRestores,
    restoreBesideBackup,
    restoreBesideDrTest,
    diskFills,
    backupKilled("TERM"),
    backupKilledThenRerun,
    backupKilledHard,
    backupStoppedComplete("TERM"),
    backupKilledComplete,
    releaseRefused,
    stuckContainer,
    quiesceKilled,
    killMidSharedCopy,
];

/** The cases the test command runs (the whole campaign is npm run drill's): one of each kind of fault. */
export const faultSubset: Scenario[] = [rebootWhileSwapping, termWhileVerifying, killAfterVerified, twoRestores, backupKilledHard, stuckContainer];
