/** Shared timing for the benchmarks: interleaved runs of a subject and its floor, medians, ratio. */
import { spawn } from "child_process";
import * as os from "os";
import { parseTimes, serversCpu, withTimes } from "./cpu";

export interface Command {
    label: string;
    argv: string[];
    cwd?: string;
    env?: NodeJS.ProcessEnv;
}

export interface Comparison {
    name: string;
    subject: Command;
    floor: Command;
    /** What the floor is, in words, for the report. */
    floorIs: string;
    /** The subject may cost at most this many times the floor. */
    target: number;
    /** Runs before each timed subject or floor run (e.g. to undo what the last one did); not timed. */
    reset?: () => void;
    /** Processes outside the commands that do their work (the emulator, the store): their CPU counts with them. */
    servers?: () => number[];
    /**
     * The least any subject doing what the issue requires could cost with the same tools: the floor's
     * work plus only the steps that must follow it. Measured in the same run, it shows whether the
     * target lies within reach at all.
     */
    bound?: Command & { is: string; /** The subject may cost at most this many times the bound. @default no target */ target?: number };
}

/** One timed run: wall milliseconds and CPU seconds (the command's, and the servers' meanwhile). */
export interface Sample {
    ms: number;
    cpu: number;
}

export interface Result {
    subject: number;
    floor: number;
    ratio: number;
    ok: boolean;
    subjectCpu: number;
    floorCpu: number;
    /** The wall time the subject's median CPU needs at the least on this machine's cores. */
    subjectCpuBoundMs: number;
    cores: number;
    /** The bound's median wall time, its ratio to the floor, and the subject's ratio to it, when the comparison has one. */
    bound?: { ms: number; ratio: number; subjectRatio: number; ok: boolean };
}

export function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Asynchronous: the doubles some commands talk to are served by this very process.
async function timeOnce(c: Command, servers: number[], reset?: () => void): Promise<Sample> {
    reset?.();
    const cpuBefore = serversCpu(servers);
    const start = process.hrtime.bigint();
    const argv = withTimes(c.argv);
    const child = spawn(argv[0], argv.slice(1), { cwd: c.cwd, env: c.env, stdio: ["ignore", "ignore", "pipe", "pipe"] });
    let stderr = "";
    let times = "";
    child.stderr!.on("data", (d) => (stderr += d));
    child.stdio[3]!.on("data", (d) => (times += d));
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (status !== 0) throw new Error(`${c.label} failed (exit ${status}): ${stderr}`);
    return { ms, cpu: parseTimes(times) + serversCpu(servers) - cpuBefore };
}

/**
 * Runs subject, floor (and bound) in turn, so that all see the same machine state, `runs` times each
 * after a warm-up. Each round starts with a different one: whatever a run leaves behind (the
 * emulator's garbage, Redis' forked child exiting) does not always fall on the same command.
 */
export async function compare(c: Comparison, runs: number, log: (s: string) => void): Promise<Result> {
    const servers = c.servers?.() ?? [];
    const commands = [c.subject, c.floor, ...(c.bound ? [c.bound] : [])];
    for (const command of commands) await timeOnce(command, servers, c.reset);
    const samples: Sample[][] = commands.map(() => []);
    const show = (x: Sample) => `${x.ms.toFixed(0)} ms (cpu ${x.cpu.toFixed(2)} s)`;
    for (let i = 0; i < runs; i++) {
        for (let j = 0; j < commands.length; j++) {
            const k = (i + j) % commands.length;
            samples[k].push(await timeOnce(commands[k], servers, c.reset));
        }
        log(`  run ${i + 1}/${runs}: ${commands.map((command, k) => `${command.label} ${show(samples[k][i])}`).join(", ")}`);
    }
    const [s, f, b] = samples;
    const subject = median(s.map((x) => x.ms));
    const floor = median(f.map((x) => x.ms));
    const ratio = subject / floor;
    const subjectCpu = median(s.map((x) => x.cpu));
    const cores = os.availableParallelism();
    const boundMs = b && median(b.map((x) => x.ms));
    const bound = boundMs === undefined ? undefined : { ms: boundMs, ratio: boundMs / floor, subjectRatio: subject / boundMs, ok: c.bound?.target === undefined || subject / boundMs <= c.bound.target };
    return { subject, floor, ratio, ok: ratio <= c.target && (bound?.ok ?? true), subjectCpu, floorCpu: median(f.map((x) => x.cpu)), subjectCpuBoundMs: (subjectCpu / cores) * 1000, cores, bound };
}
