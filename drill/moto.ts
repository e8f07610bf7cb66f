/** Starts the real moto_server AWS emulator (S3, CloudWatch, SSM) on a free loopback port. */
import { ChildProcess, spawn } from "child_process";
import * as net from "net";

export interface Moto {
    endpoint: string;
    /** moto_server's process (the benchmarks count its CPU). */
    pid: number;
    /** Environment for the aws CLI (and SDKs) to talk to this emulator only. */
    env: Record<string, string>;
    stop(): Promise<void>;
}

export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
        srv.on("error", reject);
    });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`drill: moto_server exited with ${child.exitCode} before it listened`);
        const ok = await new Promise<boolean>((resolve) => {
            const s = net.connect(port, "127.0.0.1", () => (s.end(), resolve(true)));
            s.on("error", () => resolve(false));
        });
        if (ok) return;
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`drill: moto_server did not listen on ${port} within ${timeoutMs} ms`);
}

export async function startMoto(region = "eu-central-1"): Promise<Moto> {
    const port = await freePort();
    const child = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    // Not installed: said as what to do, not as an unhandled 'error' event.
    const missing = new Promise<never>((_, reject) => child.once("error", (e) => reject(new Error(`drill: moto_server could not be started (${e.message}): pip install 'moto[server]' awscli`))));
    missing.catch(() => undefined);
    try {
        await Promise.race([waitForPort(port, child, 30_000), missing]);
    } catch (e) {
        child.kill("SIGTERM");
        throw e;
    }
    const endpoint = `http://127.0.0.1:${port}`;
    return {
        endpoint,
        pid: child.pid!,
        env: { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", AWS_DEFAULT_REGION: region, AWS_REGION: region, AWS_PAGER: "" },
        stop: () =>
            new Promise((resolve) => {
                if (child.exitCode !== null) return resolve();
                child.once("exit", () => resolve());
                child.kill("SIGTERM");
            }),
    };
}
