/**
 * Grafana, as the runbook names it: the pinned container behind the proxy, its generated admin
 * password, its data sources and the dashboard generated from the alarm table and the catalog (by
 * Grafana's own SDK), its read-only CloudWatch role, and host/sofia-grafana-creds.sh run for real
 * against the AWS emulator (moto_server). Grafana itself cannot run here: what it is given is read.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMoto, Moto } from "../drill/moto";
import { stackSettings } from "../plan/stack-config";
import { sofiaCatalog } from "../model/catalog";
import { APP_METRICS } from "../model/metrics";
import { sofiaAlarms } from "../topology/host/alarms";
import { containerShapes } from "../topology/host/containers";
import { dashboardUid, DATASOURCES, sofiaDashboard } from "../topology/host/dashboards";
import { grafanaDatasources, grafanaEnv, grafanaReaderPolicy } from "../topology/host/grafana";
import { DATA_PATH } from "../topology/host/layout";
import { writeHostEnv } from "./helpers/host-env";
import { installedFiles, ofType, planStack } from "./helpers/plan";

const ROOT = path.resolve(__dirname, "..");
const prod = stackSettings("prod");
const catalog = sofiaCatalog("questdb");

type Panel = { type: string; title: string; description?: string; targets?: Record<string, unknown>[]; fieldConfig?: { defaults?: { thresholds?: { steps: { value: number | null }[] } } } };

describe("the Grafana container", () => {
    it("runs the pinned image behind the proxy with TLS for the operators' CIDRs, its admin password from a generated secret file, no secret in its env", () => {
        const shape = containerShapes(catalog, { ...prod, staffCidrs: ["192.0.2.0/24"] }).find((c) => c.name === "sofia-grafana")!;
        expect(catalog.find((e) => e.name === "grafana")!.defaultImage).toMatch(/^grafana\/grafana:11\.6\.0@sha256:[0-9a-f]{64}$/);
        const envs = shape.envs as string[];
        // Read by Grafana from its ini, never through the environment (the image's run.sh would export a __FILE variable's content).
        expect(envs.filter((e) => e.includes("PASSWORD"))).toEqual([]);
        const ini = (shape.uploads as { file: string; content: string }[]).find((u) => u.file === "/etc/grafana/grafana.ini")!.content;
        expect(ini).toContain("admin_password = $__file{/run/secrets/grafana-password}");
        expect(envs).toContain("GF_LOG_CONSOLE_FORMAT=json");
        expect(envs).toContain("GF_SERVER_ROOT_URL=https://sofia.company.com:3000/");
        expect(envs).toContain("GF_SECURITY_COOKIE_SECURE=true");
        // Its own password and the store's it reads; nothing of Redis' (it does not talk to Redis).
        const uploads = (shape.uploads as { file: string }[]).map((u) => u.file);
        expect(uploads).toEqual(expect.arrayContaining(["/run/secrets/grafana-password", "/run/secrets/questdb-password"]));
        expect(uploads).not.toContain("/run/secrets/redis-password");
        // Loopback only: clients reach it through the proxy's TLS listener on the same port.
        expect(shape.ports).toEqual([{ external: 3000, internal: 3000, ip: "127.0.0.1" }]);
        expect(shape.volumes).toEqual(expect.arrayContaining([expect.objectContaining({ hostPath: "/var/lib/sofia/grafana-aws", containerPath: "/etc/grafana/aws", readOnly: true })]));
    });

    it("is in prod's plan: the container, the proxy's TLS port for it, its alarms, its role and host files, the password only as [secret]", async () => {
        const plan = await planStack("prod");
        const proxy = ofType(plan, "docker:index/container:Container").find((r) => r.inputs.name === "sofia-proxy")!;
        expect(proxy.inputs.ports).toEqual(expect.arrayContaining([expect.objectContaining({ internal: 3000 })]));
        // Prod's clients are the whole internet; Grafana's port is opened to staffCidrs alone (none by default).
        const rules = ofType(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => r.inputs.fromPort === 3000);
        expect(rules).toEqual([]);
        const staffed = await planStack("prod", ["staffCidrs=[192.0.2.0/24]"]);
        expect(ofType(staffed, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => r.inputs.fromPort === 3000).map((r) => r.inputs.cidrIpv4)).toEqual(["192.0.2.0/24"]);
        await expect(planStack("prod", ["staffCidrs=[0.0.0.0/0]"])).rejects.toThrow(/sofia:staffCidrs\[0\]: "0\.0\.0\.0\/0" is not allowed: a staff CIDR names the operators' networks/);
        const alarms = ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm").map((a) => a.inputs.name);
        const image = ofType(plan, "docker:index/remoteImage:RemoteImage").find((r) => String(r.inputs.name).startsWith("grafana/"))!;
        expect(image.inputs.name).toMatch(/^grafana\/grafana:11\.6\.0@sha256:[0-9a-f]{64}$/);
        expect(alarms).toEqual(expect.arrayContaining(["sofia-prod-health-grafana", "sofia-prod-errors-grafana"]));
        expect(plan.outputs.grafana).toEqual({ url: "https://sofia.company.com:3000", user: "admin" });
        expect(plan.outputs.grafanaAdminPassword).toBe("[secret]");
        const files = installedFiles(plan).filter((f) => f.part === "grafana").map((f) => f.path);
        expect(files).toEqual(expect.arrayContaining(["/etc/sofia/grafana.env", "/usr/local/sbin/sofia-grafana-creds", "/etc/systemd/system/sofia-grafana-creds.timer"]));
        const roles = ofType(plan, "aws:iam/role:Role").filter((r) => String(r.name).includes("grafana-reader"));
        expect(roles).toHaveLength(1);
    });
});

describe("reached through an SSM tunnel when no staffCidrs are set", () => {
    it("sets neither a secure cookie nor an https root URL, which would break the login over the tunnel", () => {
        const envs = containerShapes(catalog, prod).find((c) => c.name === "sofia-grafana")!.envs as string[];
        expect(envs.filter((e) => /COOKIE_SECURE|ROOT_URL/.test(e))).toEqual([]);
    });
});

describe("its data sources", () => {
    it("read CloudWatch with the shared credentials file's profile, and the chosen store over its PostgreSQL wire with the password read from its secret file", () => {
        for (const store of ["questdb", "timescaledb"] as const) {
            const doc = parse(grafanaDatasources(sofiaCatalog(store), { region: "eu-central-1", timeseriesStore: store }));
            const [cw, ts] = doc.datasources;
            expect(cw).toMatchObject({ uid: DATASOURCES.cloudwatch.uid, type: "cloudwatch", editable: false, jsonData: { authType: "credentials", defaultRegion: "eu-central-1" } });
            expect(ts).toMatchObject({ uid: DATASOURCES.timeseries.uid, type: "grafana-postgresql-datasource", secureJsonData: { password: `$__file{/run/secrets/${store}-password}` } });
            expect(ts.url).toBe(store === "questdb" ? "sofia-questdb:8812" : "sofia-timescaledb:5432");
            expect(JSON.stringify(doc)).not.toMatch(/offline-|password: [^$]/);
        }
    });

    it("refuses a catalog whose store lacks the port Grafana reads", () => {
        const broken = sofiaCatalog("questdb").map((e) => (e.name === "questdb" ? { ...e, ports: e.ports.filter((p) => p.name !== "pg-wire") } : e));
        expect(() => grafanaDatasources(broken, { region: "eu-central-1", timeseriesStore: "questdb" })).toThrow(/grafana reads questdb on its pg-wire port/);
    });
});

describe("the dashboard, generated from the alarm table and the catalog", () => {
    const panels = (d: ReturnType<typeof sofiaDashboard>) => (d.panels ?? []) as Panel[];
    const labels = (d: ReturnType<typeof sofiaDashboard>) => panels(d).flatMap((p) => (p.targets ?? []).map((t) => t.label));

    it("draws every alarm whose metric is known before the host exists, with its threshold; the EC2 checks (by instance id) are AWS's", () => {
        const d = sofiaDashboard(catalog, prod);
        const drawn = new Set(labels(d));
        const alarms = sofiaAlarms(catalog, prod, "i-x", DATA_PATH);
        const missing = alarms.filter((a) => !drawn.has(a.id)).map((a) => a.id);
        expect(missing.sort()).toEqual(["ec2-instance-check", "ec2-system-check"]);
        // The stale-ratio panel carries the alarm's threshold as its red step.
        const stale = panels(d).find((p) => p.title === `${APP_METRICS.staleRatio} (Maximum)`)!;
        expect(stale.fieldConfig?.defaults?.thresholds?.steps).toEqual([{ value: null, color: "green" }, { value: prod.alarms.staleRatio, color: "red" }]);
        expect(stale.description).toContain("stale-ratio (level 2)");
        // Its signal-gone alarm counts samples: a panel of its own, not a count beside a ratio.
        expect(stale.targets!.map((t) => t.label)).toEqual(["stale-ratio"]);
        expect(panels(d).find((p) => p.title === `${APP_METRICS.staleRatio} (SampleCount)`)!.targets!.map((t) => t.label)).toEqual(["stale-ratio-signal-gone"]);
        // "Less than" alarms fire below the line: red below, green above.
        const health = panels(d).find((p) => p.title === "ServiceHealthy (Minimum)")!;
        expect(health.fieldConfig?.defaults?.thresholds?.steps).toEqual([{ value: null, color: "red" }, { value: 1, color: "green" }]);
    });

    it("follows the settings: a stack without the Redis schedule has no Redis backup-age series", () => {
        const without = sofiaDashboard(catalog, { ...prod, backup: { ...prod.backup, redisSchedule: undefined } });
        expect(labels(sofiaDashboard(catalog, prod))).toContain("backup-age-redis");
        expect(labels(without)).not.toContain("backup-age-redis");
    });

    it("has the runbook's rows, the PnL panel and the data flow from the store, in each store's SQL", () => {
        const d = sofiaDashboard(catalog, prod);
        const rows = panels(d).filter((p) => p.type === "row").map((p) => p.title);
        expect(rows).toEqual(expect.arrayContaining(["Services and Redis (host probe)", "Market data, news and feeds (metrics server)", "API latency and errors (logs)", "Host", "Backups and DR test", "Certificate"]));
        const pnl = panels(d).find((p) => p.title === "Paper-trading PnL")!;
        expect(pnl.targets?.[0]).toMatchObject({ metricName: APP_METRICS.pnl, namespace: "Sofia/prod" });
        const flow = (store: "questdb" | "timescaledb") => panels(sofiaDashboard(sofiaCatalog(store), { ...prod, timeseriesStore: store })).find((p) => p.title === "Rows written per minute")!.targets![0].rawSql;
        expect(flow("questdb")).toBe(`SELECT timestamp AS time, count() AS "ts-writer" FROM ticks WHERE $__timeFilter(timestamp) SAMPLE BY 1m FILL(0) ALIGN TO CALENDAR`);
        expect(flow("timescaledb")).toMatch(/^SELECT time_bucket_gapfill\('1 minute', timestamp\) AS time, COALESCE\(count\(\*\), 0\) AS "ts-writer" FROM ticks .* GROUP BY 1/);
        // Unique ids per panel's queries, every query on a provisioned data source.
        for (const p of panels(d).filter((x) => x.targets)) {
            const ids = p.targets!.map((t) => t.refId);
            expect(new Set(ids).size, p.title).toBe(ids.length);
            for (const t of p.targets!) expect([DATASOURCES.cloudwatch.uid, DATASOURCES.timeseries.uid]).toContain((t.datasource as { uid: string }).uid);
        }
        expect(d.uid).toBe("sofia-overview-prod");
        // Grafana's 40 characters for a uid, whatever the stack's name.
        const long = dashboardUid("a-stack-name-well-over-what-grafana-takes");
        expect(long.length).toBeLessThanOrEqual(40);
        expect(long).not.toBe(dashboardUid("a-stack-name-well-over-what-grafana-takes-2"));
    });
});

describe("its read-only CloudWatch role", () => {
    it("may read metrics and alarms only, and only the host's role may assume it", async () => {
        const actions = JSON.parse(grafanaReaderPolicy()).Statement.flatMap((x: { Action: string[] }) => x.Action) as string[];
        for (const a of actions) expect(a).toMatch(/^(cloudwatch|ec2):(Get|List|Describe)/);
        const plan = await planStack("prod");
        const role = ofType(plan, "aws:iam/role:Role").find((r) => String(r.name).includes("grafana-reader"))!;
        const trust = JSON.parse(String(role.inputs.assumeRolePolicy));
        expect(trust.Statement).toHaveLength(1);
        expect(trust.Statement[0].Principal.AWS).toMatch(/^arn:aws:iam:.*sofia-host-role$/);
        const assume = ofType(plan, "aws:iam/rolePolicy:RolePolicy").find((r) => String(r.name).includes("assume-grafana-reader"))!;
        expect(JSON.parse(String(assume.inputs.policy)).Statement).toEqual([{ Sid: "GrafanaReader", Effect: "Allow", Action: "sts:AssumeRole", Resource: expect.stringMatching(/grafana-reader/) }]);
    });
});

describe("host/sofia-grafana-creds.sh, against moto_server", () => {
    let moto: Moto;
    let dir: string;
    let roleArn: string;
    beforeAll(async () => {
        moto = await startMoto();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-grafana-"));
        const trust = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::123456789012:root" }, Action: "sts:AssumeRole" }] });
        const out = spawnSync("aws", ["iam", "create-role", "--role-name", "grafana-reader", "--assume-role-policy-document", trust, "--query", "Role.Arn", "--output", "text"], { env: { ...process.env, ...moto.env }, encoding: "utf8" });
        expect(out.status, out.stderr).toBe(0);
        roleArn = out.stdout.trim();
    }, 60_000);
    afterAll(async () => {
        await moto?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    const run = (env: Record<string, string> = {}) => {
        const conf = path.join(dir, "grafana.env");
        const awsDir = path.join(dir, "aws");
        fs.writeFileSync(conf, grafanaEnv({ region: "eu-central-1", stack: "prod" }, roleArn).replace(/GRAFANA_AWS_DIR=[^}]*/, `GRAFANA_AWS_DIR=${awsDir}`).replace(/GRAFANA_UID=\d+/, `GRAFANA_UID=${process.getuid!()}`));
        const r = spawnSync("bash", [path.join(ROOT, "host/sofia-grafana-creds.sh")], { env: { ...process.env, ...moto.env, SOFIA_HOST_ENV: writeHostEnv(dir), SOFIA_GRAFANA_CONFIG: conf, ...env }, encoding: "utf8" });
        return { ...r, file: path.join(awsDir, "credentials") };
    };

    it("writes a whole credentials file of the profile Grafana names, readable by its user alone, and says until when", () => {
        const r = run();
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/credentials of arn:aws:iam::\d+:role\/grafana-reader for Grafana, until \d{4}-/);
        const text = fs.readFileSync(r.file, "utf8");
        expect(text).toMatch(/^\[sofia-grafana-reader\]\naws_access_key_id = \S+\naws_secret_access_key = \S+\naws_session_token = \S+\n$/);
        expect(fs.statSync(r.file).mode & 0o777).toBe(0o400);
        expect(fs.readdirSync(path.dirname(r.file))).toEqual(["credentials"]);
    });

    it("keeps the previous file and says why when STS cannot be reached, and removes what a killed run left", () => {
        const first = run();
        expect(first.status).toBe(0);
        const before = fs.readFileSync(first.file, "utf8");
        const leftover = path.join(path.dirname(first.file), ".credentials.killed");
        fs.writeFileSync(leftover, "half");
        const old = new Date(Date.now() - 10 * 60_000);
        fs.utimesSync(leftover, old, old);
        const r = run({ AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1", AWS_RETRY_MODE: "standard" });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(/could not assume .*grafana-reader.*credentials\/? is still there|could not assume .*grafana-reader.* is still there/s);
        expect(fs.readFileSync(r.file, "utf8")).toBe(before);
        expect(fs.existsSync(leftover)).toBe(false);
    });

    it("writes nothing when STS answers without a whole set (the CLI prints None for a missing field)", () => {
        const first = run();
        expect(first.status).toBe(0);
        const before = fs.readFileSync(first.file, "utf8");
        const bin = path.join(dir, "fake-bin");
        fs.mkdirSync(bin, { recursive: true });
        // A stand-in for the aws CLI (a double: STS cannot be made to answer so here).
        fs.writeFileSync(path.join(bin, "aws"), "#!/bin/sh\nprintf 'None\\tNone\\tNone\\tNone\\n'\n", { mode: 0o755 });
        const r = run({ PATH: `${bin}:${process.env.PATH}` });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("without a whole set of temporary credentials");
        expect(fs.readFileSync(r.file, "utf8")).toBe(before);
    });

    it("refuses a configuration without the role, naming the key", () => {
        const conf = path.join(dir, "bad.env");
        fs.writeFileSync(conf, ': "${GRAFANA_AWS_DIR=/tmp/x}"\n');
        const r = spawnSync("bash", [path.join(ROOT, "host/sofia-grafana-creds.sh")], { env: { ...process.env, SOFIA_HOST_ENV: writeHostEnv(dir), SOFIA_GRAFANA_CONFIG: conf }, encoding: "utf8" });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("does not set GRAFANA_READER_ROLE_ARN");
    });
});
