/**
 * Sofia's signals and alarms (the runbook's "Monitoring Checklist", "Health Checks", "Escalation"
 * and its `tail -f logs/*.log` habit): the CloudWatch agent's configuration, the health probe,
 * one log group per service with an ERROR counter, the escalation levels and the dashboard.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import { stringify } from "yaml";
import { AlarmSpec, Escalation } from "../../components/escalation";
import { HostFilesPart } from "../../components/host-files";
import { hostScript } from "../../components/project-root";
import { alarmedPaths, alarmPrefix, severalSystemsRule, sofiaAlarms } from "./alarms";
import { CatalogEntry } from "../../model/catalog";
import { APP_METRICS, BACKUP_METRICS, CAPACITY_DAYS_CAP, CAPACITY_METRICS, HOST_METRICS, KIND_DIMENSION, LOG_METRICS, MAINTENANCE_METRIC, metricsNamespace, PROBE_METRICS, STACK_DIMENSION } from "../../model/metrics";
import { BACKUP_KINDS } from "./backups";
import { LOG_FORMATS } from "../../model/log-formats";
import { MAINTENANCE_FLAG } from "./proxy-config";
import { Settings } from "../../model/settings";
import { containerName, logGroupName, passwordFile } from "./store-config";
import { AGENT_DIR, HOST_NAMING, MAINTENANCE_PAGE_HOST_DIR, PROBE_BIN, PROBE_ENV, SYSTEMD_DIR } from "./layout";
import { Gate } from "../../components/gate";
import { hostEnvFile } from "./services-files";

export { logGroupName };

/** Prometheus scrape of the metrics server, labelled with the stack (it becomes the dimension). */
export function prometheusConfig(catalog: readonly CatalogEntry[], stack: string): string {
    const metrics = catalog.find((e) => e.name === "metrics");
    const port = metrics?.ports.find((p) => p.name === "http")?.port;
    if (metrics && !port) throw new Error("catalog: the metrics server needs an http port to be scraped");
    // A host without the metrics server (the ECS topology's store host) scrapes nothing.
    return stringify({
        global: { scrape_interval: "1m", scrape_timeout: "10s" },
        scrape_configs: !port ? [] : [{ job_name: "sofia-metrics", metrics_path: "/metrics", static_configs: [{ targets: [`127.0.0.1:${port}`], labels: { [STACK_DIMENSION]: stack } }] }],
    });
}

/** The CloudWatch agent: memory and disk into the stack's namespace, and the Prometheus scrape. */
export function agentConfig(stack: string, dataPath: string): object {
    const stackDim = { [STACK_DIMENSION]: stack };
    return {
        agent: { metrics_collection_interval: 60, run_as_user: "root" },
        metrics: {
            namespace: metricsNamespace(stack),
            // Published once with every dimension and once with just these: the alarms use the latter.
            aggregation_dimensions: [[STACK_DIMENSION], [STACK_DIMENSION, "path"]],
            metrics_collected: {
                mem: { measurement: [HOST_METRICS.memory], append_dimensions: stackDim },
                disk: { measurement: [HOST_METRICS.disk.replace(/^disk_/, "")], resources: alarmedPaths(dataPath), drop_device: true, append_dimensions: stackDim },
            },
        },
        logs: { metrics_collected: { prometheus: prometheusSection(stack, `${AGENT_DIR}/prometheus.yaml`) } },
    };
}

/**
 * The CloudWatch agent's Prometheus scrape of the metrics server, as embedded-metric log lines
 * into the stack's namespace: the host's agent, and on ECS the agent beside the metrics server in
 * its task (`configPath` then names the env var holding the scrape configuration).
 */
export function prometheusSection(stack: string, configPath: string): object {
    return {
        prometheus_config_path: configPath,
        log_group_name: logGroupName(stack, "prometheus"),
        emf_processor: {
            metric_namespace: metricsNamespace(stack),
            metric_declaration: [
                {
                    source_labels: ["job"],
                    label_matcher: "^sofia-metrics$",
                    dimensions: [[STACK_DIMENSION]],
                    metric_selectors: Object.values(APP_METRICS).map((m) => `^${m}$`),
                },
            ],
        },
    };
}

