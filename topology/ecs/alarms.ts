/**
 * The ECS topology's alarms, from the same table as the host's and AWS's own signals: running
 * against desired tasks per service (Container Insights), the load balancer's 5xx share and each
 * target group's p95 response time, ElastiCache's memory per node; from the host table, what still
 * holds here (the store host's backups, restores and EC2 checks, every service's error lines, the
 * API's own latency, the metrics server's scrape, on-call's deliveries). The host probe's health
 * of the apps and Redis' memory have no publisher in this topology and are left out, not kept blind.
 */
import * as pulumi from "@pulumi/pulumi";
import { AlarmSpec } from "../../components/escalation";
import { CatalogEntry } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { sofiaAlarms } from "../host/alarms";
import { DATA_PATH } from "../host/layout";
import { asOnEcs, loggedOnEcs, storeHostCatalog } from "./split";
import { appShape, ecsApps } from "./tasks";

/**
 * Whether a host-table alarm has a publisher in the ECS topology: the store host runs the probe, the
 * agent, the backups and restores for what it runs alone; a log's filter is there for what runs here
 * (no front proxy: its error lines would never come).
 */
export function holdsOnEcs(spec: AlarmSpec, storeHost: readonly string[], logged: readonly string[]): boolean {
    const p = spec.publisher;
    // The canaries run as on the host (platform.ts), through the load balancer.
    if (p.by === "aws") return p.service === "EC2" || p.service === "SNS" || p.service === "Synthetics";
    if (p.by === "log-filter") return logged.includes(p.service);
    if (p.by === "agent") return true;
    // The CloudWatch agent beside the metrics server scrapes it (scrape.ts).
    if (p.by === "scrape") return true;
    // The host's Redis is not there; its backups are (the cache's live copy, sofia-cache export).
    if (/^redis-/.test(spec.id)) return false;
    if (spec.id.startsWith("health-")) return storeHost.includes(spec.id.slice("health-".length));
    return /^sofia-(backup|restore|probe)\b/.test(p.script);
}

export interface EcsSignals {
    clusterName: pulumi.Input<string>;
    /** The load balancer's CloudWatch dimension (its ARN suffix). */
    loadBalancer: pulumi.Input<string>;
    /** Each load-balanced app's target group dimension (ARN suffix). */
    targetGroups: Record<string, pulumi.Input<string>>;
    /** ElastiCache's member clusters (one per node). */
    cacheNodes: pulumi.Input<string>[];
    storeInstanceId: pulumi.Input<string>;
}

