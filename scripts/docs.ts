/** `npm run docs`: regenerates the generated sections of README.md. */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { stackSettings } from "../plan/stack-config";
import { maintenanceTable } from "../services/maintenance";
import { withDeployChecklist, withMaintenanceTable, withSettingsReference } from "../services/settings-doc";

const readme = path.join(projectRoot(), "README.md");
const before = fs.readFileSync(readme, "utf8");
const staging = stackSettings("staging");
const after = withDeployChecklist(withMaintenanceTable(withSettingsReference(before), maintenanceTable(staging)));
fs.writeFileSync(readme, after);
console.log(before === after ? "README.md is up to date" : "README.md generated sections regenerated");
