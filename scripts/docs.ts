/** `npm run docs`: regenerates the generated sections of README.md. */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { readArgs } from "./cli-args";
import { stackSettings } from "../plan/stack-config";
import { maintenanceTable } from "../topology/host/maintenance";
import { withAlarmTables } from "./docs/alarm-doc";
import { withDeployChecklist, withLevers, withMaintenanceTable, withSettingsReference } from "./docs/settings-doc";
import { runbook } from "./docs/runbook-doc";

const USAGE = "usage: npm run docs\n\nRegenerates README.md's generated sections (settings reference, maintenance table, deploy checklist,\nalarm table and contracts, emergency levers) and RUNBOOK.md from the code. Writes both; says whether anything changed.";
const parsed = readArgs("docs", USAGE, process.argv.slice(2), {});
if (typeof parsed === "number") process.exit(parsed);
const readme = path.join(projectRoot(), "README.md");
const before = fs.readFileSync(readme, "utf8");
const staging = stackSettings("staging");
const prod = stackSettings("prod");
const after = withLevers(withAlarmTables(withDeployChecklist(withMaintenanceTable(withSettingsReference(before), maintenanceTable(staging))), prod));
fs.writeFileSync(readme, after);
console.log(before === after ? "README.md is up to date" : "README.md generated sections regenerated");
const runbookFile = path.join(projectRoot(), "RUNBOOK.md");
const was = fs.existsSync(runbookFile) ? fs.readFileSync(runbookFile, "utf8") : "";
const now = runbook(prod, staging);
fs.writeFileSync(runbookFile, now);
console.log(was === now ? "RUNBOOK.md is up to date" : "RUNBOOK.md regenerated");
