/**
 * The house's floors, as the folders' READMEs state them: the model at the bottom, knowing nothing
 * of hosts, clouds or releases; generic components beside it, knowing nothing of Sofia; the
 * release path and the topology above both; nothing below reaching up.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = path.join(__dirname, "..");
const PROGRAM = ["index.ts", "model", "components", "release", "topology"];

function sources(entry: string, ext = ".ts"): string[] {
    const full = path.join(ROOT, entry);
    if (fs.statSync(full).isFile()) return [entry];
    return (fs.readdirSync(full, { recursive: true }) as string[]).filter((f) => f.endsWith(ext)).map((f) => path.join(entry, f));
}

/** Each file's imports of this repository's files, as paths from the root (by the compiler's own reading). */
function imports(file: string): string[] {
    const info = ts.preProcessFile(fs.readFileSync(path.join(ROOT, file), "utf8"), true, false);
    return info.importedFiles.map((f) => f.fileName).filter((f) => f.startsWith(".")).map((f) => path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), f)));
}

const floorOf = (file: string) => (file.startsWith("topology/") ? "topology" : file.split("/")[0].replace(/\.ts$/, ""));

/** What each floor may import besides itself. */
const MAY_IMPORT: Record<string, (target: string) => boolean> = {
    // Pure validators (CIDRs, schedules, image references) and AWS's documented limits are the generic pieces the model uses.
    model: (t) => t === "components/formats" || t === "components/aws-limits",
    components: () => false,
    release: (t) => t.startsWith("model/") || t === "components/formats" || t === "components/project-root",
    topology: (t) => ["model", "components", "release"].includes(floorOf(t)),
    index: (t) => ["model", "release", "topology"].includes(floorOf(t)),
};

describe("the house", () => {
    const files = PROGRAM.flatMap((p) => sources(p));

    it("has every program file on a floor whose rule is written down", () => {
        expect(files.length).toBeGreaterThan(40);
        expect(files.filter((f) => !(floorOf(f) in MAY_IMPORT))).toEqual([]);
    });

    it("keeps every import on its floor or below: the model at the bottom, topology and release above it", () => {
        const wrong = files.flatMap((f) => imports(f).filter((t) => floorOf(t) !== floorOf(f) && !MAY_IMPORT[floorOf(f)](t)).map((t) => `${f} -> ${t}`));
        expect(wrong).toEqual([]);
        // The rule can fail: a model file importing the host topology is caught.
        expect(MAY_IMPORT.model("topology/host/layout")).toBe(false);
    });

    it("keeps every folder under a quarter of the code (the tests aside)", () => {
        const lines = (f: string) => fs.readFileSync(path.join(ROOT, f), "utf8").split("\n").length;
        const tools = ["plan", "policies", "drill", "bench", "scripts", "bootstrap"].flatMap((d) => [...sources(d), ...sources(d, ".sh")]);
        const all = [...files, ...tools, ...sources("host", ".sh")];
        expect(all.length).toBeGreaterThan(90);
        const byFolder = new Map<string, number>();
        const total = all.reduce((n, f) => n + lines(f), 0);
        for (const f of all) byFolder.set(path.dirname(f), (byFolder.get(path.dirname(f)) ?? 0) + lines(f));
        expect([...byFolder].filter(([, n]) => n > total / 4)).toEqual([]);
    });

    it("opens each folder of the program with a README that says what lives there and what it may import", () => {
        for (const dir of ["model", "components", "release", "topology/host"]) {
            const readme = fs.readFileSync(path.join(ROOT, dir, "README.md"), "utf8");
            expect(readme).toMatch(/may import/i);
        }
    });
});
