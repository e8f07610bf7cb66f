/**
 * CPU seconds a benchmarked command costs: its own and its descendants' (from bash's `times`), plus
 * what the servers it talks to spend meanwhile (moto, redis-server: not its descendants, but doing its
 * work). On a machine with few cores, shared with those servers, CPU rather than waiting bounds the wall
 * time, and the report says so.
 */
import * as fs from "fs";
import { execFileSync } from "child_process";

/** The command, run by bash, which afterwards writes its children's CPU times on file descriptor 3. */
export function withTimes(argv: string[]): string[] {
    return ["bash", "-c", '"$@"; rc=$?; times >&3; exit "$rc"', "bench", ...argv];
}

/** Children's user + system seconds from bash's `times` output (second line: "0m1.234s 0m0.567s"). */
export function parseTimes(out: string): number {
    const line = out.trim().split("\n")[1];
    const parts = line?.match(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/);
    if (!parts) throw new Error(`bench: unexpected output from bash's times: ${JSON.stringify(out)}`);
    const [, um, us, sm, ss] = parts;
    return Number(um) * 60 + Number(us) + Number(sm) * 60 + Number(ss);
}

let ticks: number | undefined;
function clockTicks(): number {
    ticks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    return ticks;
}

/** CPU seconds a running process has used, with its reaped children's (redis-server's snapshot forks). */
export function processCpu(pid: number): number {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3,
    // utime, stime, cutime, cstime are fields 14 to 17.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / clockTicks();
}

export function serversCpu(pids: number[]): number {
    return pids.reduce((sum, pid) => sum + processCpu(pid), 0);
}
