/**
 * The offline plan of prod against its floor: a bare node process importing the same external
 * packages the program imports (found by reading the program's imports, not listed by hand).
 */
import * as fs from "fs";
import * as path from "path";
import { builtinModules } from "module";
import { projectRoot } from "../components/project-root";
import { Comparison } from "./measure";

const PROGRAM_DIRS = ["components", "model", "topology", "release"];

/**
 * External modules imported by index.ts and the program's folders, as imported: a package that
 * exports subpaths only (@grafana/grafana-foundation-sdk/dashboard, ...) has no module of its own
 * name to require.
 */
export function programPackages(root = projectRoot()): string[] {
    const files = ["index.ts", ...PROGRAM_DIRS.flatMap((d) => (fs.readdirSync(path.join(root, d), { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).map((f) => path.join(d, f)))];
    const found = new Set<string>();
    for (const f of files) {
        for (const m of fs.readFileSync(path.join(root, f), "utf8").matchAll(/^import [^;]*? from "([^".][^"]*)";/gm)) {
            const spec = m[1];
            const pkg = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
            if (!builtinModules.includes(pkg) && !pkg.startsWith("node:")) found.add(spec);
        }
    }
    return [...found].sort();
}

export function planComparison(): Comparison {
    const root = projectRoot();
    const packages = programPackages(root);
    return {
        name: "offline plan of prod",
        subject: { label: "plan", argv: [process.execPath, "scripts/run-ts.js", "scripts/plan.ts", "--stack", "prod", "--json"], cwd: root },
        floorIs: `a bare node importing ${packages.join(", ")}`,
        floor: { label: "floor", argv: [process.execPath, "-e", `for (const p of ${JSON.stringify(packages)}) require(p)`], cwd: root },
        target: 1.5,
    };
}

/** The ECS topology's offline plan against the host topology's, same stack (issue: "the same time class"). */
export function ecsPlanComparison(): Comparison {
    const root = projectRoot();
    const plan = (...extra: string[]) => [process.execPath, "scripts/run-ts.js", "scripts/plan.ts", "--stack", "prod", "--json", ...extra];
    return {
        name: "offline plan of prod on ECS",
        subject: { label: "plan (topology ecs)", argv: plan("--set", "topology=ecs"), cwd: root },
        floorIs: "the same stack's offline plan on one host",
        floor: { label: "plan (topology host)", argv: plan(), cwd: root },
        target: 1.5,
    };
}
