/** The host's layout file as the stack writes it (topology/host/layout.ts), for tests that run host scripts. */
import * as fs from "fs";
import * as path from "path";
import { hostEnv } from "../../topology/host/layout";
import { sofiaHostLayout } from "../../topology/host/services-files";

/**
 * Writes `<dir>/host.env` with the data volume under `<dir>/data` and returns its path (for
 * SOFIA_HOST_ENV). A test's own SOFIA_* variables still win: host.env sets only what is unset.
 */
export function writeHostEnv(dir: string): string {
    const file = path.join(dir, "host.env");
    fs.writeFileSync(file, hostEnv(sofiaHostLayout(path.join(dir, "data"))));
    return file;
}
