/**
 * Every Sofia alarm as data, from the catalog and the settings: the runbook's "Monitoring
 * Checklist" and "Escalation" in one list. components/escalation.ts turns it into CloudWatch.
 */
import * as pulumi from "@pulumi/pulumi";
import { AlarmSpec } from "../components/escalation";
import { CatalogEntry } from "./catalog";
import { APP_METRICS, BACKUP_METRICS, HOST_METRICS, KIND_DIMENSION, LOG_METRICS, logMetricsNamespace, METRICS_NAMESPACE, PROBE_METRICS, STACK_DIMENSION } from "./metrics";
import { Settings } from "./settings";
import { containerName, logGroupName } from "./store-config";

/** Every alarm of a stack is named `<prefix>-<id>`. */
export function alarmPrefix(stack: string): string {
    return `sofia-${stack}`;
}

/**
 * The names of a stack's raw alarms that page (level 2 and 3): what the soak before promotion
 * watches. The level 3 composites are made of these, so they add nothing.
 */
export function pagingAlarmNames(catalog: readonly CatalogEntry[], s: Settings, dataPath: string): string[] {
    // The instance id only fills the EC2 alarms' dimensions, and those are level 1.
    return sofiaAlarms(catalog, s, "i-any", dataPath)
        .filter((a) => a.level >= 2)
        .map((a) => `${alarmPrefix(s.stack)}-${a.id}`);
}

/** The mount points whose disk use alarms: the root volume and the data volume. */
export function alarmedPaths(dataPath: string): string[] {
    return ["/", dataPath];
}

