/** `npm run docs`: regenerates the generated sections of README.md. */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { readStackConfig } from "../plan/stack-config";
import { maintenanceTable } from "../services/maintenance";
import { readSettings } from "../services/settings";
import { withMaintenanceTable, withSettingsReference } from "../services/settings-doc";

const readme = path.join(projectRoot(), "README.md");
const before = fs.readFileSync(readme, "utf8");
const staging = readSettings("sofia", "staging", new Map([...readStackConfig("staging")].map(([k, v]) => [k, { value: v.value, secret: v.secret }])));
const after = withMaintenanceTable(withSettingsReference(before), maintenanceTable(staging));
fs.writeFileSync(readme, after);
console.log(before === after ? "README.md is up to date" : "README.md settings reference regenerated");
