import * as fs from "fs";
import * as path from "path";

/**
 * The directory holding Pulumi.yaml. Found by walking up rather than assumed from `__dirname`,
 * because the same code runs from its source folder (pulumi, vitest) and from a bundle in .build/.
 */
export function projectRoot(from: string = __dirname): string {
    for (let dir = from; ; dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
        if (path.dirname(dir) === dir) throw new Error(`no Pulumi.yaml above ${from}`);
    }
}

/** A file under host/, the scripts that run on the Sofia host. */
export function hostScript(name: string): string {
    return path.join(projectRoot(), "host", name);
}
