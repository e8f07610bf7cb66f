/**
 * RUNBOOK.md, the operators' document, is generated from the code (npm run docs) and cannot drift:
 * it must equal what the alarm table, the first actions, the levers, the start order, the backups
 * and the maintenance plan say now, and a changed alarm changes it.
 */
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { runbook } from "../scripts/docs/runbook-doc";
import { stackSettings } from "../plan/stack-config";
import { sofiaCatalog } from "../model/catalog";
import { sofiaAlarms } from "../topology/host/alarms";
import { DATA_PATH } from "../topology/host/layout";

const file = fs.readFileSync(path.join(__dirname, "..", "RUNBOOK.md"), "utf8");
const prod = stackSettings("prod");
const staging = stackSettings("staging");

describe("RUNBOOK.md", () => {
    it("is exactly what the code generates now (npm run docs writes it)", () => {
        expect(file).toBe(runbook(prod, staging));
    });

    it("changes when an alarm changes: its threshold, in the alarm's own block", () => {
        const changed = runbook({ ...prod, alarms: { ...prod.alarms, staleRatio: 0.25 } }, staging);
        expect(changed).not.toBe(file);
        const block = (text: string) => /### `stale-ratio` \(level 2\)\n\n- \*\*Fires when\*\* ([^\n]*)/.exec(text)![1];
        expect(block(file)).toMatch(/^Maximum of `stale_ratio` >= 0\.1, .*the same in staging\)\.$/);
        expect(block(changed)).toMatch(/^Maximum of `stale_ratio` >= 0\.25, .*staging: Maximum of `stale_ratio` >= 0\.1,/);
    });

    it("has every alarm of prod, with its level, evidence and first actions", () => {
        for (const a of sofiaAlarms(sofiaCatalog("questdb"), prod, "i-x", DATA_PATH)) {
            const shown = a.id.replace(/^(health|errors)-.*$/, "$1-<service>");
            const block = new RegExp(`### \`${shown.replace(/[<>]/g, "\\$&")}\` \\(level ${a.level}\\)\\n\\n- \\*\\*Fires when\\*\\* .*\\n- \\*\\*Means\\*\\* .*\\n- \\*\\*Evidence\\*\\* .*\\n- \\*\\*First\\*\\* 1\\. `);
            expect(file, a.id).toMatch(block);
        }
        for (const heading of ["## Escalation", "## Emergency levers", "## Start and stop order", "## Backup, restore, disaster-recovery test", "## Maintenance windows", "## Diagnostics bundles"]) expect(file).toContain(heading);
    });
});
