/** `npm run docs`: regenerates the generated sections of README.md. */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { withSettingsReference } from "../services/settings-doc";

const readme = path.join(projectRoot(), "README.md");
const before = fs.readFileSync(readme, "utf8");
const after = withSettingsReference(before);
fs.writeFileSync(readme, after);
console.log(before === after ? "README.md is up to date" : "README.md settings reference regenerated");
