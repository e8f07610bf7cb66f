/** A real nginx for tests: free ports, a scratch layout like the proxy container's, its checks. */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { maintenancePages, ProxyConfigOptions } from "../../topology/host/proxy-config";

/**
 * A port nothing listens on. Picked at random above the ephemeral range's usual start rather than
 * by the kernel: two test files on two workers asking the kernel at once are handed the same port
 * (it was free for each), and one nginx then answers for the other.
 */
export async function freePort(): Promise<number> {
    for (;;) {
        const port = 20_000 + Math.floor(Math.random() * 30_000);
        const srv = net.createServer();
        const free = await new Promise<boolean>((r) => {
            srv.once("error", () => r(false));
            srv.listen(port, "127.0.0.1", () => r(true));
        });
        if (free) {
            await new Promise<void>((r) => srv.close(() => r()));
            return port;
        }
    }
}

/** A scratch directory laid out as the proxy container is: flag, pages, state. */
export function scratch(retryAfterSeconds: number): Pick<ProxyConfigOptions, "flagDir" | "pagesDir" | "stateDir"> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-proxy-"));
    // Run as root, nginx's workers drop to "nobody": they must be able to read the pages.
    fs.chmodSync(dir, 0o755);
    const dirs = { flagDir: path.join(dir, "flag"), pagesDir: path.join(dir, "pages"), stateDir: path.join(dir, "state") };
    for (const d of Object.values(dirs)) fs.mkdirSync(d);
    for (const [f, c] of Object.entries(maintenancePages(retryAfterSeconds))) fs.writeFileSync(path.join(dirs.pagesDir, f), c);
    return dirs;
}

/**
 * nginx's output goes to a file, not a pipe: the configuration logs to /dev/stderr (Docker's log),
 * which nginx cannot reopen when it is one of Node's socket pairs.
 */
export function nginxIo(dir: string): ["ignore", number, number] {
    const fd = fs.openSync(path.join(dir, "nginx.out"), "a");
    return ["ignore", fd, fd];
}

export function nginxTest(conf: string): { ok: boolean; output: string } {
    const dir = path.dirname(conf);
    let ok = true;
    try {
        execFileSync("nginx", ["-t", "-c", conf, "-e", path.join(dir, "error.log"), "-g", `pid ${path.join(dir, "nginx.pid")};`], { stdio: nginxIo(dir) });
    } catch {
        ok = false;
    }
    return { ok, output: fs.readFileSync(path.join(dir, "nginx.out"), "utf8") };
}

export function writeConf(text: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-nginx-"));
    fs.chmodSync(dir, 0o755);
    const file = path.join(dir, "nginx.conf");
    fs.writeFileSync(file, text);
    return file;
}
