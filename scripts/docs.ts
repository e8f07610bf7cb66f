/** `npm run docs`: regenerates the generated sections of README.md. */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { readArgs } from "./cli-args";
import { stackSettings } from "../plan/stack-config";
import { maintenanceTable } from "../topology/host/maintenance";
import { withAlarmTables } from "./docs/alarm-doc";
import { withDeployChecklist, withMaintenanceTable, withSettingsReference } from "./docs/settings-doc";

const USAGE = "usage: npm run docs\n\nRegenerates README.md's generated sections (settings reference, maintenance table, deploy checklist,\nalarm table and contracts) from the code. Writes README.md; says whether anything changed.";
const parsed = readArgs("docs", USAGE, process.argv.slice(2), {});
if (typeof parsed === "number") process.exit(parsed);
const readme = path.join(projectRoot(), "README.md");
const before = fs.readFileSync(readme, "utf8");
const staging = stackSettings("staging");
const after = withAlarmTables(withDeployChecklist(withMaintenanceTable(withSettingsReference(before), maintenanceTable(staging))), stackSettings("prod"));
fs.writeFileSync(readme, after);
console.log(before === after ? "README.md is up to date" : "README.md generated sections regenerated");
