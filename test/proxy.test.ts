/**
 * The front proxy's configuration, checked and served by a real nginx (Debian's nginx-light):
 * the stack's own configuration passes `nginx -t` (plain and with TLS), and the same renderer's
 * output, pointed at a local upstream, answers clients as a deploy needs.
 */
import { execFileSync, spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stackSettings } from "../plan/stack-config";
import { planStack } from "./helpers/plan";
import { sofiaCatalog } from "../model/catalog";
import { MAINTENANCE_FLAG, proxyConfig, stackProxyOptions } from "../topology/host/proxy-config";
import { freePort, nginxIo, nginxTest, scratch, writeConf } from "./helpers/nginx";

const catalog = sofiaCatalog("questdb");
const settings = stackSettings("staging");

describe("the stack's proxy configuration, checked by nginx -t", () => {
    it("passes as the stack renders it (plain HTTP, as for a private stack), with a route per client port of the catalog", () => {
        const options = { ...stackProxyOptions(catalog, settings), ...scratch(120), tls: undefined, acmeChallenge: undefined };
        expect(options.routes).toEqual([
            { service: "api", listen: 8013, upstream: "sofia-api:8013" },
            { service: "ui", listen: 8080, upstream: "sofia-ui:8080" },
            { service: "grafana", listen: 3000, upstream: "sofia-grafana:3000" },
        ]);
        const result = nginxTest(writeConf(proxyConfig(options)));
        expect(result.output).toMatch(/syntax is ok/);
        expect(result.ok).toBe(true);
    });

    it("passes with TLS on every client port, given a certificate and its key", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-tls-"));
        const [cert, key] = [path.join(dir, "cert.pem"), path.join(dir, "key.pem")];
        execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=sofia.test", "-days", "1", "-keyout", key, "-out", cert], { stdio: "ignore" });
        const options = { ...stackProxyOptions(catalog, settings), ...scratch(120), tls: { certificate: cert, key } };
        const text = proxyConfig(options);
        expect(text).toContain("listen 8013 ssl;");
        expect(text).toContain("listen 8080 ssl;");
        expect(nginxTest(writeConf(text)).ok).toBe(true);
        // A certificate that is not there fails the check: it really reads them.
        expect(nginxTest(writeConf(proxyConfig({ ...options, tls: { certificate: path.join(dir, "missing.pem"), key } }))).ok).toBe(false);
    });

    it("is refused by nginx when broken (the check can fail)", () => {
        const broken = proxyConfig({ ...stackProxyOptions(catalog, settings), ...scratch(120) }).replace("proxy_pass $sofia_upstream;", "proxy_pass $sofia_upstream");
        expect(nginxTest(writeConf(broken)).ok).toBe(false);
    });
});

describe("the proxy serving clients during a deploy (real nginx, a local upstream)", () => {
    let nginx: ChildProcess;
    let upstream: http.Server;
    let listen: number;
    let upstreamPort: number;
    let dirs: ReturnType<typeof scratch>;

    const get = (accept?: string) =>
        new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
            const req = http.get({ host: "127.0.0.1", port: listen, path: "/health", headers: accept ? { accept } : {} }, (res) => {
                let body = "";
                res.on("data", (d) => (body += d));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
            });
            req.on("error", reject);
        });

    beforeAll(async () => {
        [listen, upstreamPort] = [await freePort(), await freePort()];
        dirs = scratch(90);
        const healthPort = await freePort();
        const conf = writeConf(proxyConfig({ routes: [{ service: "api", listen, upstream: `127.0.0.1:${upstreamPort}` }], healthPort, retryAfterSeconds: 90, ...dirs }));
        const dir = path.dirname(conf);
        nginx = spawn("nginx", ["-c", conf, "-e", path.join(dir, "error.log"), "-g", `pid ${path.join(dir, "nginx.pid")}; daemon off;`], { stdio: nginxIo(dir) });
        // Ready once its health listener answers.
        for (let i = 0; i < 100; i++) {
            const up = await new Promise<boolean>((r) => http.get({ host: "127.0.0.1", port: healthPort, path: "/healthz" }, (res) => r(res.statusCode === 200)).on("error", () => r(false)));
            if (up) break;
            await new Promise((r) => setTimeout(r, 50));
        }
    });

    afterAll(async () => {
        nginx?.kill();
        await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
    });

    it("answers 503 with Retry-After, JSON or HTML as asked, while the service is down (not a refused connection)", async () => {
        const json = await get();
        expect(json.status).toBe(503);
        expect(json.headers["retry-after"]).toBe("90");
        expect(json.headers["content-type"]).toBe("application/json");
        expect(JSON.parse(json.body)).toMatchObject({ status: "maintenance", retryAfterSeconds: 90 });
        const html = await get("text/html,application/xhtml+xml");
        expect(html.status).toBe(503);
        expect(html.headers["content-type"]).toBe("text/html");
        expect(html.body).toContain("Sofia is being updated");
    });

    it("passes requests through once the service is up, until the maintenance flag appears", async () => {
        upstream = http.createServer((q, res) => res.end(`served ${q.url}`));
        await new Promise<void>((r) => upstream.listen(upstreamPort, "127.0.0.1", r));
        const through = await get();
        expect(through.status).toBe(200);
        expect(through.body).toBe("served /health");

        fs.writeFileSync(path.join(dirs.flagDir, MAINTENANCE_FLAG), String(Math.floor(Date.now() / 1000) + 600));
        const held = await get();
        expect(held.status).toBe(503);
        expect(held.headers["retry-after"]).toBe("90");

        fs.rmSync(path.join(dirs.flagDir, MAINTENANCE_FLAG));
        expect((await get()).status).toBe(200);
    });
});

describe("TLS in the stack", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-tls-stack-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=sofia.test", "-days", "1", "-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`], { stdio: "ignore" });
    const cert = fs.readFileSync(`${dir}/cert.pem`, "utf8");
    const key = fs.readFileSync(`${dir}/key.pem`, "utf8");

    it("serves the client ports over HTTPS when a certificate and its secret key are set; the key never shows", async () => {
        const plan = await planStack("staging", ["proxy={}", `proxy.tlsCertificate=${cert}`], [`proxyTlsKey=${key}`]);
        const proxy = plan.resources.find((r) => r.type === "docker:index/container:Container" && r.inputs.name === "sofia-proxy")!;
        expect(proxy.inputs.uploads).toBe("[secret]");
        expect(JSON.stringify(plan)).not.toContain(key.split("\n")[1]);
        expect(plan.outputs.endpoints).toEqual({ api: "https://203.0.113.10:8013", ui: "https://203.0.113.10:8080", grafana: "https://203.0.113.10:3000" });
    });

    it("refuses a certificate without its key, and a key without its certificate, naming the missing one", async () => {
        await expect(planStack("staging", ["proxy={}", `proxy.tlsCertificate=${cert}`])).rejects.toThrow(/sofia:proxyTlsKey: missing; proxy.tlsCertificate is set/);
        await expect(planStack("staging", ["proxy={}"], [`proxyTlsKey=${key}`])).rejects.toThrow(/sofia:proxy.tlsCertificate: missing; proxyTlsKey is set/);
        await expect(planStack("staging", ["proxy={}", "proxy.tlsCertificate=not a certificate"], [`proxyTlsKey=${key}`])).rejects.toThrow(/sofia:proxy.tlsCertificate: "not a certificate" is not allowed: expected a PEM certificate/);
    });
});
