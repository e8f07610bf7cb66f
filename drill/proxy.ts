/**
 * A fault-injecting HTTP proxy between the aws CLI and moto_server, for the drills' network
 * failures: it cuts an upload off mid-body, or flips one byte of an object in transit.
 */
import * as http from "http";
import * as net from "net";

export type Fault = { kind: "none" } | { kind: "cut"; pathEndsWith: string } | { kind: "flip"; pathEndsWith: string };

export interface FaultProxy {
    endpoint: string;
    fault: Fault;
    /** How many requests the fault was applied to. */
    hits: number;
    /** Every request passed on, as "METHOD path?query": what a script asked S3 for, and how often. */
    requests: string[];
    close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
    const upstream = new URL(target);
    const state: Omit<FaultProxy, "endpoint" | "close"> = { fault: { kind: "none" }, hits: 0, requests: [] };
    const server = http.createServer((req, res) => {
        state.requests.push(`${req.method} ${req.url}`);
        const path = (req.url ?? "").split("?")[0];
        const f = state.fault;
        const matches = f.kind !== "none" && req.method === "PUT" && path.endsWith(f.pathEndsWith);
        if (matches && f.kind === "cut") {
            state.hits++;
            // Read a little of the body, then drop the connection: an interrupted upload.
            let seen = 0;
            req.on("data", (chunk: Buffer) => {
                seen += chunk.length;
                if (seen > 64 * 1024) req.socket.destroy();
            });
            req.on("end", () => req.socket.destroy());
            return;
        }
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            let body = Buffer.concat(chunks);
            if (matches && f.kind === "flip" && body.length > 0) {
                state.hits++;
                body = Buffer.from(body);
                body[Math.floor(body.length / 2)] ^= 0xff;
            }
            const headers = { ...req.headers, host: upstream.host, "content-length": String(body.length) };
            const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
                res.writeHead(up.statusCode ?? 502, up.headers);
                up.pipe(res);
            });
            out.on("error", () => res.destroy());
            out.end(body);
        });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    return Object.assign(state, { endpoint: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) });
}
