/**
 * Public means TLS, and a certificate can come from an ACME CA (proxy.acme). For real: Debian's
 * Pebble (an ACME test server) issues a certificate to host/sofia-cert.sh running Debian's lego,
 * after validating the HTTP-01 challenge that a real nginx answers from the stack's own proxy
 * configuration; the proxy then serves it, after a reload, to a client that trusts only Pebble's
 * root. The docker CLI is the drill's double (it signals the nginx process). And the stack around
 * it: port 80 open to everyone for the challenge alone, an Elastic IP, the timer, the guards.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stackSettings } from "../plan/stack-config";
import { sofiaCatalog } from "../model/catalog";
import { certEnv } from "../topology/host/certificate";
import { ACME, proxyConfig, stackProxyOptions } from "../topology/host/proxy-config";
import { Moto, startMoto } from "../drill/moto";
import { CERT_ALARM_DAYS } from "../topology/host/alarms";
import { CERT_METRICS } from "../model/metrics";
import { freePort, nginxIo, scratch, writeConf } from "./helpers/nginx";
import { writeHostEnv } from "./helpers/host-env";
import { installedFiles, one, ofType, planStack } from "./helpers/plan";

const ROOT = path.resolve(__dirname, "..");
const prod = stackSettings("prod");

describe("public means TLS", () => {
    it("refuses a stack whose client CIDRs reach the internet over plain HTTP, naming the CIDRs and both ways to TLS", async () => {
        await expect(planStack("staging", ["proxy={}"])).rejects.toThrow(
            /sofia:proxy: the API and UI would be served to 198\.51\.100\.0\/24 \(addresses on the internet\) over plain HTTP: set proxy\.acme\.domain and proxy\.acme\.email .* or proxy\.tlsCertificate with the proxyTlsKey secret, or limit clientCidrs to private ranges/,
        );
        await expect(planStack("staging", ["proxy={}", "clientCidrs=[10.0.0.0/8, '::/0']"])).rejects.toThrow(/served to ::\/0 \(addresses on the internet\)/);
    });

    it("allows plain HTTP to private ranges only, but never in prod", async () => {
        const plan = await planStack("staging", ["proxy={}", "clientCidrs=[10.20.0.0/16, 'fd00::/8']"]);
        expect(plan.outputs.endpoints).toEqual({ api: "http://203.0.113.10:8013", ui: "http://203.0.113.10:8080", grafana: "http://203.0.113.10:3000" });
        await expect(planStack("prod", ["proxy={}", "clientCidrs=[10.20.0.0/16]"])).rejects.toThrow(/sofia:proxy: prod serves its clients over TLS only/);
    });

    it("refuses both a certificate and ACME, and a domain ACME cannot prove", async () => {
        const cert = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n";
        await expect(planStack("prod", [`proxy.tlsCertificate=${cert}`], ["proxyTlsKey=-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n"])).rejects.toThrow(/set proxy\.tlsCertificate or proxy\.acme, not both/);
        await expect(planStack("prod", ["proxy.acme.domain='*.company.com'"])).rejects.toThrow(/sofia:proxy\.acme\.domain: "\*\.company\.com" is not allowed: expected a lower-case DNS name/);
        await expect(planStack("prod", ["proxy.acme.directory=http://ca.example/dir"])).rejects.toThrow(/sofia:proxy\.acme\.directory: .* is not allowed: expected the https:\/\/ URL of an ACME directory/);
        await expect(planStack("prod", ["proxy.acme.email=nobody"])).rejects.toThrow(/sofia:proxy\.acme\.email: "nobody" is not allowed/);
    });
});

describe("prod's proxy with a certificate from Let's Encrypt, as planned", () => {
    it("serves every client port over TLS from the host's live pair, and port 80 for the challenge alone, to everyone", async () => {
        const plan = await planStack("prod");
        const proxy = ofType(plan, "docker:index/container:Container").find((r) => r.inputs.name === "sofia-proxy")!;
        const conf = (proxy.inputs.uploads as { file: string; content: string }[]).find((u) => u.file === "/etc/nginx/nginx.conf")!.content;
        expect(conf).toContain("listen 8013 ssl;");
        expect(conf).toContain("ssl_certificate /etc/nginx/tls/live/cert.pem;");
        expect(conf).toMatch(/listen 80;\n {8}location \/\.well-known\/acme-challenge\/ \{\n {12}root \/var\/www\/acme;/);
        expect((proxy.inputs.ports as { internal: number }[]).map((p) => p.internal)).toEqual([8013, 8080, 3000, 80]);
        expect(proxy.inputs.volumes).toEqual(
            expect.arrayContaining([
                expect.objectContaining({ hostPath: ACME.hostTlsDir, containerPath: ACME.tlsDir, readOnly: true }),
                expect.objectContaining({ hostPath: ACME.hostWebroot, containerPath: ACME.webroot, readOnly: true }),
            ]),
        );
        const world = ofType(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => r.inputs.fromPort === 80);
        expect(world.map((r) => r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6).sort()).toEqual(["0.0.0.0/0", "::/0"]);
        expect(one(plan, "aws:ec2/eip:Eip").inputs).toMatchObject({ domain: "vpc" });
        expect(plan.outputs.endpoints).toEqual({ api: "https://sofia.company.com:8013", ui: "https://sofia.company.com:8080", grafana: "https://sofia.company.com:3000" });
    });

    it("alarms (level 2) when the certificate nears its end, is still the placeholder, or sofia-cert goes silent; a stack without ACME has no such alarm", async () => {
        const alarm = ofType(await planStack("prod"), "aws:cloudwatch/metricAlarm:MetricAlarm").find((a) => a.inputs.name === "sofia-prod-tls-certificate")!;
        expect(alarm.inputs).toMatchObject({ metricName: CERT_METRICS.daysLeft, namespace: "Sofia/prod", comparisonOperator: "LessThanThreshold", threshold: CERT_ALARM_DAYS, treatMissingData: "breaching", period: 3600 });
        const plain = ofType(await planStack("staging", ["proxy={}", "clientCidrs=[10.0.0.0/8]"]), "aws:cloudwatch/metricAlarm:MetricAlarm");
        expect(plain.filter((a) => String(a.inputs.name).endsWith("tls-certificate"))).toEqual([]);
    });

    it("installs sofia-cert with its configuration and an hourly timer, and the placeholder before the proxy needs it", async () => {
        const files = installedFiles(await planStack("prod")).filter((f) => f.part === "certificate");
        expect(files.map((f) => f.path).sort()).toEqual(["/etc/sofia/cert.env", "/etc/sofia/host.env", "/etc/systemd/system/sofia-cert.service", "/etc/systemd/system/sofia-cert.timer", "/usr/local/sbin/sofia-cert"]);
        expect(files.find((f) => f.path === "/etc/sofia/cert.env")!.content).toContain(': "${ACME_DOMAIN=sofia.company.com}"');
        expect(files.find((f) => f.path === "/etc/systemd/system/sofia-cert.timer")!.content).toContain("OnUnitActiveSec=1h");
        const doc = (await planStack("prod")).resources.find((r) => r.name === "sofia-host-files-certificate-document")!;
        expect(doc.inputs.content).toMatch(/sofia-cert placeholder[\s\S]*enable --now sofia-cert\.timer/);
    });
});

describe("sofia-cert against Pebble (a real ACME CA), with a real nginx answering the challenge", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-acme-"));
    fs.chmodSync(dir, 0o755);
    const tlsDir = path.join(dir, "tls");
    const webroot = path.join(dir, "webroot");
    const dockerState = path.join(dir, "docker");
    let pebble: ChildProcess;
    let nginx: ChildProcess;
    let moto: Moto;
    /** What sofia-cert published to CloudWatch (moto_server, the real aws CLI), oldest first. */
    const daysPublished = () => {
        const now = Date.now();
        const q = spawnSync("aws", ["cloudwatch", "get-metric-statistics", "--namespace", "Sofia/prod", "--metric-name", CERT_METRICS.daysLeft, "--dimensions", "Name=Stack,Value=prod", "--statistics", "Minimum", "SampleCount", "--start-time", new Date(now - 3_600_000).toISOString(), "--end-time", new Date(now + 60_000).toISOString(), "--period", "3600"], { env: { ...process.env, ...moto.env }, encoding: "utf8" });
        return (JSON.parse(q.stdout).Datapoints as { Minimum: number; SampleCount: number }[])[0];
    };
    let ports: { api: number; mgmt: number; challenge: number; client: number; health: number };
    let env: NodeJS.ProcessEnv;

    const run = (mode: string) => spawnSync("bash", [path.join(ROOT, "host", "sofia-cert.sh"), mode], { env, encoding: "utf8", timeout: 120_000 });
    /** The certificate the proxy serves on its client port, read by a TLS client that trusts `ca` only (or nothing). */
    const served = (ca?: string) =>
        new Promise<{ authorized: boolean; issuer: string; subject: string }>((resolve, reject) => {
            const socket = tls.connect({ host: "127.0.0.1", port: ports.client, servername: "localhost", ca, rejectUnauthorized: false }, () => {
                const cert = socket.getPeerCertificate();
                resolve({ authorized: socket.authorized, issuer: [cert.issuer.O, cert.issuer.CN].filter(Boolean).join(" / "), subject: String(cert.subject.CN) });
                socket.end();
            });
            socket.on("error", reject);
        });
    const fetchText = (url: string, ca: string) =>
        new Promise<string>((resolve, reject) => {
            https.get(url, { ca }, (res) => {
                let body = "";
                res.on("data", (d) => (body += d));
                res.on("end", () => resolve(body));
            }).on("error", reject);
        });

    beforeAll(async () => {
        ports = { api: await freePort(), mgmt: await freePort(), challenge: await freePort(), client: await freePort(), health: await freePort() };
        moto = await startMoto();
        // Pebble's own API is HTTPS: a certificate for it that lego is told to trust.
        execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=pebble api", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", `${dir}/pebble-key.pem`, "-out", `${dir}/pebble-cert.pem`], { stdio: "ignore" });
        fs.writeFileSync(
            `${dir}/pebble.json`,
            JSON.stringify({ pebble: { listenAddress: `127.0.0.1:${ports.api}`, managementListenAddress: `127.0.0.1:${ports.mgmt}`, certificate: `${dir}/pebble-cert.pem`, privateKey: `${dir}/pebble-key.pem`, httpPort: ports.challenge, tlsPort: await freePort(), ocspResponderURL: "", externalAccountBindingRequired: false } }),
        );
        pebble = spawn("pebble", ["-config", `${dir}/pebble.json`], { env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" }, stdio: ["ignore", fs.openSync(`${dir}/pebble.log`, "a"), fs.openSync(`${dir}/pebble.log`, "a")] });
        // Ready once its directory answers (on a loaded machine that takes a while).
        const pebbleCa = () => fs.readFileSync(`${dir}/pebble-cert.pem`, "utf8");
        for (let i = 0; i < 200; i++) {
            if (await fetchText(`https://127.0.0.1:${ports.api}/dir`, pebbleCa()).then((t) => t.includes("newOrder"), () => false)) break;
            await new Promise((r) => setTimeout(r, 100));
        }

        // The stack's own proxy configuration (prod's), with this machine's ports and directories
        // where the container has its mounts.
        const stack = stackProxyOptions(sofiaCatalog("questdb"), prod);
        expect(stack.tls).toEqual({ certificate: `${ACME.tlsDir}/live/cert.pem`, key: `${ACME.tlsDir}/live/key.pem` });
        expect(stack.acmeChallenge).toEqual({ port: 80, webroot: ACME.webroot });
        const conf = writeConf(
            proxyConfig({
                ...stack,
                ...scratch(60),
                routes: [{ service: "api", listen: ports.client, upstream: `127.0.0.1:${await freePort()}` }],
                healthPort: ports.health,
                tls: { certificate: stack.tls!.certificate.replace(ACME.tlsDir, tlsDir), key: stack.tls!.key.replace(ACME.tlsDir, tlsDir) },
                acmeChallenge: { port: ports.challenge, webroot },
            }),
        );
        fs.writeFileSync(`${dir}/cert.env`, certEnv(prod));
        fs.mkdirSync(dockerState);
        env = {
            ...process.env,
            ...moto.env,
            PATH: `${path.join(ROOT, "drill", "doubles")}:${process.env.PATH}`,
            DOCKER_LOG: `${dir}/docker.log`,
            DOCKER_STATE: dockerState,
            SOFIA_HOST_ENV: writeHostEnv(dir),
            SOFIA_CERT_CONFIG: `${dir}/cert.env`,
            ACME_DOMAIN: "localhost",
            ACME_DIRECTORY: `https://127.0.0.1:${ports.api}/dir`,
            ACME_STATE_DIR: `${dir}/acme`,
            ACME_WEBROOT: webroot,
            TLS_DIR: tlsDir,
            CERT_LOCK: `${dir}/cert.lock`,
            // lego from PATH (Debian's), trusting Pebble's API certificate.
            LEGO_IMAGE: "",
            LEGO_CA_CERTIFICATES: `${dir}/pebble-cert.pem`,
        };

        // nginx needs a certificate to start with TLS: the placeholder comes first, as on the host.
        const placeholder = run("placeholder");
        expect(placeholder.stderr).toBe("");
        expect(placeholder.status).toBe(0);
        nginx = spawn("nginx", ["-c", conf, "-e", path.join(path.dirname(conf), "error.log"), "-g", `pid ${path.join(path.dirname(conf), "nginx.pid")}; daemon off;`], { stdio: nginxIo(path.dirname(conf)) });
        // The proxy container, as the docker double sees it: running, its process this nginx.
        fs.writeFileSync(`${dockerState}/sofia-proxy.health`, "healthy\n");
        fs.writeFileSync(`${dockerState}/sofia-proxy.running`, "true\n");
        fs.writeFileSync(`${dockerState}/sofia-proxy.pid`, String(nginx.pid));
        for (let i = 0; i < 100; i++) {
            const up = await served().then(() => true, () => false);
            if (up) break;
            await new Promise((r) => setTimeout(r, 100));
        }
    }, 60_000);

    afterAll(async () => {
        nginx?.kill();
        pebble?.kill();
        await moto?.stop();
    });

    it("serves the self-signed placeholder first, which no client trusts", async () => {
        const first = await served();
        expect(first.issuer).toBe("Sofia placeholder / localhost");
        expect(first.authorized).toBe(false);
        expect(run("status").stdout).toContain("placeholder: yes");
    });

    it("obtains a certificate from the CA over HTTP-01, installs it, reloads the proxy; a client trusting the CA accepts it", async () => {
        const r = run("renew");
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/certificate for localhost installed, valid until/);
        expect(r.stdout).toContain("sofia-proxy reloaded");
        expect(fs.readFileSync(`${dir}/docker.log`, "utf8")).toContain("kill --signal HUP sofia-proxy");
        // The CA validated the challenge that nginx answered from the webroot.
        const log = fs.readFileSync(`${dir}/pebble.log`, "utf8");
        expect(log).toContain(`Attempting to validate w/ HTTP: http://localhost:${ports.challenge}/.well-known/acme-challenge/`);
        expect(log).toMatch(/authz \S+ set VALID by completed challenge/);
        const root = await fetchText(`https://127.0.0.1:${ports.mgmt}/roots/0`, fs.readFileSync(`${dir}/pebble-cert.pem`, "utf8"));
        let now = await served(root);
        for (let i = 0; i < 50 && !now.authorized; i++) {
            await new Promise((res) => setTimeout(res, 100));
            now = await served(root);
        }
        expect(now.authorized).toBe(true);
        expect(now.issuer).toMatch(/Pebble/);
        // The key is readable by root alone; the live pair is one symlink to one directory.
        const live = fs.readlinkSync(path.join(tlsDir, "live"));
        expect(live).toMatch(/^pair\.\w+$/);
        expect(fs.statSync(path.join(tlsDir, live, "key.pem")).mode & 0o777).toBe(0o600);
        expect(fs.readdirSync(tlsDir).filter((f) => f.startsWith("pair."))).toEqual([live]);
        // The days it has left, for the alarm (Pebble's certificates last years; Let's Encrypt's 90 days).
        expect(daysPublished().Minimum).toBeGreaterThan(CERT_ALARM_DAYS);
    }, 120_000);

    it("run again, contacts nobody and changes nothing while the certificate has more than 30 days", () => {
        const before = fs.readlinkSync(path.join(tlsDir, "live"));
        const again = run("renew");
        expect(again.status).toBe(0);
        expect(again.stdout).toMatch(/the certificate for localhost is valid for \d+ more days; renewing within 30/);
        expect(fs.readlinkSync(path.join(tlsDir, "live"))).toBe(before);
        // A placeholder run now keeps the CA's certificate.
        expect(run("placeholder").stdout).toContain("a certificate is installed; no placeholder needed");
    });

    it("keeps the live pair when the CA refuses, and says what to check", () => {
        const before = fs.readlinkSync(path.join(tlsDir, "live"));
        // A certificate for another name is due at once; this CA is not there.
        const r = spawnSync("bash", [path.join(ROOT, "host", "sofia-cert.sh"), "renew"], { env: { ...env, ACME_DOMAIN: "other.localhost", ACME_DIRECTORY: `https://127.0.0.1:${ports.health}/dir` }, encoding: "utf8", timeout: 120_000 });
        expect(r.status).toBe(1);
        // A failed renewal still reports (what the proxy serves): the alarm counts the days down.
        expect(daysPublished().SampleCount).toBeGreaterThanOrEqual(3);
        expect(r.stderr).toMatch(/the CA did not issue a certificate for other\.localhost; the proxy keeps the one it has .*Check that other\.localhost resolves to this host's Elastic IP and that port 80 reaches the proxy, then run: sofia-cert renew/);
        expect(fs.readlinkSync(path.join(tlsDir, "live"))).toBe(before);
        // Another CA directory (Let's Encrypt's staging to production, say) asks for a new certificate at once.
        const moved = spawnSync("bash", [path.join(ROOT, "host", "sofia-cert.sh"), "renew"], { env: { ...env, ACME_DIRECTORY: `https://127.0.0.1:${ports.health}/other-dir` }, encoding: "utf8", timeout: 120_000 });
        expect(moved.stdout).toContain(`asking https://127.0.0.1:${ports.health}/other-dir for a certificate for localhost`);
        expect(moved.status).toBe(1);
        expect(fs.readlinkSync(path.join(tlsDir, "live"))).toBe(before);
        // A longer name that contains the domain is not the domain.
        const longer = spawnSync("bash", [path.join(ROOT, "host", "sofia-cert.sh"), "renew"], { env: { ...env, ACME_DOMAIN: "local", ACME_DIRECTORY: `https://127.0.0.1:${ports.health}/dir` }, encoding: "utf8", timeout: 120_000 });
        expect(longer.stdout).toContain("for a certificate for local (HTTP-01");
    });

    it("refuses a key that does not match its certificate, and keeps the live pair", () => {
        const before = fs.readlinkSync(path.join(tlsDir, "live"));
        const other = fs.mkdtempSync(path.join(dir, "other-"));
        execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=x", "-keyout", `${other}/a.key`, "-out", `${other}/a.crt`], { stdio: "ignore" });
        execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${other}/b.key`], { stdio: "ignore" });
        const script = `source <(sed -n '/^install_pair()/,/^}/p' ${path.join(ROOT, "host", "sofia-cert.sh")}); die() { echo "$*" >&2; exit 1; }; TLS_DIR=${tlsDir}; LIVE=${tlsDir}/live; install_pair ${other}/a.crt ${other}/b.key x`;
        const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/does not match the certificate .*; nothing installed, the proxy keeps its certificate/);
        expect(fs.readlinkSync(path.join(tlsDir, "live"))).toBe(before);
    });
});
