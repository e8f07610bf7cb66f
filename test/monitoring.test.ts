import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateAlarmSpecs } from "../components/escalation";
import { Moto, startMoto } from "../drill/moto";
import type { Plan, PlannedResource } from "../plan/offline";
import { severalSystemsRule } from "../topology/host/alarms";
import { sofiaCatalog } from "../model/catalog";
import { servicesTable } from "../topology/host/services-files";
import { agentConfig, monitoringHostFiles, probeEnv, prometheusConfig } from "../topology/host/monitoring";
import { execFileSync } from "child_process";
import { runAsync } from "../drill/run";
import { ofType, one, planStack } from "./helpers/plan";
import { writeHostEnv } from "./helpers/host-env";

const catalog = sofiaCatalog("questdb");
const METRIC = "aws:cloudwatch/metricAlarm:MetricAlarm";
const COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm";

function alarm(plan: Plan, id: string): PlannedResource {
    const found = ofType(plan, METRIC).find((a) => a.inputs.name === `sofia-${plan.stack}-${id}`);
    if (!found) throw new Error(`no alarm ${id}`);
    return found;
}
function page(plan: Plan, id: string): PlannedResource {
    const found = ofType(plan, COMPOSITE).find((a) => a.inputs.alarmName === `sofia-${plan.stack}-${id}-page`);
    if (!found) throw new Error(`no paging alarm ${id}`);
    return found;
}

