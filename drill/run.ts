/**
 * Runs a command without blocking this process: the tests serve the HTTP endpoints (and doubles)
 * the command calls, which spawnSync would starve.
 */
import { execFileSync, spawn } from "child_process";

export interface RunResult {
    status: number | null;
    stdout: string;
    stderr: string;
}

export function runAsync(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
    const child = spawn(command, args, { env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

/** The mount point a path lives on: the drills' stand-in for the host's data volume mount. */
export function mountPointOf(p: string): string {
    return execFileSync("findmnt", ["-n", "-o", "TARGET", "--target", p], { encoding: "utf8" }).trim();
}