export function ecsAlarms(catalog: readonly CatalogEntry[], s: Settings, signals: EcsSignals): AlarmSpec[] {
    const a = s.alarms;
    const storeHost = storeHostCatalog(catalog).map((e) => e.name);
    const logged = loggedOnEcs(catalog).map((e) => e.name);
    const fromHost = sofiaAlarms(catalog.map(asOnEcs), s, signals.storeInstanceId, DATA_PATH).filter((spec) => holdsOnEcs(spec, storeHost, logged));
    const tasks = ecsApps(catalog).map((e): AlarmSpec => {
        const singleton = appShape(e) === "singleton";
        const metric = (name: string, id: string) => ({ id, namespace: "ECS/ContainerInsights", name, dimensions: { ClusterName: signals.clusterName, ServiceName: e.name }, statistic: "Average" });
        return {
            id: `tasks-${e.name}`,
            level: 2,
            description: singleton
                ? `${e.name}: its one task has not run for ${a.healthFailingMinutes + 3} minutes (ECS keeps replacing a task that fails its health check or exits; a deploy or restore that held it at none and failed leaves it there). First: aws ecs describe-services --cluster sofia-${s.stack} --services ${e.name} (events, desiredCount), then its log group.`
                : `${e.name}: fewer tasks running than desired for ${a.healthFailingMinutes + 3} minutes (ECS keeps replacing a task that fails its health check or exits). First: aws ecs describe-services --cluster sofia-${s.stack} --services ${e.name} (events), then its log group.`,
            // A singleton must run one task, whatever it is asked for: held at none, desired and running agree and only "1 - running" sees it.
            expression: singleton
                ? { expression: "1 - FILL(running, 0)", label: `${e.name} not running`, metrics: [metric("RunningTaskCount", "running")] }
                : { expression: "desired - running", label: `${e.name} tasks missing`, metrics: [metric("DesiredTaskCount", "desired"), metric("RunningTaskCount", "running")] },
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: singleton ? 1 : 0.5,
            period: 60,
            evaluationPeriods: a.healthFailingMinutes + 3,
            datapointsToAlarm: a.healthFailingMinutes + 3,
            treatMissingData: "breaching",
            publisher: { by: "aws", service: "ECS" },
            silence: "breaching: Container Insights reports every minute; silence means it stopped, and nothing would see a service fail",
        };
    });
    const lb = { LoadBalancer: signals.loadBalancer };
    // The clients' requests and the apps' 5xx by the clients' target groups: the operators' Grafana
    // behind the same load balancer (staffCidrs) neither dilutes the share nor adds its own errors.
    // The load balancer's own 5xx (no healthy target, a timeout) has no target group dimension.
    const groups = Object.entries(signals.targetGroups);
    const id = (kind: string, app: string) => `${kind}_${app.replace(/\W/g, "_")}`;
    const sum = (kind: string) => groups.map(([app]) => `FILL(${id(kind, app)}, 0)`).join(" + ");
    // CloudWatch takes at most 10 metrics in one alarm's math (PutMetricAlarm).
    if (2 * groups.length + 1 > 10) throw new Error(`http-5xx: ${groups.length} client target groups need ${2 * groups.length + 1} metrics in one alarm, over CloudWatch's 10: split the alarm per app`);
    const http5xx: AlarmSpec = {
        id: "http-5xx",
        level: 2,
        description: `More than ${a.http5xxPercent}% of client requests answered 5xx (by the apps or the load balancer) for 3 minutes. First: the target groups' health in the EC2 console, then the API's and UI's log groups.`,
        expression: {
            expression: `IF((${sum("requests")}) > 0, 100 * (${sum("target")} + FILL(elb, 0)) / (${sum("requests")}), 0)`,
            label: "5xx share of requests, %",
            metrics: [
                ...groups.flatMap(([app, group]) => [
                    { id: id("requests", app), namespace: "AWS/ApplicationELB", name: "RequestCount", dimensions: { ...lb, TargetGroup: group }, statistic: "Sum" },
                    { id: id("target", app), namespace: "AWS/ApplicationELB", name: "HTTPCode_Target_5XX_Count", dimensions: { ...lb, TargetGroup: group }, statistic: "Sum" },
                ]),
                { id: "elb", namespace: "AWS/ApplicationELB", name: "HTTPCode_ELB_5XX_Count", dimensions: lb, statistic: "Sum" },
            ],
        },
        comparison: "GreaterThanThreshold",
        threshold: a.http5xxPercent,
        period: 60,
        evaluationPeriods: 3,
        treatMissingData: "notBreaching",
        publisher: { by: "aws", service: "ELB" },
        silence: "no requests in a minute: nothing failed",
    };
    const p95 = Object.entries(signals.targetGroups).map(
        ([app, group]): AlarmSpec => ({
            id: `${app}-response-p95`,
            level: 2,
            description: `${app}: p95 response time through the load balancer over ${a.apiP95Ms} ms for 5 minutes. First: ${app}'s tasks' CPU (autoscaling at its maxTasks?) and the stores' latency.`,
            metric: { namespace: "AWS/ApplicationELB", name: "TargetResponseTime", dimensions: { ...lb, TargetGroup: group }, extendedStatistic: "p95" },
            comparison: "GreaterThanThreshold",
            threshold: a.apiP95Ms / 1000,
            period: 60,
            evaluationPeriods: 5,
            treatMissingData: "notBreaching",
            publisher: { by: "aws", service: "ELB" },
            silence: "no requests in a minute: nothing was slow",
        }),
    );
    const cache = signals.cacheNodes.map(
        (node, i): AlarmSpec => ({
            id: `cache-memory-${i + 1}`,
            level: 2,
            description: `ElastiCache node ${i + 1}: memory used over ${a.redisMemoryPercent}% of what it may hold, for 5 minutes; past 100% the eviction policy (${s.redis.maxmemoryPolicy}) decides what is lost. First: a larger ecs.cacheNodeType.`,
            metric: { namespace: "AWS/ElastiCache", name: "DatabaseMemoryUsagePercentage", dimensions: { CacheClusterId: node }, statistic: "Maximum" },
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: a.redisMemoryPercent,
            period: 60,
            evaluationPeriods: 5,
            treatMissingData: "breaching",
            publisher: { by: "aws", service: "ElastiCache" },
            silence: "breaching: ElastiCache reports every minute; silence means the node is gone",
        }),
    );
    return [...tasks, http5xx, ...p95, ...cache, ...fromHost];
}
