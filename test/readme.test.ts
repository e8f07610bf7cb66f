import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { withDeployChecklist, withMaintenanceTable, withSettingsReference } from "../services/settings-doc";
import { maintenanceTable } from "../services/maintenance";
import { stackSettings } from "../plan/stack-config";
import { NAMESPACE } from "../services/settings";
import { projectName } from "../plan/stack-config";

const ROOT = path.join(__dirname, "..");
const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

describe("README", () => {
    it("has the settings reference exactly as the schema generates it (npm run docs)", () => {
        expect(readme).toBe(withSettingsReference(readme));
    });

    it("has the maintenance windows and tasks exactly as the code plans them (npm run docs)", () => {
        const staging = stackSettings("staging");
        expect(readme).toBe(withMaintenanceTable(readme, maintenanceTable(staging)));
        expect(readme).toContain("| 1. `signal-on` |");
    });

    it("describes what a release deploy does, step by step, exactly as services/deploy.ts orders it (npm run docs)", () => {
        expect(readme).toBe(withDeployChecklist(readme));
        expect(readme).toContain("1. **backup**:");
    });

    it("has a two-command quick start whose test command is the one CI runs", () => {
        const quick = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
        const commands = quick.split("\n").filter((l) => l.trim()).map((l) => l.replace(/\s+#.*$/, "").trim());
        expect(commands).toEqual(["npm ci && npm run plan", "npm test"]);
        expect(fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8")).toMatch(/^npm test$/m);
    });

    it("documents the config namespace the settings module reads (the project name)", () => {
        expect(projectName()).toBe(NAMESPACE);
    });
});
