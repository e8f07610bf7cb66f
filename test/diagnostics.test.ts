/**
 * When a page fires, the evidence is already there: the runbook's debugging procedures as SSM
 * documents run by EventBridge the moment their alarms enter ALARM, and host/sofia-diagnose.sh run
 * for real against the drill's Redis (a real redis-server), the docker double and moto_server: the
 * latency bundle lands in the bucket with what the runbook collects, its summary in the maintenance
 * log group; nothing is collected under the maintenance signal. Every other procedure's bundle is
 * the campaign's (npm run drill, drill/diagnostics-scenarios.ts), for the test command's time.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alarmCommandDocument, alarmEventPattern, validateAlarmCommands } from "../components/alarm-commands";
import { DRILL_BUCKET, DRILL_STACK, DrillEnv } from "../drill/env";
import { sofiaCatalog } from "../model/catalog";
import { stackSettings } from "../plan/stack-config";
import { actionsFor, PROCEDURES, Procedure, procedureOf } from "../topology/host/alarm-actions";
import { sofiaAlarms } from "../topology/host/alarms";
import { diagnoseEnv, diagnosticsCommands } from "../topology/host/diagnostics";
import { DATA_PATH } from "../topology/host/layout";
import { ofType, planStack } from "./helpers/plan";

const catalog = sofiaCatalog("questdb");

describe("which alarm collects which bundle", () => {
    it("gives every alarm of both stores and both stacks its first actions; an alarm without is refused by name", () => {
        for (const stack of ["prod", "staging"]) {
            const s = stackSettings(stack);
            for (const store of ["questdb", "timescaledb"] as const) {
                for (const a of sofiaAlarms(sofiaCatalog(store), { ...s, timeseriesStore: store }, "i-x", DATA_PATH)) expect(actionsFor(a.id).first.length, a.id).toBeGreaterThan(0);
            }
        }
        expect(() => actionsFor("brand-new-alarm")).toThrow(/no first actions for the alarm "brand-new-alarm"; add its family there/);
    });

    it("runs one document per procedure on exactly the alarms of that procedure, and says so in each page", () => {
        const s = stackSettings("prod");
        const commands = diagnosticsCommands(catalog, s);
        expect(commands.map((c) => c.id)).toEqual(Object.keys(PROCEDURES).map((p) => `diagnose-${p}`));
        const alarms = sofiaAlarms(catalog, s, "i-x", DATA_PATH);
        for (const a of alarms) {
            const procedure = procedureOf(a.id);
            const runs = commands.filter((c) => c.alarmNames.includes(`sofia-prod-${a.id}`)).map((c) => c.id);
            expect(runs, a.id).toEqual(procedure ? [`diagnose-${procedure}`] : []);
            if (procedure) expect(a.description, a.id).toMatch(new RegExp(`[.!?] Evidence: the ${procedure} bundle, collected when it fired, under prod/diagnostics/${procedure}/ in the backup bucket\\.$`));
        }
        expect(commands.find((c) => c.id === "diagnose-outage")!.alarmNames).toEqual(expect.arrayContaining(["sofia-prod-health-api", "sofia-prod-errors-api", "sofia-prod-probe-silent"]));
        expect(commands.find((c) => c.id === "diagnose-latency")!.alarmNames).toEqual(expect.arrayContaining(["sofia-prod-api-latency-p95", "sofia-prod-synthetic-ui"]));
    });

    it("matches the alarms' ALARM state by exact name (a composite page of the same alarm does not run it twice) within EventBridge's 2,048 characters", () => {
        const pattern = JSON.parse(alarmEventPattern(["sofia-prod-health-api"]));
        expect(pattern).toEqual({ source: ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"], detail: { alarmName: ["sofia-prod-health-api"], state: { value: ["ALARM"] } } });
        const many = { id: "x", description: "d", command: "c", timeoutSeconds: 60, alarmNames: Array.from({ length: 80 }, (_, i) => `sofia-prod-a-rather-long-alarm-name-${i}`) };
        expect(() => validateAlarmCommands({ prefix: "sofia-prod", commands: [many] })).toThrow(/over AWS's limit of 2048/);
        for (const c of diagnosticsCommands(catalog, stackSettings("prod"))) expect(() => validateAlarmCommands({ prefix: "sofia-prod", commands: [c] })).not.toThrow();
    });

    it("takes the alarm's name as a document parameter SSM checks against CloudWatch's alphabet", () => {
        const doc = JSON.parse(alarmCommandDocument({ id: "diagnose-memory", description: "d", command: "/usr/local/sbin/sofia-diagnose memory", alarmNames: ["a"], timeoutSeconds: 900 }));
        expect(doc.parameters.alarm.allowedPattern).toBe("^[A-Za-z0-9_.-]{1,200}$");
        expect(doc.mainSteps[0].inputs).toEqual({ runCommand: ["/usr/local/sbin/sofia-diagnose memory {{ alarm }}"], timeoutSeconds: "900" });
    });

    it("is in prod's plan: documents, rules whose targets run them on the host with the alarm's name, and a role that may send only those", async () => {
        const plan = await planStack("prod");
        const targets = ofType(plan, "aws:cloudwatch/eventTarget:EventTarget").filter((t) => String(t.inputs.rule).includes("diagnose-"));
        expect(targets).toHaveLength(4);
        for (const t of targets) {
            expect(t.inputs.runCommandTargets).toEqual([{ key: "InstanceIds", values: [expect.stringMatching(/^i-/)] }]);
            expect(t.inputs.inputTransformer).toEqual({ inputPaths: { alarm: "$.detail.alarmName" }, inputTemplate: '{"alarm":[<alarm>]}' });
        }
        const policy = ofType(plan, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name === "sofia-diagnostics-events")!;
        const statements = JSON.parse(String(policy.inputs.policy)).Statement;
        expect(statements).toHaveLength(1);
        expect(statements[0].Action).toBe("ssm:SendCommand");
        expect(statements[0].Resource).toHaveLength(5);
        const rules = ofType(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").flatMap((l) => (l.inputs.rules as { filter?: { prefix?: string }; expiration?: { days?: number } }[]) ?? []);
        expect(rules.find((r) => r.filter?.prefix === "prod/diagnostics/")?.expiration?.days).toBe(30);
    });
});

describe("host/sofia-diagnose.sh, for real (the drill's Redis, the docker double, moto_server)", () => {
    let env: DrillEnv;
    let metrics: http.Server;
    const bundles = (procedure: Procedure) => env.keys(`${DRILL_STACK}/diagnostics/${procedure}/`);
    const unpack = (key: string) => {
        const file = path.join(env.dir, "bundle.tar.gz");
        fs.writeFileSync(file, env.getObject(key));
        const out = path.join(env.dir, `unpacked-${Date.now()}`);
        fs.mkdirSync(out);
        expect(spawnSync("tar", ["-xzf", file, "-C", out]).status).toBe(0);
        const [dir] = fs.readdirSync(out);
        return Object.fromEntries(fs.readdirSync(path.join(out, dir)).map((f) => [f.replace(/\.txt$/, ""), fs.readFileSync(path.join(out, dir, f), "utf8")]));
    };

    beforeAll(async () => {
        env = await DrillEnv.start();
        env.loadRandomMiB(1);
        metrics = http.createServer((_q, res) => res.end("# TYPE ws_reconnects_total counter\nws_reconnects_total 3\n# TYPE stale_ratio gauge\nstale_ratio 0.02\n"));
        await new Promise<void>((r) => metrics.listen(0, "127.0.0.1", r));
        const url = `http://127.0.0.1:${(metrics.address() as net.AddressInfo).port}/metrics`;
        fs.writeFileSync(path.join(env.configDir, "diagnose.env"), diagnoseEnv(catalog, { stack: DRILL_STACK, region: "eu-central-1" }, DRILL_BUCKET).replace(/METRICS_URL=[^}]*/, `METRICS_URL=${url}`).replace("MEMORY_INTERVAL=20", "MEMORY_INTERVAL=1").replace("LATENCY_SECONDS=10", "LATENCY_SECONDS=1"));
        fs.writeFileSync(path.join(env.state, "sofia-crypto-ws.logs"), "2026-12-03 08:15:01,000 INFO ingestors.crypto_ws: connected\n2026-12-03 08:15:02,000 ERROR ingestors.crypto_ws: websocket disconnect (1006)\n2026-12-03 08:15:04,000 INFO ingestors.crypto_ws: reconnect 1\n");
        expect(env.aws(["logs", "create-log-group", "--log-group-name", `/sofia/${DRILL_STACK}/maintenance`]).status).toBe(0);
    }, 120_000);
    afterAll(async () => {
        metrics?.close();
        await env?.close();
    });
    const diagnose = (args: string[]) => env.runHost("sofia-diagnose", args, { SOFIA_DIAG_CONFIG: path.join(env.configDir, "diagnose.env") });

    it("latency: Redis latency samples and INFO stats from the real Redis, ticks in the last minute, connections; bundle in the bucket, summary in the log group", async () => {
        const r = await diagnose(["latency", "sofia-drill-api-latency-p95"]);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/sofia-diagnose: diagnostics latency for sofia-drill-api-latency-p95 at \d{8}T\d{6}Z: 6 sections; load .*; bundle s3:\/\/sofia-drill-backups\/drill\/diagnostics\/latency\/\d{8}T\d{6}Z-sofia-drill-api-latency-p95\.tar\.gz \(\d+ bytes\)/);
        const [key] = bundles("latency");
        const b = unpack(key);
        expect(Object.keys(b).sort()).toEqual(["api-errors", "connections", "flows", "host", "redis-info-stats", "redis-latency"]);
        expect(b["redis-latency"]).toMatch(/^\d+ \d+ [\d.]+ \d+$/m);
        expect(b["redis-info-stats"]).toContain("total_commands_processed:");
        expect(b.flows).toMatch(/flows: \d+ rows in ticks newer than a minute \(ts-writer\)/);
        expect(b.host).toMatch(/load average/);
        const events = env.aws(["logs", "filter-log-events", "--log-group-name", `/sofia/${DRILL_STACK}/maintenance`, "--query", "events[].message", "--output", "text"]);
        expect(events.stdout).toContain("diagnostics latency for sofia-drill-api-latency-p95");
        // The password never left Redis' container: not in the bundle.
        expect(JSON.stringify(b)).not.toContain(env.redisPassword);
    }, 120_000);

    it("collects nothing under the maintenance signal (unless forced), and refuses a name that is not an alarm's", async () => {
        const before = bundles("outage").length;
        expect((await env.runHost("sofia-maintenance", ["signal", "on", "5", "test"])).status).toBe(0);
        const quiet = await diagnose(["outage", "sofia-drill-health-api"]);
        expect(quiet.status).toBe(0);
        expect(quiet.stdout).toContain("not collected: a maintenance window or deploy is running");
        expect(bundles("outage")).toHaveLength(before);
        expect((await diagnose(["outage", "sofia-drill-health-api", "--force"])).status).toBe(0);
        expect(bundles("outage")).toHaveLength(before + 1);
        expect((await env.runHost("sofia-maintenance", ["signal", "off", "test"])).status).toBe(0);
        // A second alarm of the same procedure within the cooldown: one bundle says it (an outage fires many).
        const again = await diagnose(["latency", "sofia-drill-synthetic-api"]);
        expect(again.status).toBe(0);
        expect(again.stdout).toMatch(/latency for sofia-drill-synthetic-api not collected: one was collected \d+ s ago \(sofia-drill-api-latency-p95\)/);
        expect(bundles("latency")).toHaveLength(1);
        const hostile = await diagnose(["outage", "x/../../etc;rm"]);
        expect(hostile.status).not.toBe(0);
        expect(hostile.stderr).toContain("is not an alarm name");
        expect((await diagnose(["cpu"])).stderr).toContain("usage: sofia-diagnose latency|memory|websocket|outage");
    }, 120_000);

    it("keeps the evidence in its output when the bucket cannot be written, and fails saying so", async () => {
        const r = await env.runHost("sofia-diagnose", ["memory", "sofia-drill-host-memory"], { SOFIA_DIAG_CONFIG: path.join(env.configDir, "diagnose.env"), AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1" });
        expect(r.status).not.toBe(0);
        expect(r.stdout).toContain("NOT UPLOADED");
        // Every section collected in its time (the memory samples have their own), none failed.
        expect(r.stdout).toMatch(/diagnostics memory for sofia-drill-host-memory at \d{8}T\d{6}Z: 4 sections; load/);
        expect(r.stdout).toMatch(/the bundle is kept on the host at \S+diagnostics-unsent\/\d{8}T\d{6}Z-memory-sofia-drill-host-memory\.tar\.gz/);
        expect(r.stdout).toContain("=== redis-info-memory ===");
        expect(r.stdout).toContain("used_memory:");
    }, 120_000);
});
