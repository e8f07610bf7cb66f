import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { withDeployChecklist, withLevers, withMaintenanceTable, withSettingsReference } from "../scripts/docs/settings-doc";
import { maintenanceTable } from "../topology/host/maintenance";
import { withAlarmTables } from "../scripts/docs/alarm-doc";
import { stackSettings } from "../plan/stack-config";
import { NAMESPACE } from "../model/settings";
import { GITHUB_SCRIPT } from "../bootstrap/cli";
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

    it("describes what a release deploy does, step by step, exactly as model/deploy-steps.ts orders it (npm run docs)", () => {
        expect(readme).toBe(withDeployChecklist(readme));
        expect(readme).toContain("1. **page-on**:");
    });

    it("says for every alarm what publishes it and what its silence means, exactly as topology/host/alarms.ts does (npm run docs)", () => {
        expect(readme).toBe(withAlarmTables(readme, stackSettings("prod")));
        expect(readme).toMatch(/\| `ws-reconnects` \| 2 \| `ws_reconnects_total` \| the agent's scrape of `metrics` \(a contract\) \| no scrape that minute/);
    });

    it("has the emergency levers exactly as topology/host/levers.ts lists them (npm run docs)", () => {
        expect(readme).toBe(withLevers(readme));
        expect(readme).toContain("| The equities primary source fails |");
    });

    it("has a two-command quick start whose test command is the one CI runs", () => {
        const quick = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
        const commands = quick.split("\n").filter((l) => l.trim()).map((l) => l.replace(/\s+#.*$/, "").trim());
        expect(commands).toEqual(["npm ci && npm run plan", "npm test"]);
        expect(fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8")).toMatch(/^npm test$/m);
    });

    it("walks a fresh account to a verified staging in numbered steps, each a command that exists here", () => {
        const section = /## First deploy[^\n]*\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? "";
        const steps = [...section.matchAll(/^(\d+)\. `([^`]+)`/gm)];
        expect(steps.map((m) => Number(m[1]))).toEqual([1, 2, 3, 4, 5]);
        const commands = steps.map((m) => m[2]);
        const scripts = Object.keys(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts);
        for (const c of commands.filter((x) => x.startsWith("npm run "))) expect(scripts).toContain(c.split(" ")[2]);
        expect(commands).toContain(`bash ${GITHUB_SCRIPT}`);
        expect(section.split("\n").filter((l) => /^\d+\. /.test(l) && !/^\d+\. `/.test(l))).toEqual([]);
    });

    it("documents the config namespace the settings module reads (the project name)", () => {
        expect(projectName()).toBe(NAMESPACE);
    });
});
