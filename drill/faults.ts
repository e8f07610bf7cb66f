/**
 * The fault drill's instruments: running a host script in its own process tree that can be held
 * at a named point (host/sofia-ops.sh fault_point) or killed whole, a reboot, and the data-safety
 * invariant: the live data equals, byte for byte, either the data from before or the backup,
 * services run, and nothing is left held (lock, checkpoint, journal, safety copy, staging).
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { stagingPath } from "../components/host";
import { projectRoot } from "../components/project-root";
import { sofiaCatalog } from "../model/catalog";
import { Check } from "./backup-scenarios";
import { DrillEnv, Run } from "./env";
import { volumeHostPath } from "../topology/host/layout";

const check = (what: string, ok: boolean, detail?: string): Check => ({ what, ok, detail: ok ? undefined : detail });

/** The live directories a restore swaps (besides Redis, whose dataset DEBUG DIGEST compares). */
export const FILE_VOLUMES = ["questdb-data", "models", "ui-extensions"];

/** What the live data is: Redis' dataset digest and a hash of every file (path, mode, bytes) of each volume. */
export interface DataState {
    redis: string;
    volumes: Record<string, string>;
}

export function treeHash(dir: string): string {
    const h = createHash("sha256");
    const walk = (d: string) => {
        for (const name of fs.readdirSync(d).sort()) {
            const p = path.join(d, name);
            const rel = path.relative(dir, p);
            // The restore's own trigger for QuestDB: not data.
            if (rel === "_restore") continue;
            const st = fs.lstatSync(p);
            if (st.isDirectory()) walk(p);
            else h.update(`${rel}\0${st.mode & 0o777}\0`).update(fs.readFileSync(p)).update("\0");
        }
    };
    if (!fs.existsSync(dir)) return "missing";
    walk(dir);
    return h.digest("hex");
}

export function dataState(env: DrillEnv): DataState {
    return {
        redis: env.redisCli(["DEBUG", "DIGEST"]).stdout.trim() || "down",
        volumes: Object.fromEntries(FILE_VOLUMES.map((v) => [v, treeHash(volumeHostPath(env.dataPath, v))])),
    };
}

const same = (a: DataState, b: DataState) => JSON.stringify(a) === JSON.stringify(b);

/** Makes the live data differ from any backup in every store: Redis and each volume. */
export function diverge(env: DrillEnv, tag: string): void {
    for (let i = 0; i < 50; i++) env.redisCli(["SET", `live:${tag}:${i}`, `written after the backup ${i}`]);
    env.redisCli(["DEL", "quote:0", "position:1"]);
    for (const v of FILE_VOLUMES) fs.writeFileSync(path.join(volumeHostPath(env.dataPath, v), `live-${tag}.txt`), `${tag}\n`);
}

/** A host script held in its own process group, so that it can be killed whole, as SSM or a reboot would. */
export interface Held {
    child: ChildProcess;
    done: Promise<Run>;
    mark: string;
}

export function runHeld(env: DrillEnv, script: string, args: string[], fault: string, extra: Record<string, string> = {}): Held {
    const mark = path.join(env.dir, `fault-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const started = Date.now();
    const child = spawn("bash", [path.join(projectRoot(), "host", `${script}.sh`), ...args], {
        env: env.scriptEnv({ SOFIA_FAULT: fault, SOFIA_FAULT_MARK: mark, ...extra }),
        detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const done = new Promise<Run>((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr, seconds: (Date.now() - started) / 1000 })));
    return { child, done, mark };
}

/** Resolves once the held script reached its point (or ended without reaching it). */
export async function reached(h: Held, timeoutMs = 90_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
        if (fs.existsSync(h.mark)) return true;
        if (h.child.exitCode !== null) return false;
        await new Promise((r) => setTimeout(r, 50));
    }
    return false;
}

/** Lets a held script go on. */
export function release(h: Held): void {
    fs.rmSync(h.mark, { force: true });
}

/** SIGKILL to the whole process tree: what SSM does after its timeout, and what a reboot does. */
export async function killTree(h: Held): Promise<Run> {
    try {
        process.kill(-h.child.pid!, "SIGKILL");
    } catch {
        // already gone
    }
    return h.done;
}

/** A reboot: every process of the operation gone, every container down (the docker double), tmpfs cleared. */
export async function reboot(env: DrillEnv, h?: Held): Promise<void> {
    if (h) await killTree(h);
    await env.stopRedis();
    for (const e of sofiaCatalog("questdb")) fs.writeFileSync(path.join(env.state, `sofia-${e.name}.running`), "false\n");
}

/** The invariant after an interrupted operation and the next entry point. */
export function invariantChecks(env: DrillEnv, before: DataState, backup: DataState | undefined, label = ""): Check[] {
    const now = dataState(env);
    const which = same(now, before) ? "the data from before" : backup && same(now, backup) ? "the backup" : "neither";
    const lock = spawnSync("flock", ["-n", path.join(env.dir, "ops.lock"), "true"]);
    const staging = stagingPath(env.dataPath);
    const leftovers = [
        ...FILE_VOLUMES.map((v) => volumeHostPath(env.dataPath, v)),
        env.redisDir,
    ].filter((d) => fs.existsSync(`${d}.before-restore`));
    const notRunning = sofiaCatalog("questdb").filter((e) => fs.readFileSync(path.join(env.state, `sofia-${e.name}.running`), "utf8").trim() !== "true");
    const p = label ? `${label}: ` : "";
    return [
        check(`${p}the live data is, byte for byte, ${backup ? "the data from before or the backup" : "the data from before"} (it is ${which})`, which !== "neither", JSON.stringify({ now, before, backup })),
        check(`${p}every service runs, Redis answers`, notRunning.length === 0 && env.redisCli(["PING"]).stdout.trim() === "PONG", `not running: ${notRunning.map((e) => e.name).join(", ")}`),
        check(`${p}no journal, no safety copy, no staging left`, !fs.existsSync(path.join(env.dataPath, "sofia-ops.journal")) && leftovers.length === 0 && !(fs.existsSync(staging) && fs.readdirSync(staging).some((d) => d.startsWith("run."))), `journal: ${fs.existsSync(path.join(env.dataPath, "sofia-ops.journal"))}, safety copies: ${leftovers.join(", ")}`),
        check(`${p}the host lock is free, no QuestDB checkpoint held`, lock.status === 0 && !env.questdb.held, `lock: ${lock.status}, checkpoint: ${env.questdb.held}`),
        check(`${p}the maintenance page is down`, !fs.existsSync(env.pageFlag)),
    ];
}

/** Which of the two the data now is. */
export function isState(env: DrillEnv, s: DataState): boolean {
    return same(dataState(env), s);
}
