/**
 * Every alarm of both stacks, walked to its publisher: a host script's metrics are what the real
 * script sent to the AWS emulator (moto_server) when run here (each run's put-metric-data calls
 * recorded on their way through the real aws CLI); the CloudWatch agent's and its Prometheus
 * scrape's are what the generated agent configuration collects; a log filter's is a filter in the
 * plan on that service's log group; AWS's own are in its namespace. An alarm whose metric nobody
 * sends can never fire; one whose publisher is misnamed sends the reader of a page the wrong way.
 */
import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlarmSpec } from "../components/escalation";
import { DATA_PATH } from "../topology/host/layout";
import { DRILL_STACK, DrillEnv } from "../drill/env";
import type { Plan } from "../plan/offline";
import { stackSettings } from "../plan/stack-config";
import { sofiaAlarms } from "../topology/host/alarms";
import { sofiaCatalog } from "../model/catalog";
import { certEnv } from "../topology/host/certificate";
import { agentConfig, prometheusConfig } from "../topology/host/monitoring";
import { metricsNamespace, STACK_DIMENSION } from "../model/metrics";
import { ofType, planStack } from "./helpers/plan";

/** Where the drill's host scripts publish: its stack's own namespace. */
const NAMESPACE = metricsNamespace(DRILL_STACK);

/** A metric's identity: namespace, name and dimensions (the stack set aside, in both). */
const identity = (namespace: string, name: string, dims: Record<string, unknown>) =>
    `${namespace.replace(/^Sofia\/[^/]+$/, "Sofia/<stack>")} ${name} ${Object.keys(dims)
        .sort()
        .map((k) => `${k}=${k === STACK_DIMENSION ? "<stack>" : String(dims[k])}`)
        .join(",")}`;

const STACKS = ["staging", "prod"] as const;
/** What each host script sent, by the publisher's script name. */
const sent: Record<string, Set<string>> = {};
/** What moto_server holds afterwards: the calls were accepted. */
let listed = new Set<string>();
const plans: Record<string, Plan> = {};
let env: DrillEnv;

// The real aws CLI, with its put-metric-data calls written down first (a recorder, not a double:
// every call still reaches the emulator).
const RECORDER = `#!/usr/bin/env bash
if [[ \${1:-} == cloudwatch && \${2:-} == put-metric-data ]]; then
  for ((i = 1; i <= $#; i++)); do
    if [[ \${!i} == --metric-data ]]; then j=$((i + 1)); printf '%s\\n' "\${!j}" >>"$SOFIA_SENT"; fi
  done
fi
exec "$SOFIA_REAL_AWS" "$@"
`;

