/** The headless browser the tests drive: the first of these on PATH (scripts/prereqs.js installs one). */
import { spawnSync } from "child_process";

const CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

export function browserPath(): string {
    for (const name of CANDIDATES) {
        const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
        if (found) return found;
    }
    throw new Error(`no headless browser (${CANDIDATES.join(", ")}) on PATH: node scripts/prereqs.js --install`);
}