describe("alarms in the staging plan", () => {
    let plan: Plan;
    beforeAll(async () => {
        plan = await planStack("staging", [], ["oncallEndpoint=https://events.example.com/integration/very-secret"]);
    });

    it("has a health alarm for every catalog entry (adding a service adds its alarm)", () => {
        for (const e of catalog) {
            expect(alarm(plan, `health-${e.name}`).inputs, e.name).toMatchObject({
                namespace: "Sofia/staging", metricName: "ServiceHealthy", dimensions: { Stack: "staging", Service: e.name },
                statistic: "Minimum", threshold: 1, comparisonOperator: "LessThanThreshold", period: 60, evaluationPeriods: 3, datapointsToAlarm: 2, treatMissingData: "notBreaching",
            });
        }
        // A minute the probe missed is no failure; a probe that stopped is its own page.
        expect(alarm(plan, "probe-silent").inputs).toMatchObject({ metricName: "ProbeRuns", statistic: "SampleCount", comparisonOperator: "LessThanThreshold", threshold: 1, evaluationPeriods: 3, datapointsToAlarm: 3, treatMissingData: "breaching" });
        const withTs = ofType(plan, METRIC).filter((a) => String(a.inputs.name).startsWith("sofia-staging-health-")).length;
        expect(withTs).toBe(catalog.length);
    });

    it("takes every threshold from settings, with the runbook's values as defaults", async () => {
        expect(alarm(plan, "stale-ratio").inputs).toMatchObject({ metricName: "stale_ratio", statistic: "Maximum", threshold: 0.1, comparisonOperator: "GreaterThanOrEqualToThreshold", treatMissingData: "notBreaching" });
        expect(alarm(plan, "stale-ratio-signal-gone").inputs).toMatchObject({ metricName: "stale_ratio", statistic: "SampleCount", comparisonOperator: "LessThanThreshold", period: 3600, evaluationPeriods: 24, treatMissingData: "breaching" });
        expect(alarm(plan, "api-latency-p95").inputs).toMatchObject({ namespace: "Sofia/staging", metricName: "ApiLatencyMs", extendedStatistic: "p95", threshold: 150, treatMissingData: "notBreaching" });
        expect(alarm(plan, "api-latency-p95").inputs.statistic).toBeUndefined();
        expect(alarm(plan, "redis-memory").inputs).toMatchObject({ metricName: "RedisMemoryPercent", threshold: 80 });
        expect(alarm(plan, "disk-root").inputs).toMatchObject({ metricName: "disk_used_percent", dimensions: { Stack: "staging", path: "/" }, threshold: 80, treatMissingData: "breaching" });
        expect(alarm(plan, "disk-data").inputs).toMatchObject({ dimensions: { Stack: "staging", path: "/data" } });
        expect(alarm(plan, "errors-api").inputs).toMatchObject({ namespace: "Sofia/staging", metricName: "ErrorLines-api", statistic: "Sum", threshold: 10 });
        expect(alarm(plan, "backup-age").inputs).toMatchObject({ metricName: "BackupAgeHours", threshold: 26, treatMissingData: "breaching" });
        // A failed backup, verification or DR test stays in ALARM until a good run publishes 1.
        expect(alarm(plan, "backup-failed").inputs).toMatchObject({ metricName: "BackupSuccess", dimensions: { Stack: "staging", Kind: "full" }, treatMissingData: "ignore" });
        expect(alarm(plan, "verification-failed").inputs).toMatchObject({ metricName: "BackupVerified", statistic: "Minimum", threshold: 1, treatMissingData: "ignore" });
        expect(alarm(plan, "dr-test-failed").inputs).toMatchObject({ metricName: "DrTestSuccess", treatMissingData: "ignore" });
        expect(alarm(plan, "dr-test-slow").inputs).toMatchObject({ metricName: "DrTestSeconds", comparisonOperator: "GreaterThanThreshold", threshold: 3600 });
        expect(alarm(await planStack("staging", ["alarms={recoveryTimeMinutes: 20}"]), "dr-test-slow").inputs.threshold).toBe(1200);
        const tuned = await planStack("staging", ["alarms={staleRatio: 0.2, apiP95Ms: 300, redisMemoryPercent: 70, diskPercent: 90, errorLinesPerMinute: 3, reconnectsPerMinute: 9}"]);
        expect(alarm(tuned, "stale-ratio").inputs.threshold).toBe(0.2);
        expect(alarm(tuned, "api-latency-p95").inputs.threshold).toBe(300);
        expect(alarm(tuned, "redis-memory").inputs.threshold).toBe(70);
        expect(alarm(tuned, "disk-data").inputs.threshold).toBe(90);
        expect(alarm(tuned, "errors-ui").inputs.threshold).toBe(3);
        expect(alarm(tuned, "ws-reconnects").inputs.threshold).toBe(9);
    });

    it("alarms on reconnects as the agent publishes the counter: each point is already the increase per scrape, so the Sum per minute", () => {
        const a = alarm(plan, "ws-reconnects").inputs;
        expect(a).toMatchObject({ metricName: "ws_reconnects_total", statistic: "Sum", period: 60, comparisonOperator: "GreaterThanThreshold" });
        expect(a.metricQueries).toBeUndefined();
        // A steady storm of 20 a minute: RATE over those points read 0; their Sum reads 20 each minute.
        const points = [20, 20, 20, 20, 20];
        expect(points.slice(1).map((p, i) => p - points[i])).toEqual([0, 0, 0, 0]);
        expect(points.filter((p) => p > (a.threshold as number))).toHaveLength(5);
    });

    it("recovers and reboots the instance automatically at level 1, paging nobody", () => {
        const system = alarm(plan, "ec2-system-check").inputs;
        expect(system).toMatchObject({ namespace: "AWS/EC2", metricName: "StatusCheckFailed_System", alarmActions: ["arn:aws:automate:eu-central-1:ec2:recover"] });
        expect((system.dimensions as any).InstanceId).toMatch(/^i-/);
        expect(alarm(plan, "ec2-instance-check").inputs.alarmActions).toEqual(["arn:aws:automate:eu-central-1:ec2:reboot"]);
        expect(ofType(plan, COMPOSITE).some((c) => String(c.inputs.alarmName).includes("ec2-"))).toBe(false);
    });

    it("pages through composites only, each naming its level, suppressed by the maintenance alarm", () => {
        for (const a of ofType(plan, METRIC).filter((x) => !/ec2-|maintenance-active/.test(String(x.inputs.name)))) {
            expect(a.inputs.alarmActions, String(a.inputs.name)).toEqual([]);
            expect(a.inputs.alarmDescription).toMatch(/^Level [123]: /);
        }
        const api = page(plan, "health-api");
        expect(api.inputs.alarmRule).toBe('ALARM("sofia-staging-health-api")');
        expect((api.inputs.alarmActions as string[])).toHaveLength(1);
        expect((api.inputs.alarmActions as string[])[0]).toMatch(/sofia-staging-level2-oncall|level2/);
        expect(api.inputs.actionsSuppressor).toEqual({ alarm: "sofia-staging-maintenance-active", waitPeriod: 120, extensionPeriod: 600 });
        expect(alarm(plan, "maintenance-active").inputs).toMatchObject({ metricName: "MaintenanceActive", threshold: 1, comparisonOperator: "GreaterThanOrEqualToThreshold", treatMissingData: "notBreaching" });
        expect(alarm(plan, "maintenance-active").inputs.alarmActions).toBeUndefined();
    });

    it("escalates several systems failing to level 3: on-call plus senior and security", () => {
        const l3 = page(plan, "several-systems-failing");
        expect(l3.inputs.alarmDescription).toMatch(/^Level 3: /);
        expect(l3.inputs.alarmActions as string[]).toHaveLength(2);
        expect(String(l3.inputs.alarmRule)).toContain('(ALARM("sofia-staging-health-redis") AND ALARM("sofia-staging-health-questdb"))');
        expect(severalSystemsRule(["a", "b", "c"])).toBe('(ALARM("a") AND ALARM("b")) OR (ALARM("a") AND ALARM("c")) OR (ALARM("b") AND ALARM("c"))');
    });

    it("subscribes the secret on-call endpoint (masked) and the level 3 e-mails", async () => {
        const subs = ofType(plan, "aws:sns/topicSubscription:TopicSubscription");
        const https = subs.find((x) => x.inputs.protocol === "https")!;
        expect(https.inputs.endpoint).toBe("[secret]");
        // The update waits for the pager to confirm: a subscription left pending pages nobody.
        expect(https.inputs).toMatchObject({ endpointAutoConfirms: true, confirmationTimeoutInMinutes: 5 });
        // With a subscriber, no "nobody is on call" alarm; without one (prod's offline plan), a level 3 one.
        expect(ofType(plan, METRIC).some((a) => a.inputs.name === "sofia-staging-oncall-unsubscribed")).toBe(false);
        expect(ofType(plan, METRIC).find((a) => a.inputs.name === "sofia-staging-oncall-delivery-failed")!.inputs).toMatchObject({ namespace: "AWS/SNS", metricName: "NumberOfNotificationsFailed", dimensions: { TopicName: "sofia-staging-level2-oncall" } });
        // Its page goes to the senior and security contacts only: one to the failing endpoint would count as another failure.
        const delivery = page(plan, "oncall-delivery-failed").inputs;
        expect(delivery.alarmActions).toEqual([expect.stringMatching(/:sofia-staging-level3-senior$/)]);
        expect(delivery.okActions).toEqual(delivery.alarmActions);
        const oncallPolicy = ofType(plan, "aws:sns/topicPolicy:TopicPolicy").find((p) => String(p.inputs.arn).endsWith(":sofia-staging-level2-oncall"))!;
        expect(oncallPolicy.inputs.policy).not.toContain("oncall-delivery-failed");
        expect(JSON.stringify(plan)).not.toContain("very-secret");
        expect(subs.filter((x) => x.inputs.protocol === "email").map((x) => x.inputs.endpoint)).toEqual(["security@company.com"]);
        const prod = await planStack("prod");
        expect(ofType(prod, "aws:sns/topicSubscription:TopicSubscription").map((x) => x.inputs.endpoint)).toEqual(["engineering@company.com", "security@company.com"]);
        expect(ofType(prod, COMPOSITE).find((a) => a.inputs.alarmName === "sofia-prod-oncall-unsubscribed-page")!.inputs.alarmActions).toHaveLength(2);
    });

    it("ships each service's logs to its own group with the retention setting, counting ERROR lines", async () => {
        const groups = ofType(plan, "aws:cloudwatch/logGroup:LogGroup");
        for (const e of catalog) expect(groups.find((g) => g.inputs.name === `/sofia/staging/${e.name}`)?.inputs.retentionInDays, e.name).toBe(30);
        const filters = ofType(plan, "aws:cloudwatch/logMetricFilter:LogMetricFilter");
        // The API's layouts (its logging and uvicorn's) each have a filter into the one metric.
        expect(filters.filter((f) => (f.inputs.metricTransformation as any).name === "ErrorLines-api").map((f) => f.inputs)).toEqual([
            expect.objectContaining({ logGroupName: "/sofia/staging/api", pattern: '[date, time, level = "ERROR" || level = "CRITICAL", ...]', metricTransformation: expect.objectContaining({ value: "1", defaultValue: "0" }) }),
            expect.objectContaining({ logGroupName: "/sofia/staging/api", pattern: '[level = "ERROR:" || level = "CRITICAL:", ...]' }),
        ]);
        expect(filters.find((f) => (f.inputs.metricTransformation as any).name === "ErrorLines-proxy")!.inputs.pattern).toBe('[date, time, level = "error" || level = "crit" || level = "alert" || level = "emerg", ...]');
        expect(filters.some((f) => f.inputs.pattern === "ERROR")).toBe(false);
        expect(filters.find((f) => (f.inputs.metricTransformation as any).name === "ApiLatencyMs")!.inputs).toMatchObject({ pattern: "{ $.duration_ms = * }", metricTransformation: { value: "$.duration_ms" } });
        const longer = await planStack("staging", ["logRetentionDays=90"]);
        expect(ofType(longer, "aws:cloudwatch/logGroup:LogGroup")[0].inputs.retentionInDays).toBe(90);
        await expect(planStack("staging", ["logRetentionDays=45"])).rejects.toThrow(/sofia:logRetentionDays: 45 is not allowed: expected one of CloudWatch's retention periods/);
    });

    it("draws the checklist on one dashboard", () => {
        const body = JSON.parse(one(plan, "aws:cloudwatch/dashboard:Dashboard").inputs.dashboardBody as string);
        expect(body.widgets.map((w: any) => w.properties.title)).toEqual([
            "Health per service (1 = healthy)", "Data freshness: stale_ratio", "API latency p95 (ms)", "Redis memory (% of maxmemory)",
            "Disk used (%)", "Backup age (hours)", "Websocket reconnects per minute", "Error lines per minute",
        ]);
        expect(body.widgets[0].properties.metrics).toHaveLength(catalog.length);
    });

    it("refuses alarm specs CloudWatch or the escalation could not honour", () => {
        const base = { id: "x", level: 2 as const, description: "d", metric: { namespace: "n", name: "m", dimensions: {}, statistic: "Maximum" }, comparison: "GreaterThanThreshold" as const, threshold: 1, period: 60, evaluationPeriods: 1, treatMissingData: "missing" as const, publisher: { by: "agent" as const }, silence: "s" };
        expect(() => validateAlarmSpecs([base, base])).toThrow(/ids used twice: x/);
        expect(() => validateAlarmSpecs([{ ...base, silence: " " }])).toThrow(/say what silence means/);
        expect(() => validateAlarmSpecs([{ ...base, automatic: "reboot" }])).toThrow(/level 1 alarms, and only they/);
        expect(() => validateAlarmSpecs([{ ...base, datapointsToAlarm: 3 }])).toThrow(/datapointsToAlarm 3 > evaluationPeriods 1/);
        expect(() => validateAlarmSpecs([{ ...base, period: 90 }])).toThrow(/period 90/);
    });
});

describe("the CloudWatch agent's configuration", () => {
    it("collects memory and disk of both volumes into the stack's own namespace with the stack as dimension", () => {
        const c = agentConfig("staging", "/data") as any;
        expect(c.metrics.namespace).toBe("Sofia/staging");
        expect(c.metrics.aggregation_dimensions).toEqual([["Stack"], ["Stack", "path"]]);
        expect(c.metrics.metrics_collected.disk).toMatchObject({ measurement: ["used_percent"], resources: ["/", "/data"], append_dimensions: { Stack: "staging" } });
        expect(c.metrics.metrics_collected.mem).toMatchObject({ measurement: ["mem_used_percent"], append_dimensions: { Stack: "staging" } });
    });

    it("scrapes the metrics server named in the catalog, keeping only the alarmed metrics and the PnL the dashboard draws", () => {
        const c = agentConfig("staging", "/data") as any;
        const decl = c.logs.metrics_collected.prometheus.emf_processor.metric_declaration[0];
        expect(decl).toMatchObject({ label_matcher: "^sofia-metrics$", dimensions: [["Stack"]], metric_selectors: ["^stale_ratio$", "^ws_reconnects_total$", "^news_newest_item_age_seconds$", "^equities_fallback_up$", "^paper_trading_pnl_usd$"] });
        expect(prometheusConfig(catalog, "staging")).toContain("- 127.0.0.1:8000");
        expect(prometheusConfig(catalog, "staging")).toContain("Stack: staging");
    });
});

describe("host/sofia-probe.sh, for real", () => {
    let moto: Moto;
    let dir: string;
    const servers: net.Server[] = [];
    const ports: Record<string, number> = {};

    beforeAll(async () => {
        moto = await startMoto();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "probe-"));
        const make = {
            healthy: http.createServer((_q, r) => r.end("ok")),
            failing: http.createServer((_q, r) => ((r.statusCode = 500), r.end("no"))),
            hanging: net.createServer(() => undefined),
        };
        for (const [name, srv] of Object.entries(make)) {
            await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
            ports[name] = (srv.address() as net.AddressInfo).port;
            servers.push(srv);
        }
        // The real generated table, its /health pointed here: api healthy, ui failing, questdb hanging.
        const table = servicesTable(catalog)
            .replace("http://127.0.0.1:8013/health", `http://127.0.0.1:${ports.healthy}/health`)
            .replace("http://127.0.0.1:8080/", `http://127.0.0.1:${ports.failing}/`)
            .replace("http://127.0.0.1:9003/", `http://127.0.0.1:${ports.hanging}/`)
            .replace("http://127.0.0.1:8000/health", `http://127.0.0.1:${ports.healthy}/health`);
        fs.writeFileSync(path.join(dir, "services.tsv"), table);
        fs.writeFileSync(path.join(dir, "probe.env"), probeEnv("probe"));
        const state = path.join(dir, "state");
        fs.mkdirSync(state);
        // Docker's view of the containers without /health: all healthy but the news aggregator.
        for (const e of catalog) fs.writeFileSync(path.join(state, `sofia-${e.name}.health`), e.name === "news" ? "unhealthy\n" : "healthy\n");
    });
    afterAll(async () => {
        servers.forEach((s) => s.close());
        await moto.stop();
    });

    it("publishes 1 for healthy services and 0 for failing, hanging and unhealthy ones, within the timeout", async () => {
        const started = Date.now();
        const r = await runAsync("bash", [path.join(__dirname, "..", "host", "sofia-probe.sh")], {
            ...process.env, ...moto.env,
            PATH: `${path.join(__dirname, "..", "drill", "doubles")}:${process.env.PATH}`,
            DOCKER_LOG: path.join(dir, "docker.log"), DOCKER_STATE: path.join(dir, "state"),
            SOFIA_HOST_ENV: writeHostEnv(dir), SOFIA_CATALOG: path.join(dir, "services.tsv"), SOFIA_PROBE_ENV: path.join(dir, "probe.env"), SOFIA_PROBE_TIMEOUT: "2", SOFIA_STATE_DIR: path.join(dir, "var"),
        });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(Date.now() - started).toBeLessThan(15_000);
        const read = async (service: string) => {
            const now = Date.now();
            const q = await runAsync("aws", ["cloudwatch", "get-metric-statistics", "--namespace", "Sofia/probe", "--metric-name", "ServiceHealthy", "--dimensions", "Name=Stack,Value=probe", `Name=Service,Value=${service}`, "--statistics", "Minimum", "--start-time", new Date(now - 600_000).toISOString(), "--end-time", new Date(now + 60_000).toISOString(), "--period", "60"], { ...process.env, ...moto.env });
            return (JSON.parse(q.stdout).Datapoints as { Minimum: number }[]).map((d) => d.Minimum);
        };
        expect(await read("api")).toEqual([1]);
        expect(await read("metrics")).toEqual([1]);
        expect(await read("ui")).toEqual([0]);
        expect(await read("questdb")).toEqual([0]);
        expect(await read("redis")).toEqual([1]);
        expect(await read("news")).toEqual([0]);
        // The table's header is no service: nothing named after its column, and no curl of it.
        expect(await read("name")).toEqual([]);
        expect(fs.readFileSync(path.join(dir, "docker.log"), "utf8")).not.toMatch(/inspect .* container\b/);
    });

    it("stamps every datum with the minute it describes, and sends its heartbeat", async () => {
        const r = await runAsync("bash", [path.join(__dirname, "..", "host", "sofia-probe.sh"), "--dry-run"], {
            ...process.env, ...moto.env,
            PATH: `${path.join(__dirname, "..", "drill", "doubles")}:${process.env.PATH}`,
            DOCKER_LOG: path.join(dir, "docker.log"), DOCKER_STATE: path.join(dir, "state"),
            SOFIA_HOST_ENV: writeHostEnv(dir), SOFIA_CATALOG: path.join(dir, "services.tsv"), SOFIA_PROBE_ENV: path.join(dir, "probe.env"), SOFIA_PROBE_TIMEOUT: "1", SOFIA_STATE_DIR: path.join(dir, "var"),
        });
        const data = JSON.parse(r.stdout) as { MetricName: string; Timestamp: string; Dimensions: { Name: string; Value: string }[] }[];
        expect(new Set(data.map((d) => d.Timestamp)).size).toBe(1);
        expect(data[0].Timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:30Z$/);
        expect(data.filter((d) => d.MetricName === "ProbeRuns")).toHaveLength(1);
        expect(data.filter((d) => d.MetricName === "ServiceHealthy").map((d) => d.Dimensions[1].Value).sort()).toEqual(catalog.map((e) => e.name).sort());
    });

    it("fires on the minute, every minute (systemd's own reading of the timer)", () => {
        const timer = monitoringHostFiles(catalog, "staging", "/data").files.find((f) => f.path.endsWith("sofia-probe.timer"))!.content as string;
        const when = /^OnCalendar=(.*)$/m.exec(timer)![1];
        expect(timer).not.toMatch(/OnUnitActiveSec/);
        const out = execFileSync("systemd-analyze", ["calendar", "--iterations=3", when], { encoding: "utf8" });
        const next = [...out.matchAll(/(?:Next elapse|Iter\. #\d+):\s+\w+ (\S+ \S+)/g)].map((m) => m[1]);
        expect(next).toHaveLength(3);
        for (const t of next) expect(t).toMatch(/:\d\d:00$/);
        const minutes = next.map((t) => Date.parse(t.replace(" ", "T") + "Z"));
        expect(minutes[1] - minutes[0]).toBe(60_000);
    });
});
