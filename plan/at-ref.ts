/**
 * The offline plan of a stack as of a git ref: a temporary worktree of that commit, with its own
 * stack file and its own program, planned by its own `npm run plan -- --json` in a child process
 * (the Pulumi runtime is process-global). The worktree borrows this checkout's node_modules.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Plan, PlannedResource } from "./offline";
import { InputError, PROJECT_DIR } from "./stack-config";

/** A ref that names no commit, or whose plan fails. */
export class RefError extends InputError {}

function git(args: string[], cwd = PROJECT_DIR): { ok: boolean; out: string; err: string } {
    const r = spawnSync("git", args, { cwd, encoding: "utf8" });
    return { ok: r.status === 0, out: (r.stdout ?? "").trim(), err: (r.stderr ?? r.error?.message ?? "").trim() };
}

/** The commit a ref names; a RefError naming the ref when it names none. */
export function commitOf(ref: string, cwd = PROJECT_DIR): string {
    // A ref that starts with "-" would be read by git as an option.
    if (!ref || ref.startsWith("-")) throw new RefError(`--diff needs a git ref (a branch, tag or commit), not "${ref}"`);
    const r = git(["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`], cwd);
    if (!r.ok || !/^[0-9a-f]{40}$/.test(r.out)) throw new RefError(`--diff ${ref}: no such commit in ${cwd} (git rev-parse: ${r.err || "unknown revision"})`);
    return r.out;
}

interface PlanJsonResource extends Omit<PlannedResource, "parent" | "options" | "custom"> {
    parent: string | null;
    options?: PlannedResource["options"];
    custom?: boolean;
}

/** A plan read back from `npm run plan -- --json` (older versions lack `custom` and `options`). */
export function planFromJson(project: string, text: string): Plan {
    const doc = JSON.parse(text) as { stack: string; resources: PlanJsonResource[]; outputs: Record<string, unknown> };
    const resources = doc.resources.map((r) => ({
        ...r,
        parent: r.parent ?? undefined,
        options: r.options ?? {},
        // Components of this program are all "sofia:" types; the stack is Pulumi's own.
        custom: r.custom ?? !(r.type.startsWith("sofia:") || r.type === "pulumi:pulumi:Stack"),
    }));
    return { project, stack: doc.stack, resources, outputs: doc.outputs ?? {}, messages: [] };
}

export interface RefPlan {
    plan: Plan;
    commit: string;
    notes: string[];
}

// The owning process's id is in the name (sofia-plan-<pid>-<stack>-XXXXXX): no window in which
// a worktree exists without it, as a file written after `git worktree add` would leave.
const WORKTREE_PREFIX = "sofia-plan-";

/** Removes a worktree of ours: the borrowed packages unlinked first, never followed. */
function removeWorktree(dir: string): void {
    const link = path.join(dir, "node_modules");
    if (fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) fs.unlinkSync(link);
    if (!git(["worktree", "remove", "--force", dir]).ok) fs.rmSync(dir, { recursive: true, force: true });
}

/** Worktrees an earlier run left when it was killed (its process is gone): removed. */
function removeLeftovers(): void {
    const listed = git(["worktree", "list", "--porcelain"]).out.split("\n").filter((l) => l.startsWith("worktree ")).map((l) => l.slice("worktree ".length));
    for (const dir of listed.filter((d) => path.basename(d).startsWith(WORKTREE_PREFIX))) {
        const owner = Number(/^sofia-plan-(\d+)-/.exec(path.basename(dir))?.[1] ?? 0);
        let alive = false;
        try {
            process.kill(owner, 0);
            alive = owner > 0;
        } catch {
            alive = false;
        }
        if (!alive) removeWorktree(dir);
    }
    // Entries of worktrees whose directories are gone.
    git(["worktree", "prune"]);
}

/** Plans `stack` as of `ref`. The worktree is removed whatever happens, a Ctrl-C included. */
export function planAtRef(ref: string, stack: string, project: string): RefPlan {
    const commit = commitOf(ref);
    try {
        removeLeftovers();
    } catch {
        // A leftover we cannot read is left for git worktree prune; it does not stop this run.
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${WORKTREE_PREFIX}${process.pid}-${stack}-`));
    const notes: string[] = [];
    // A signal during the child's run is handled once it returns: clean up, then go as asked.
    let stopped: NodeJS.Signals | undefined;
    const stop = (sig: NodeJS.Signals) => (stopped = sig);
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, stop);
    try {
        const added = git(["worktree", "add", "--detach", "--quiet", dir, commit]);
        if (!added.ok) throw new RefError(`--diff ${ref}: could not check out ${commit.slice(0, 12)} into a temporary worktree: ${added.err}`);
        if (!fs.existsSync(path.join(dir, `Pulumi.${stack}.yaml`))) {
            notes.push(`${ref} has no Pulumi.${stack}.yaml: the stack is new, everything in it is created`);
            return { plan: { project, stack, resources: [], outputs: {}, messages: [] }, commit, notes };
        }
        const runner = path.join(dir, "scripts", "run-ts.js");
        if (!fs.existsSync(runner)) throw new RefError(`--diff ${ref}: that commit predates the offline plan (no scripts/run-ts.js)`);
        const lock = (root: string) => (fs.existsSync(path.join(root, "package-lock.json")) ? fs.readFileSync(path.join(root, "package-lock.json"), "utf8") : "");
        if (lock(dir) !== lock(PROJECT_DIR)) notes.push(`${ref} pins other package versions than the working tree; it was planned with the working tree's node_modules`);
        // A commit that tracks node_modules itself keeps its own.
        if (!fs.existsSync(path.join(dir, "node_modules"))) fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(dir, "node_modules"), "dir");
        const r = spawnSync(process.execPath, [runner, "scripts/plan.ts", "--stack", stack, "--json"], { cwd: dir, encoding: "utf8", maxBuffer: 512 * 1024 * 1024 });
        if (r.status !== 0) throw new RefError(`--diff ${ref}: the plan of stack "${stack}" as of ${commit.slice(0, 12)} failed:\n${(r.stderr || r.error?.message || "").trim()}`);
        return { plan: planFromJson(project, r.stdout), commit, notes };
    } finally {
        removeWorktree(dir);
        git(["worktree", "prune"]);
        for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(sig, stop);
        if (stopped) process.kill(process.pid, stopped);
    }
}