export function sofiaAlarms(catalog: readonly CatalogEntry[], s: Settings, instanceId: pulumi.Input<string>, dataPath: string): AlarmSpec[] {
    const a = s.alarms;
    const stack = { [STACK_DIMENSION]: s.stack };
    const sofia = (name: string, dimensions: Record<string, pulumi.Input<string>> = {}) => ({ namespace: METRICS_NAMESPACE, name, dimensions: { ...stack, ...dimensions } });

    const specs: AlarmSpec[] = [
        // Every entry: its /health where it has one, Docker's health status otherwise (the probe).
        ...catalog.map<AlarmSpec>((e) => ({
            id: `health-${e.name}`,
            level: 2,
            description: `${e.name} unhealthy ${a.healthFailingMinutes} of ${a.healthWindowMinutes} minutes (${e.health ? `/health on ${e.health.port}` : "its container health check"}). On the host: sofia-services status; docker logs --tail 50 ${containerName(e)}`,
            metric: { ...sofia(PROBE_METRICS.healthy, { Service: e.name }), statistic: "Minimum" },
            comparison: "LessThanThreshold",
            threshold: 1,
            period: 60,
            evaluationPeriods: a.healthWindowMinutes,
            datapointsToAlarm: a.healthFailingMinutes,
            // The probe publishes every minute: silence means the host or the probe is down.
            treatMissingData: "breaching",
        })),
        {
            id: "stale-ratio",
            level: 2,
            description: `Data freshness: ${APP_METRICS.staleRatio} >= ${a.staleRatio}. Check the ingestors (runbook "Data Feed Issues"); force the fallback with equityPrimary=yahoo.`,
            metric: { ...sofia(APP_METRICS.staleRatio), statistic: "Maximum" },
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: a.staleRatio,
            period: 60,
            evaluationPeriods: 5,
            datapointsToAlarm: 3,
            // No freshness figure means no scrape of the metrics server: not a reason to relax.
            treatMissingData: "breaching",
        },
        {
            id: "api-latency-p95",
            level: 2,
            description: `API latency p95 >= ${a.apiP95Ms} ms over 5 minutes (runbook "High Latency Investigation").`,
            metric: { namespace: logMetricsNamespace(s.stack), name: LOG_METRICS.apiLatency, dimensions: {}, extendedStatistic: "p95" },
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: a.apiP95Ms,
            period: 300,
            evaluationPeriods: 1,
            // No requests, no latency: the API's health alarm says whether it is up.
            treatMissingData: "notBreaching",
        },
        {
            id: "redis-memory",
            level: 2,
            description: `Redis uses >= ${a.redisMemoryPercent}% of maxmemory (${s.redis.maxmemoryMb} MiB, policy ${s.redis.maxmemoryPolicy}). redis-cli INFO memory; raise redis.maxmemoryMb or the instance.`,
            metric: { ...sofia(PROBE_METRICS.redisMemory), statistic: "Maximum" },
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: a.redisMemoryPercent,
            period: 60,
            evaluationPeriods: 5,
            datapointsToAlarm: 5,
            // Redis' own health alarm covers silence.
            treatMissingData: "missing",
        },
        {
            id: "host-memory",
            level: 2,
            description: `Host memory used >= 90%. free -h; docker stats --no-stream.`,
            metric: { ...sofia(HOST_METRICS.memory), statistic: "Maximum" },
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: 90,
            period: 300,
            evaluationPeriods: 2,
            treatMissingData: "breaching",
        },
        ...alarmedPaths(dataPath).map<AlarmSpec>((p) => ({
            id: `disk-${p === "/" ? "root" : p.replace(/^\//, "").replace(/\//g, "-")}`,
            level: 2,
            description: `Disk ${p} >= ${a.diskPercent}% used. df -h ${p}; docker system df.`,
            metric: { ...sofia(HOST_METRICS.disk, { path: p }), statistic: "Maximum" },
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: a.diskPercent,
            period: 300,
            evaluationPeriods: 1,
            // The agent reports disk use every minute: silence means the agent is blind or gone.
            treatMissingData: "breaching",
        })),
        {
            id: "ws-reconnects",
            level: 2,
            description: `Websocket reconnects above ${a.reconnectsPerMinute}/min (runbook "WebSocket Disconnection Issues"). Soft restart: docker kill -s USR1 sofia-crypto-ws.`,
            expression: {
                expression: "RATE(m1) * 60",
                label: "reconnects per minute",
                metrics: [{ id: "m1", ...sofia(APP_METRICS.reconnects), statistic: "Maximum" }],
            },
            comparison: "GreaterThanThreshold",
            threshold: a.reconnectsPerMinute,
            period: 60,
            evaluationPeriods: 5,
            datapointsToAlarm: 3,
            treatMissingData: "notBreaching",
        },
        ...catalog.map<AlarmSpec>((e) => ({
            id: `errors-${e.name}`,
            level: 2,
            description: `More than ${a.errorLinesPerMinute} ERROR lines a minute from ${e.name}. Its log group: ${logGroupName(s.stack, e.name)}.`,
            metric: { namespace: logMetricsNamespace(s.stack), name: LOG_METRICS.errorLines(e.name), dimensions: {}, statistic: "Sum" },
            comparison: "GreaterThanThreshold",
            threshold: a.errorLinesPerMinute,
            period: 60,
            evaluationPeriods: 3,
            datapointsToAlarm: 2,
            // The filter reports 0 for every minute with log lines and no ERROR.
            treatMissingData: "notBreaching",
        })),
        {
            id: "backup-age",
            level: 2,
            description: `No complete full backup for ${a.backupMaxAgeHours}h (schedule ${s.backup.schedule}). sofia-backup list; the last run's output in SSM.`,
            metric: { ...sofia(BACKUP_METRICS.age, { [KIND_DIMENSION]: "full" }), statistic: "Maximum" },
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: a.backupMaxAgeHours,
            period: 900,
            evaluationPeriods: 2,
            datapointsToAlarm: 2,
            // Silence means the host is not publishing: no reason to believe backups are fine.
            treatMissingData: "breaching",
        },
        ...(s.backup.redisSchedule
            ? [
                  {
                      id: "backup-age-redis",
                      level: 2 as const,
                      description: `No complete Redis-only backup for ${a.redisBackupMaxAgeMinutes} minutes (schedule ${s.backup.redisSchedule}): Redis' recent writes are only on the host. sofia-backup list --kind redis; the schedule's runs in SSM.`,
                      metric: { ...sofia(BACKUP_METRICS.age, { [KIND_DIMENSION]: "redis" }), statistic: "Maximum" },
                      comparison: "GreaterThanOrEqualToThreshold" as const,
                      threshold: a.redisBackupMaxAgeMinutes / 60,
                      period: 900,
                      evaluationPeriods: 1,
                      // Published every 15 minutes with the full backup's age: silence is the host gone.
                      treatMissingData: "breaching" as const,
                  },
              ]
            : []),
        {
            id: "backup-failed",
            level: 2,
            description: "A backup run failed (no COMPLETE marker was written). Its output in SSM says what failed and what to do.",
            metric: { ...sofia(BACKUP_METRICS.success), statistic: "Minimum" },
            comparison: "LessThanThreshold",
            threshold: 1,
            period: 300,
            evaluationPeriods: 1,
            // No run in a period is no failure; the age alarm covers runs that never happen.
            treatMissingData: "notBreaching",
        },
        {
            id: "ec2-system-check",
            level: 1,
            description: "EC2 system status check failed: the instance is recovered onto healthy hardware automatically.",
            metric: { namespace: "AWS/EC2", name: "StatusCheckFailed_System", dimensions: { InstanceId: instanceId }, statistic: "Maximum" },
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: 1,
            period: 60,
            evaluationPeriods: 2,
            treatMissingData: "missing",
            automatic: "recover",
        },
        {
            id: "ec2-instance-check",
            level: 1,
            description: "EC2 instance status check failed: the instance is rebooted automatically (services come back in catalog order).",
            metric: { namespace: "AWS/EC2", name: "StatusCheckFailed_Instance", dimensions: { InstanceId: instanceId }, statistic: "Maximum" },
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: 1,
            period: 60,
            evaluationPeriods: 3,
            treatMissingData: "missing",
            automatic: "reboot",
        },
    ];
    return specs;
}

/** Level 3: several systems failing at once, i.e. any two services' health alarms together. */
export function severalSystemsRule(alarmNames: string[]): string {
    const pairs: string[] = [];
    for (let i = 0; i < alarmNames.length; i++) for (let j = i + 1; j < alarmNames.length; j++) pairs.push(`(ALARM("${alarmNames[i]}") AND ALARM("${alarmNames[j]}"))`);
    return pairs.join(" OR ");
}