/** host/sofia-probe.sh's configuration. */
export function probeEnv(stack: string): string {
    const values: Record<string, string> = {
        METRICS_NAMESPACE: metricsNamespace(stack),
        METRIC_STACK: stack,
        METRIC_HEALTHY: PROBE_METRICS.healthy,
        METRIC_REDIS_MEMORY: PROBE_METRICS.redisMemory,
        METRIC_RUNS: PROBE_METRICS.runs,
        METRIC_MAINTENANCE: MAINTENANCE_METRIC,
        METRIC_DATA_DAYS_LEFT: CAPACITY_METRICS.dataDaysLeft,
        METRIC_REDIS_DAYS_LEFT: CAPACITY_METRICS.redisDaysLeft,
        CAPACITY_DAYS_CAP: String(CAPACITY_DAYS_CAP),
        REDIS_CONTAINER: containerName({ name: "redis" }),
        REDIS_PASSWORD_FILE: passwordFile("redis"),
        // sofia-maintenance's page flag: where the front proxy looks (topology/host/proxy-config.ts).
        MAINTENANCE_PAGE_FLAG: `${MAINTENANCE_PAGE_HOST_DIR}/${MAINTENANCE_FLAG}`,
    };
    return ["# Generated by sofia-infra (topology/host/monitoring.ts); do not edit on the host.", ...Object.entries(values).map(([k, v]) => `${k}='${v}'`), ""].join("\n");
}

const PROBE_SERVICE = `[Unit]
Description=Publish the health of Sofia's services

[Service]
Type=oneshot
ExecStart=${PROBE_BIN}
`;

const PROBE_TIMER = `[Unit]
Description=Probe Sofia's services every minute

[Timer]
# On the minute, every minute: each one-minute period the health alarms read gets its point. A timer
# counted from the last run drifts, and a minute without a point is a minute the alarms cannot judge.
OnCalendar=*-*-* *:*:00
AccuracySec=1s

[Install]
WantedBy=timers.target
`;

/** The probe, its timer, and the CloudWatch agent's configuration, with the commands that load them. */
export function monitoringHostFiles(catalog: readonly CatalogEntry[], stack: string, dataPath: string): HostFilesPart {
    return {
        name: "monitoring",
        files: [
            hostEnvFile(dataPath),
            { path: PROBE_BIN, content: fs.readFileSync(hostScript("sofia-probe.sh"), "utf8"), mode: "0755" },
            { path: PROBE_ENV, content: probeEnv(stack) },
            { path: `${SYSTEMD_DIR}/sofia-probe.service`, content: PROBE_SERVICE },
            { path: `${SYSTEMD_DIR}/sofia-probe.timer`, content: PROBE_TIMER },
            { path: `${AGENT_DIR}/amazon-cloudwatch-agent.json`, content: JSON.stringify(agentConfig(stack, dataPath), null, 2) + "\n" },
            { path: `${AGENT_DIR}/prometheus.yaml`, content: prometheusConfig(catalog, stack) },
        ],
        afterInstall: [
            "systemctl daemon-reload",
            "systemctl enable --now sofia-probe.timer",
            `/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${AGENT_DIR}/amazon-cloudwatch-agent.json`,
        ],
    };
}

/** The dashboard: the runbook's checklist on one screen. */
export function dashboardBody(catalog: readonly CatalogEntry[], s: Settings, region: string, dataPath: string): string {
    const stack = [STACK_DIMENSION, s.stack];
    const widget = (title: string, metrics: unknown[][], stat = "Maximum", extra: object = {}) => ({
        type: "metric",
        width: 12,
        height: 6,
        properties: { title, region, stat, period: 60, view: "timeSeries", metrics, ...extra },
    });
    const logs = metricsNamespace(s.stack);
    return JSON.stringify({
        widgets: [
            widget("Health per service (1 = healthy)", catalog.map((e) => [metricsNamespace(s.stack), PROBE_METRICS.healthy, ...stack, "Service", e.name]), "Minimum"),
            widget("Data freshness: stale_ratio", [[metricsNamespace(s.stack), APP_METRICS.staleRatio, ...stack]], "Maximum", { annotations: { horizontal: [{ value: s.alarms.staleRatio, label: "alarm" }] } }),
            widget("API latency p95 (ms)", [[logs, LOG_METRICS.apiLatency]], "p95", { period: 300, annotations: { horizontal: [{ value: s.alarms.apiP95Ms, label: "alarm" }] } }),
            widget("Redis memory (% of maxmemory)", [[metricsNamespace(s.stack), PROBE_METRICS.redisMemory, ...stack]], "Maximum", { annotations: { horizontal: [{ value: s.alarms.redisMemoryPercent, label: "alarm" }] } }),
            widget("Disk used (%)", alarmedPaths(dataPath).map((p) => [metricsNamespace(s.stack), HOST_METRICS.disk, ...stack, "path", p]), "Maximum", { annotations: { horizontal: [{ value: s.alarms.diskPercent, label: "alarm" }] } }),
            widget("Backup age (hours)", BACKUP_KINDS.map((k) => [metricsNamespace(s.stack), BACKUP_METRICS.age, ...stack, KIND_DIMENSION, k]), "Maximum", { period: 900, annotations: { horizontal: [{ value: s.alarms.backupMaxAgeHours, label: "alarm (full)" }] } }),
            // Each point is the counter's increase since the last scrape: their Sum per minute is the rate.
            widget("Websocket reconnects per minute", [[metricsNamespace(s.stack), APP_METRICS.reconnects, ...stack]], "Sum", { annotations: { horizontal: [{ value: s.alarms.reconnectsPerMinute, label: "alarm" }] } }),
            widget("Error lines per minute", catalog.map((e) => [logs, LOG_METRICS.errorLines(e.name)]), "Sum"),
        ],
    });
}

