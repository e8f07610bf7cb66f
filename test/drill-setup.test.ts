/**
 * `npm run drill` on a machine that lacks what it runs: one line saying what to do, exit 1 within
 * seconds, and nothing it started left running (moto_server, the proxies).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../components/project-root";

/** A PATH that has every command this machine has except those named. */
function pathWithout(names: RegExp): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-path-"));
    for (const d of (process.env.PATH ?? "").split(":").filter(Boolean)) {
        if (!fs.existsSync(d)) continue;
        for (const f of fs.readdirSync(d)) {
            const link = path.join(dir, f);
            if (!names.test(f) && !fs.existsSync(link)) fs.symlinkSync(path.join(d, f), link);
        }
    }
    return dir;
}

/** Processes still carrying a marker in their environment (whatever became of their parent). */
function carrying(marker: string): number[] {
    return fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
            return fs.readFileSync(`/proc/${p}/environ`, "utf8").includes(marker);
        } catch {
            return false;
        }
    }).map(Number);
}

describe("npm run drill without its prerequisites", () => {
    for (const [what, missing, said] of [
        ["redis-server", /^redis-/, /^drill: redis-server did not start .*prereqs\.js --install\n$/],
        ["moto_server", /^moto_server$/, /^drill: moto_server could not be started .*pip install 'moto\[server\]' awscli\n$/],
    ] as const) {
        it(`says what to do without ${what}, exits, and leaves nothing running`, () => {
            const marker = `SOFIA_DRILL_MARK=${process.pid}-${what}`;
            const t0 = Date.now();
            const r = spawnSync(process.execPath, [path.join(projectRoot(), "scripts", "run-ts.js"), "scripts/drill.ts", "--only", "backup"], {
                cwd: projectRoot(),
                encoding: "utf8",
                env: { ...process.env, PATH: pathWithout(missing), SOFIA_DRILL_MARK: marker.split("=")[1] },
                timeout: 60_000,
            });
            expect(r.status).toBe(1);
            expect(r.stderr).toMatch(said);
            expect(Date.now() - t0).toBeLessThan(30_000);
            expect(carrying(marker)).toEqual([]);
        }, 90_000);
    }
});
