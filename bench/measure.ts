/** Shared timing for the benchmarks: interleaved runs of a subject and its floor, medians, ratio. */
import { spawn } from "child_process";

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
}

export function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Asynchronous: the doubles some commands talk to are served by this very process.
async function timeOnce(c: Command, reset?: () => void): Promise<number> {
    reset?.();
    const start = process.hrtime.bigint();
    const child = spawn(c.argv[0], c.argv.slice(1), { cwd: c.cwd, env: c.env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (status !== 0) throw new Error(`${c.label} failed (exit ${status}): ${stderr}`);
    return ms;
}

/** Runs subject and floor alternately (so both see the same machine state), `runs` times each after a warm-up. */
export async function compare(c: Comparison, runs: number, log: (s: string) => void): Promise<{ subject: number; floor: number; ratio: number; ok: boolean }> {
    await timeOnce(c.subject, c.reset);
    await timeOnce(c.floor, c.reset);
    const s: number[] = [];
    const f: number[] = [];
    for (let i = 0; i < runs; i++) {
        s.push(await timeOnce(c.subject, c.reset));
        f.push(await timeOnce(c.floor, c.reset));
        log(`  run ${i + 1}/${runs}: ${c.subject.label} ${s[i].toFixed(0)} ms, ${c.floor.label} ${f[i].toFixed(0)} ms`);
    }
    const subject = median(s);
    const floor = median(f);
    const ratio = subject / floor;
    return { subject, floor, ratio, ok: ratio <= c.target };
}