describe("every alarm of both stacks, and who sends its metric", () => {
    beforeAll(async () => {
        for (const stack of STACKS) plans[stack] = await planStack(stack);
        env = await DrillEnv.start();
        env.loadRandomMiB(1);
        const bin = path.join(env.dir, "recorder");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(bin, "aws"), RECORDER, { mode: 0o755 });
        const realAws = require("child_process").execFileSync("sh", ["-c", "command -v aws"], { encoding: "utf8" }).trim();
        // Capacity samples a day apart (almost nothing used then, a little now): the probe publishes
        // its days-left trends only once it has a day of them.
        fs.mkdirSync(path.join(env.dir, "var"), { recursive: true });
        const then = Math.floor(Date.now() / 1000) - 25 * 3600;
        fs.writeFileSync(path.join(env.dir, "var", "capacity.history"), `${then} 1 1000000 1 1000000\n${then + 24 * 3600} 2 1000000 2 1000000\n`);
        const runs: [string, string, string[]][] = [
            ["sofia-probe", "sofia-probe", []],
            ["sofia-backup run", "sofia-backup", ["run"]],
            ["sofia-backup run --only redis", "sofia-backup", ["run", "--only", "redis"]],
            ["sofia-backup age", "sofia-backup", ["age"]],
            ["sofia-restore --verify-only", "sofia-restore", ["--verify-only", "latest"]],
            ["sofia-restore --scratch", "sofia-restore", ["--scratch", "latest"]],
        ];
        for (const [publisher, script, args] of runs) {
            const file = path.join(env.dir, `sent-${script}-${args.join("-")}`);
            fs.writeFileSync(file, "");
            const r = await env.runHost(script, args, { PATH: `${bin}:${env.scriptEnv().PATH}`, SOFIA_SENT: file, SOFIA_REAL_AWS: realAws, REDIS_BACKUPS_SCHEDULED: "yes" });
            if (r.status !== 0) throw new Error(`${publisher} failed: ${r.stderr.slice(-600)}`);
            sent[publisher] = new Set(
                fs.readFileSync(file, "utf8").split("\n").filter(Boolean).flatMap((line) =>
                    (JSON.parse(line) as { MetricName: string; Dimensions: { Name: string; Value: string }[] }[]).map((d) =>
                        identity(NAMESPACE, d.MetricName, Object.fromEntries(d.Dimensions.map((x) => [x.Name, x.Value]))),
                    ),
                ),
            );
        }
        // sofia-cert reports on every run, one the CA refuses too (no CA answers here): its configuration
        // as the stack writes it, for the drill's stack, pointed at this machine.
        {
            const file = path.join(env.dir, "sent-sofia-cert");
            fs.writeFileSync(file, "");
            const conf = path.join(env.dir, "cert.env");
            fs.writeFileSync(conf, certEnv({ stack: DRILL_STACK, proxy: { acme: { domain: "sofia.example.com", email: "ops@example.com", directory: "https://127.0.0.1:9/directory" } } }));
            const own = (d: string) => path.join(env.dir, "cert", d);
            const r = await env.runHost("sofia-cert", ["renew"], {
                PATH: `${bin}:${env.scriptEnv().PATH}`, SOFIA_SENT: file, SOFIA_REAL_AWS: realAws, SOFIA_CERT_CONFIG: conf,
                TLS_DIR: own("tls"), ACME_STATE_DIR: own("acme"), ACME_WEBROOT: own("webroot"), CERT_LOCK: own("lock"), LEGO_IMAGE: "",
            });
            if (r.status !== 1 || !r.stderr.includes("the CA did not issue")) throw new Error(`sofia-cert renew: expected the CA's refusal, got exit ${r.status}: ${r.stderr.slice(-600)}`);
            sent["sofia-cert renew"] = new Set(
                fs.readFileSync(file, "utf8").split("\n").filter(Boolean).flatMap((line) =>
                    (JSON.parse(line) as { MetricName: string; Dimensions: { Name: string; Value: string }[] }[]).map((d) => identity(NAMESPACE, d.MetricName, Object.fromEntries(d.Dimensions.map((x) => [x.Name, x.Value])))),
                ),
            );
        }
        const metrics = JSON.parse(env.aws(["cloudwatch", "list-metrics", "--namespace", NAMESPACE]).stdout).Metrics as { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] }[];
        listed = new Set(metrics.filter((m) => m.Dimensions.some((d) => d.Name === STACK_DIMENSION && d.Value === DRILL_STACK)).map((m) => identity(m.Namespace, m.MetricName, Object.fromEntries(m.Dimensions.map((d) => [d.Name, d.Value])))));
    }, 240_000);
    afterAll(async () => {
        await env?.close();
    });

    for (const stack of STACKS) {
        it(`${stack}: names a publisher for every alarm, and that publisher sends exactly the alarm's metric`, () => {
            const s = stackSettings(stack);
            const catalog = sofiaCatalog(s.timeseriesStore);
            const specs = sofiaAlarms(catalog, s, "i-any", DATA_PATH);
            // The plan's alarms are these specs, one raw alarm each.
            const planned = ofType(plans[stack], "aws:cloudwatch/metricAlarm:MetricAlarm").map((a) => a.inputs.name);
            for (const a of specs) expect(planned, a.id).toContain(`sofia-${stack}-${a.id}`);
            const agent = agentConfig(stack, DATA_PATH) as any;
            const filters = ofType(plans[stack], "aws:cloudwatch/logMetricFilter:LogMetricFilter");
            const unmatched: string[] = [];
            for (const a of specs as AlarmSpec[]) {
                const m = a.metric!;
                expect(m, `${a.id}: one metric, so its publisher can be named`).toBeDefined();
                const id = identity(m.namespace, m.name, m.dimensions);
                const p = a.publisher;
                const ok = (() => {
                    switch (p.by) {
                        case "host":
                            return (sent[p.script]?.has(id) ?? false) && listed.has(id);
                        case "agent": {
                            const collected = agent.metrics.metrics_collected;
                            const names = Object.entries(collected).flatMap(([plugin, c]: [string, any]) => c.measurement.map((x: string) => (x.startsWith(`${plugin}_`) ? x : `${plugin}_${x}`)));
                            const dims = Object.keys(m.dimensions).sort();
                            const aggregated = agent.metrics.aggregation_dimensions.some((d: string[]) => [...d].sort().join() === dims.join());
                            const paths = m.dimensions.path === undefined || collected.disk.resources.includes(m.dimensions.path);
                            return m.namespace === agent.metrics.namespace && names.includes(m.name) && aggregated && paths;
                        }
                        case "scrape": {
                            const decl = agent.logs.metrics_collected.prometheus.emf_processor;
                            const scraped = catalog.find((e) => e.name === p.service)!;
                            const port = scraped.ports.find((x) => x.name === "http")!.port;
                            return (
                                decl.metric_namespace === m.namespace &&
                                decl.metric_declaration.some((d: any) => d.metric_selectors.includes(`^${m.name}$`) && d.dimensions.some((x: string[]) => x.join() === Object.keys(m.dimensions).join())) &&
                                prometheusConfig(catalog, stack).includes(`127.0.0.1:${port}`)
                            );
                        }
                        case "log-filter":
                            return filters.some((f) => f.inputs.logGroupName === `/sofia/${stack}/${p.service}` && (f.inputs.metricTransformation as any).namespace === m.namespace && (f.inputs.metricTransformation as any).name === m.name);
                        case "aws":
                            // A canary publishes under its own namespace, dimensioned by its name: it must be one the stack declares.
                            if (p.service === "Synthetics") return m.namespace === "CloudWatchSynthetics" && ofType(plans[stack], "aws:synthetics/canary:Canary").some((c) => c.inputs.name === (m.dimensions as Record<string, unknown>).CanaryName);
                            // EventBridge publishes per rule, under AWS/Events: the rule must be one the stack declares.
                            if (p.service === "EventBridge") return m.namespace === "AWS/Events" && ofType(plans[stack], "aws:cloudwatch/eventRule:EventRule").some((r) => r.inputs.name === (m.dimensions as Record<string, unknown>).RuleName);
                            return m.namespace === `AWS/${p.service}`;
                    }
                })();
                if (!ok) unmatched.push(`${a.id} (${JSON.stringify(p)}: ${id})`);
            }
            expect(unmatched).toEqual([]);
        });
    }

    it("the recorder saw the scripts publish, and an alarm on a metric nobody sends would be caught", () => {
        expect(sent["sofia-probe"].size).toBeGreaterThan(5);
        expect(sent["sofia-probe"].has(identity(NAMESPACE, "ServiceHealthy", { Stack: "x", Service: "name" }))).toBe(false);
        expect(listed.has(identity(NAMESPACE, "BackupSuccess", { Stack: "x" }))).toBe(false);
        expect(listed.has(identity(NAMESPACE, "BackupSuccess", { Stack: "x", Kind: "full" }))).toBe(true);
    });
});