/**
 * A log group per catalog entry (both topologies' containers log there), with its software's own
 * error lines counted (model/log-formats.ts) and the API's request latency read from its access log.
 */
export function serviceLogGroups(name: string, catalog: readonly CatalogEntry[], s: Settings, tags: Record<string, string>, parent: pulumi.Resource): Record<string, pulumi.Output<string>> {
    const logs = metricsNamespace(s.stack);
    const groups: Record<string, pulumi.Output<string>> = {};
    for (const e of catalog) {
        const group = new aws.cloudwatch.LogGroup(`${name}-logs-${e.name}`, { name: logGroupName(s.stack, e.name), retentionInDays: s.logRetentionDays, tags }, { parent });
        groups[e.name] = group.name;
        // Its software's own error lines (model/log-formats.ts), one filter per layout it
        // writes, all into one metric; 0 for every other line, so a quiet minute reads 0.
        LOG_FORMATS[e.logFormat].errorPatterns.forEach((pattern, i) => {
            new aws.cloudwatch.LogMetricFilter(
                `${name}-errors-${e.name}${i ? `-${i + 1}` : ""}`,
                { logGroupName: group.name, pattern, metricTransformation: { namespace: logs, name: LOG_METRICS.errorLines(e.name), value: "1", defaultValue: "0", unit: "Count" } },
                { parent: group },
            );
        });
        if (e.name === "api") {
            new aws.cloudwatch.LogMetricFilter(
                `${name}-api-latency`,
                // The API's JSON access log: one data point per request, so p95 is a true percentile.
                { logGroupName: group.name, pattern: "{ $.duration_ms = * }", metricTransformation: { namespace: logs, name: LOG_METRICS.apiLatency, value: "$.duration_ms", unit: "Milliseconds" } },
                { parent: group },
            );
        }
    }
    return groups;
}

export interface SofiaMonitoringArgs {
    catalog: CatalogEntry[];
    settings: Settings;
    instanceId: pulumi.Input<string>;
    dataPath: string;
    /** EventBridge rules that page on-call besides the alarms (their names): the topic admits them. */
    level2Rules?: string[];
    /** What the paging (composite) alarms wait for: a first deploy's maintenance page. @default nothing */
    pagesAfter?: Gate;
    tags: Record<string, string>;
}

export class SofiaMonitoring extends pulumi.ComponentResource {
    /** Log group name by catalog entry: containers log there. */
    readonly logGroups: Record<string, pulumi.Output<string>>;
    readonly alarmSpecs: AlarmSpec[];
    readonly escalation: Escalation;

    constructor(name: string, args: SofiaMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:monitoring:SofiaMonitoring", name, {}, opts);
        const { catalog, settings: s, tags } = args;
        const child = { parent: this };

        this.logGroups = serviceLogGroups(name, catalog, s, tags, this);
        new aws.cloudwatch.LogGroup(`${name}-logs-prometheus`, { name: logGroupName(s.stack, "prometheus"), retentionInDays: s.logRetentionDays, tags }, child);

        this.alarmSpecs = sofiaAlarms(catalog, s, args.instanceId, args.dataPath);
        const healthIds = this.alarmSpecs.filter((a) => a.id.startsWith("health-")).map((a) => a.id);
        this.escalation = new Escalation(
            `${name}-escalation`,
            {
                title: HOST_NAMING.title,
                prefix: alarmPrefix(s.stack),
                region: s.region,
                alarms: this.alarmSpecs,
                oncallEndpoint: s.secrets.oncallEndpoint,
                level3Emails: [...s.escalation.seniorEmails, ...s.escalation.securityEmails],
                maintenanceMetric: { namespace: metricsNamespace(s.stack), name: MAINTENANCE_METRIC, dimensions: { [STACK_DIMENSION]: s.stack } },
                level2Rules: args.level2Rules,
                pagesAfter: args.pagesAfter,
                level3Rules: [
                    {
                        id: "several-systems-failing",
                        description: "Two or more services unhealthy at once (runbook level 3: multiple system failure). Senior engineer: sofia-services status on the host.",
                        rule: (raw) => severalSystemsRule(healthIds.map((id) => raw[id])),
                    },
                ],
                tags,
            },
            child,
        );
        new aws.cloudwatch.Dashboard(`${name}-dashboard`, { dashboardName: `sofia-${s.stack}`, dashboardBody: dashboardBody(catalog, s, s.region, args.dataPath) }, child);
        this.registerOutputs({ level2Topic: this.escalation.topicArns[2], level3Topic: this.escalation.topicArns[3] });
    }
}
