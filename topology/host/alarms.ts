/**
 * Every Sofia alarm as data, from the catalog and the settings: the runbook's "Monitoring
 * Checklist" and "Escalation" in one list. components/escalation.ts turns it into CloudWatch.
 */
import * as pulumi from "@pulumi/pulumi";
import { AlarmSpec, oncallTopicName, Publisher } from "../../components/escalation";
import { CatalogEntry } from "../../model/catalog";
import { APP_METRICS, BACKUP_METRICS, CAPACITY_METRICS, CERT_METRICS, HOST_METRICS, KIND_DIMENSION, LOG_METRICS, metricsNamespace, PROBE_METRICS, STACK_DIMENSION } from "../../model/metrics";
import { Settings } from "../../model/settings";
import { containerName, logGroupName } from "./store-config";
import { DATA_PATH } from "./layout";
import { syntheticChecks } from "./synthetics";
import { canaryMetric } from "../../components/synthetic-checks";
import { evidenceSentence, PROCEDURES, Procedure, procedureOf } from "./alarm-actions";

/** Every alarm of a stack is named `<prefix>-<id>`. */
export function alarmPrefix(stack: string): string {
    return `sofia-${stack}`;
}

/**
 * The names of a stack's raw alarms that page (level 2 and 3): what the soak before promotion
 * watches. The level 3 composites are made of these, so they add nothing.
 */
export function pagingAlarmNames(catalog: readonly CatalogEntry[], s: Settings): string[] {
    // The instance id only fills the EC2 alarms' dimensions, and those are level 1.
    return sofiaAlarms(catalog, s, "i-any", DATA_PATH)
        .filter((a) => a.level >= 2 && a.soaks !== false)
        .map((a) => `${alarmPrefix(s.stack)}-${a.id}`);
}

/** The mount points whose disk use alarms: the root volume and the data volume. */
export function alarmedPaths(dataPath: string): string[] {
    return ["/", dataPath];
}

/** Let's Encrypt renews 30 days ahead and retries hourly: under two weeks left, renewal has failed for over two. */
export const CERT_ALARM_DAYS = 14;

export function sofiaAlarms(catalog: readonly CatalogEntry[], s: Settings, instanceId: pulumi.Input<string>, dataPath: string): AlarmSpec[] {
    const a = s.alarms;
    const stack = { [STACK_DIMENSION]: s.stack };
    const sofia = (name: string, dimensions: Record<string, pulumi.Input<string>> = {}) => ({ namespace: metricsNamespace(s.stack), name, dimensions: { ...stack, ...dimensions } });
    const probe = { by: "host", script: "sofia-probe" } as const;
    const metricsServer = { by: "scrape", service: "metrics" } as const;
    const redisScheduled = !!s.backup.redisSchedule;
    // A signal that an image is assumed to send (README, "Contracts"): a whole day without it is
    // itself an alarm, so that an alarm which reads it as "all quiet" cannot stay blind.
    const signalGone = (id: string, what: string, metric: AlarmSpec["metric"] & object, publisher: Publisher): AlarmSpec => ({
        id: `${id}-signal-gone`,
        level: 2,
        description: `No ${what} for a whole day: the ${id} alarm cannot see anything. The image may have broken its contract (README, "Contracts").`,
        metric: { ...metric, statistic: "SampleCount", extendedStatistic: undefined } as AlarmSpec["metric"],
        comparison: "LessThanThreshold",
        threshold: 1,
        period: 3600,
        evaluationPeriods: 24,
        datapointsToAlarm: 24,
        treatMissingData: "breaching",
        publisher,
        silence: "the signal is gone: this alarm's whole point (24 silent hours)",
    });
    const backupFailed = (kind: "full" | "redis"): AlarmSpec => ({
        id: kind === "full" ? "backup-failed" : "backup-failed-redis",
        level: 2,
        description: `A ${kind === "full" ? "full" : "Redis-only"} backup failed (no COMPLETE marker was written); this stays in ALARM until one succeeds. Its output in SSM says what failed and what to do.`,
        metric: { ...sofia(BACKUP_METRICS.success, { [KIND_DIMENSION]: kind }), statistic: "Minimum" },
        comparison: "LessThanThreshold",
        threshold: 1,
        period: 300,
        evaluationPeriods: 1,
        // Between runs nothing is published: the state stays what the last run made it.
        treatMissingData: "ignore",
        publisher: { by: "host", script: `sofia-backup run${kind === "redis" ? " --only redis" : ""}` },
        silence: "no run in the period: the last run's result stands (the age alarm covers runs that never happen)",
    });
    const staleRatio = { ...sofia(APP_METRICS.staleRatio), statistic: "Maximum" };
    const reconnects = { ...sofia(APP_METRICS.reconnects), statistic: "Sum" };
    // The worst of the hour: one scrape a minute, the age only grows between items.
    const newsAge = { ...sofia(APP_METRICS.newsAge), statistic: "Maximum" };
    // One failed check is enough to count the hour: the source was not there when asked.
    const fallbackUp = { ...sofia(APP_METRICS.fallbackUp), statistic: "Minimum" };
    const apiLatency = { namespace: metricsNamespace(s.stack), name: LOG_METRICS.apiLatency, dimensions: {}, extendedStatistic: "p95" } as const;

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
            // Only a probe that ran and saw a failure counts: a minute the probe missed is no
            // failure of the service (probe-silent pages for a probe that stopped).
            treatMissingData: "notBreaching",
            publisher: probe,
            silence: "the probe did not run that minute: no news, not a failure (probe-silent covers a probe that stopped)",
        })),
        {
            id: "probe-silent",
            level: 2,
            description: "The health probe published nothing for 3 minutes: the host, its way to CloudWatch, or sofia-probe.timer is down, and no health alarm can see anything. systemctl status sofia-probe.timer; journalctl -u sofia-probe --since -10min",
            metric: { ...sofia(PROBE_METRICS.runs), statistic: "SampleCount" },
            comparison: "LessThanThreshold",
            threshold: 1,
            period: 60,
            evaluationPeriods: 3,
            datapointsToAlarm: 3,
            treatMissingData: "breaching",
            publisher: probe,
            silence: "the probe is not running: this alarm's whole point",
        },
        {
            id: "stale-ratio",
            level: 2,
            description: `Data freshness: ${APP_METRICS.staleRatio} >= ${a.staleRatio} (a gauge the metrics server is assumed to expose; README, "Contracts"). Check the ingestors (runbook "Data Feed Issues"); force the fallback with equityPrimary=yahoo.`,
            metric: staleRatio,
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: a.staleRatio,
            period: 60,
            evaluationPeriods: 5,
            datapointsToAlarm: 3,
            // The metrics server's health alarm covers a server that stopped answering; a gauge
            // that never arrives is the signal-gone alarm's, not a page every minute.
            treatMissingData: "notBreaching",
            publisher: metricsServer,
            silence: "no scrape that minute: no news (health-metrics covers the server, stale-ratio-signal-gone a gauge that never comes)",
        },
        signalGone("stale-ratio", `${APP_METRICS.staleRatio} gauge from the metrics server`, staleRatio, metricsServer),
        {
            id: "news-stale",
            level: 2,
            description: `News feed stale: the newest stored item is older than ${a.newsMaxAgeHours} h (${APP_METRICS.newsAge}, a gauge the metrics server is assumed to expose; README, "Contracts"). Check the news aggregator's log for its feeds (sofia-news) and restart it: docker restart sofia-news.`,
            metric: newsAge,
            comparison: "GreaterThanThreshold",
            threshold: a.newsMaxAgeHours * 3600,
            period: 3600,
            evaluationPeriods: 1,
            treatMissingData: "notBreaching",
            publisher: metricsServer,
            silence: "no scrape that hour: no news (news-stale-signal-gone alarms a gauge that never comes)",
        },
        ...syntheticChecks(catalog, s, alarmPrefix(s.stack)).map<AlarmSpec>((c) => ({
            id: `synthetic-${c.id}`,
            level: 2,
            description: `The synthetic check of ${c.service} failed, from outside, through ${c.base}: ${[c.theme ? "its theme markers (runbook: UI Theme Broken)" : "", c.paths ? `its critical paths ${c.paths.map((p) => p.path).join(", ")}` : ""].filter(Boolean).join(" and ")}. The canary ${c.canary}'s last runs say which, with screenshots (CloudWatch, Synthetics).`,
            metric: { ...canaryMetric(c.canary), statistic: "Average" },
            comparison: "LessThanThreshold",
            threshold: 100,
            period: 300,
            evaluationPeriods: 3,
            datapointsToAlarm: 2,
            // A canary that stopped running checks nothing.
            treatMissingData: "breaching",
            publisher: { by: "aws", service: "Synthetics" },
            silence: "the canary did not run: it pages (a check that stopped is no check)",
        })),
        signalGone("news-stale", `${APP_METRICS.newsAge} gauge from the metrics server`, newsAge, metricsServer),
        {
            id: "fallback-down",
            level: 2,
            description: `The equities fallback source failed its hourly check ${a.fallbackDownHours} hours in a row (${APP_METRICS.fallbackUp}; README, "Contracts"): should the primary fail now, the equities feed has nowhere to go. Check the source from the host and the puller's log (sofia-equities); equityPrimary switches which source is primary.`,
            metric: fallbackUp,
            comparison: "LessThanThreshold",
            threshold: 1,
            period: 3600,
            evaluationPeriods: a.fallbackDownHours,
            datapointsToAlarm: a.fallbackDownHours,
            treatMissingData: "notBreaching",
            publisher: metricsServer,
            silence: "no scrape that hour: no news (fallback-down-signal-gone alarms a gauge that never comes)",
        },
        signalGone("fallback-down", `${APP_METRICS.fallbackUp} gauge from the metrics server`, fallbackUp, metricsServer),
        {
            id: "api-latency-p95",
            level: 2,
            description: `API latency p95 >= ${a.apiP95Ms} ms over 5 minutes (runbook "High Latency Investigation"), from the API's JSON access log's duration_ms (README, "Contracts").`,
            metric: apiLatency,
            comparison: "GreaterThanOrEqualToThreshold",
            threshold: a.apiP95Ms,
            period: 300,
            evaluationPeriods: 1,
            // No requests, no latency: the API's health alarm says whether it is up.
            treatMissingData: "notBreaching",
            publisher: { by: "log-filter", service: "api" },
            silence: "no requests logged: no news (the probe's /health calls alone log a line a minute; api-latency-p95-signal-gone covers a day of none)",
        },
        signalGone("api-latency-p95", "request with duration_ms in the API's access log", apiLatency, { by: "log-filter", service: "api" }),
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
            publisher: probe,
            silence: "Redis did not answer the probe: not counted either way (health-redis covers it)",
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
            publisher: { by: "agent" },
            silence: "the agent reports every minute: silence means it or the host is gone, and pages",
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
            treatMissingData: "breaching",
            publisher: { by: "agent" },
            silence: "the agent reports every minute: silence means it is blind or gone, and pages",
        })),
        {
            id: "ws-reconnects",
            level: 2,
            description: `Websocket reconnects above ${a.reconnectsPerMinute}/min (runbook "WebSocket Disconnection Issues"), from the metrics server's ${APP_METRICS.reconnects} counter. Soft restart: docker kill -s USR1 sofia-crypto-ws.`,
            // Each data point is the counter's increase since the last scrape (one a minute).
            metric: reconnects,
            comparison: "GreaterThanThreshold",
            threshold: a.reconnectsPerMinute,
            period: 60,
            evaluationPeriods: 5,
            datapointsToAlarm: 3,
            treatMissingData: "notBreaching",
            publisher: metricsServer,
            silence: "no scrape that minute: no news (ws-reconnects-signal-gone covers a counter that never comes)",
        },
        signalGone("ws-reconnects", `${APP_METRICS.reconnects} counter from the metrics server`, reconnects, metricsServer),
        ...catalog.map<AlarmSpec>((e) => ({
            id: `errors-${e.name}`,
            level: 2,
            description: `More than ${a.errorLinesPerMinute} error lines a minute from ${e.name} (its own log format's levels: model/log-formats.ts, ${e.logFormat}). Its log group: ${logGroupName(s.stack, e.name)}.`,
            metric: { namespace: metricsNamespace(s.stack), name: LOG_METRICS.errorLines(e.name), dimensions: {}, statistic: "Sum" },
            comparison: "GreaterThanThreshold",
            threshold: a.errorLinesPerMinute,
            period: 60,
            evaluationPeriods: 3,
            datapointsToAlarm: 2,
            // The filter reports 0 for every minute with log lines and no error.
            treatMissingData: "notBreaching",
            publisher: { by: "log-filter", service: e.name },
            silence: "no log lines at all that minute: no errors (health covers a service that stopped)",
        })),
        ...(s.proxy.acme
            ? [
                  {
                      id: "tls-certificate",
                      level: 2 as const,
                      description: `The proxy's certificate for ${s.proxy.acme.domain} has fewer than ${CERT_ALARM_DAYS} days left or is still the self-signed placeholder (renewal is failing), or sofia-cert reported nothing for 3 hours. On the host: sofia-cert status; journalctl -u sofia-cert; check that ${s.proxy.acme.domain} points at the publicIp (Elastic IP) and that port 80 reaches the proxy.`,
                      metric: { ...sofia(CERT_METRICS.daysLeft), statistic: "Minimum" },
                      comparison: "LessThanThreshold" as const,
                      threshold: CERT_ALARM_DAYS,
                      period: 3600,
                      evaluationPeriods: 3,
                      datapointsToAlarm: 3,
                      // The timer reports every hour: silence means it stopped, and renewal with it.
                      treatMissingData: "breaching" as const,
                      publisher: { by: "host", script: "sofia-cert renew" } as const,
                      silence: "published hourly: 3 silent hours mean the renewal timer stopped, and page",
                  },
              ]
            : []),
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
            publisher: { by: "host", script: "sofia-backup age" },
            silence: "published every 15 minutes: silence means the host stopped, and pages",
        },
        ...(redisScheduled
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
                      treatMissingData: "breaching" as const,
                      publisher: { by: "host" as const, script: "sofia-backup age" },
                      silence: "published every 15 minutes with the full backup's age: silence means the host stopped, and pages",
                  },
              ]
            : []),
        backupFailed("full"),
        ...(redisScheduled ? [backupFailed("redis")] : []),
        {
            id: "verification-failed",
            level: 2,
            description: "The weekly verification of the latest backup failed: the backup restore would use is not good. Its output in SSM (weekly window) says which item; sofia-restore --verify-only latest reruns it. Stays in ALARM until a verification passes.",
            metric: { ...sofia(BACKUP_METRICS.verified), statistic: "Minimum" },
            comparison: "LessThanThreshold",
            threshold: 1,
            period: 300,
            evaluationPeriods: 1,
            treatMissingData: "ignore",
            publisher: { by: "host", script: "sofia-restore --verify-only" },
            silence: "between weekly runs: the last result stands",
        },
        {
            id: "dr-test-failed",
            level: 2,
            description: "The monthly disaster-recovery test failed: the latest backup could not be restored into scratch. Its output in SSM (monthly window) says where; sofia-restore --scratch latest reruns it. Stays in ALARM until a DR test passes.",
            metric: { ...sofia(BACKUP_METRICS.drSuccess), statistic: "Minimum" },
            comparison: "LessThanThreshold",
            threshold: 1,
            period: 300,
            evaluationPeriods: 1,
            treatMissingData: "ignore",
            publisher: { by: "host", script: "sofia-restore --scratch" },
            silence: "between monthly runs: the last result stands",
        },
        {
            id: "dr-test-slow",
            level: 2,
            description: `The monthly DR test's restore took longer than the recovery-time objective (alarms.recoveryTimeMinutes, ${a.recoveryTimeMinutes} min): a real restore would too. Look at the backup's size and the restore's steps in its output.`,
            metric: { ...sofia(BACKUP_METRICS.drSeconds), statistic: "Maximum" },
            comparison: "GreaterThanThreshold",
            threshold: a.recoveryTimeMinutes * 60,
            period: 300,
            evaluationPeriods: 1,
            treatMissingData: "ignore",
            publisher: { by: "host", script: "sofia-restore --scratch" },
            silence: "between monthly runs: the last result stands",
        },
        // Capacity ahead (issue: where it is heading, not only where it is): level 3 without
        // on-call, an e-mail to the senior contacts; weeks ahead is no reason to wake anyone.
        ...(
            [
                ["data-volume-filling", CAPACITY_METRICS.dataDaysLeft, "The data volume will be full", "Grow it: dataVolumeGb up and pulumi up (in place); sofia-maintenance tidy frees logs and images now."],
                ["redis-memory-filling", CAPACITY_METRICS.redisDaysLeft, "Redis will reach its maxmemory (then it evicts or refuses writes, by its policy)", "Raise redis.maxmemoryMb within the container's memory, or a bigger instanceType; the monthly capacity report says how much."],
            ] as const
        ).map(
            ([id, metric, what, todo]): AlarmSpec => ({
                id,
                level: 3,
                description: `${what} within ${a.capacityDaysLeft} days at the last week's growth (${metric}, from sofia-probe's hourly samples). ${todo}`,
                metric: { ...sofia(metric), statistic: "Minimum" },
                comparison: "LessThanThreshold",
                threshold: a.capacityDaysLeft,
                period: 3600,
                evaluationPeriods: 3,
                treatMissingData: "notBreaching",
                publisher: probe,
                silence: "no trend yet (under six hours of samples) or no probe at all, which probe-silent pages",
                pagesOncall: false,
                soaks: false,
            }),
        ),
        // The page says its evidence is collected: a rule that cannot run its document says so.
        ...(Object.keys(PROCEDURES) as Procedure[]).map(
            (procedure): AlarmSpec => ({
                id: `diagnostics-undelivered-${procedure}`,
                level: 3,
                description: `EventBridge could not run the ${procedure} diagnostics document (${alarmPrefix(s.stack)}-diagnose-${procedure}): pages that name its bundle have none. Check the rule's target and its role (ssm:SendCommand on the document and the instance); sofia-diagnose ${procedure} --force on the host collects one by hand.`,
                metric: { namespace: "AWS/Events", name: "FailedInvocations", dimensions: { RuleName: `${alarmPrefix(s.stack)}-diagnose-${procedure}` }, statistic: "Sum" },
                comparison: "GreaterThanThreshold",
                threshold: 0,
                period: 300,
                evaluationPeriods: 1,
                // EventBridge reports only when the rule matched something.
                treatMissingData: "notBreaching",
                publisher: { by: "aws", service: "EventBridge" },
                silence: "the rule matched nothing: nothing failed",
                pagesOncall: false,
                soaks: false,
            }),
        ),
        {
            id: "oncall-delivery-failed",
            level: 3,
            description: `SNS could not deliver to on-call's endpoint (${oncallTopicName(alarmPrefix(s.stack))}): pages are not arriving. Check the subscription and the pager's integration; this one reaches the senior and security contacts by e-mail.`,
            metric: { namespace: "AWS/SNS", name: "NumberOfNotificationsFailed", dimensions: { TopicName: oncallTopicName(alarmPrefix(s.stack)) }, statistic: "Sum" },
            comparison: "GreaterThanThreshold",
            threshold: 0,
            period: 300,
            evaluationPeriods: 1,
            // SNS reports the metric only when it delivers something.
            treatMissingData: "notBreaching",
            publisher: { by: "aws", service: "SNS" },
            silence: "nothing was sent: nothing failed",
            // Its own page to on-call would fail too, and count, and flap it.
            pagesOncall: false,
        },
        ...(s.secrets.oncallEndpoint
            ? []
            : [
                  {
                      id: "oncall-unsubscribed",
                      level: 3 as const,
                      description: "Nobody is on call: the level 2 topic has no subscriber, so every level 2 page goes nowhere. Set the secret oncallEndpoint (README, Bootstrap) and run pulumi up; this alarm then goes away.",
                      // Always in ALARM while it exists: the probe's heartbeat is counted, and its
                      // silence is breaching too.
                      metric: { ...sofia(PROBE_METRICS.runs), statistic: "SampleCount" },
                      comparison: "GreaterThanOrEqualToThreshold" as const,
                      threshold: 0,
                      period: 300,
                      evaluationPeriods: 1,
                      treatMissingData: "breaching" as const,
                      publisher: probe,
                      silence: "in ALARM either way: it exists only while nobody is subscribed",
                      soaks: false,
                  },
              ]),
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
            publisher: { by: "aws", service: "EC2" },
            silence: "EC2 reports every minute with detailed monitoring: a gap is not counted either way",
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
            publisher: { by: "aws", service: "EC2" },
            silence: "EC2 reports every minute with detailed monitoring: a gap is not counted either way",
        },
    ];
    // The page says where the evidence is: collected the moment the alarm fired (diagnostics.ts).
    return specs.map((spec) => {
        const procedure = procedureOf(spec.id);
        const said = spec.description.trimEnd();
        return procedure ? { ...spec, description: `${said}${/[.!?]$/.test(said) ? "" : "."} ${evidenceSentence(s.stack, procedure)}` } : spec;
    });
}

/** Level 3: several systems failing at once, i.e. any two services' health alarms together. */
export function severalSystemsRule(alarmNames: string[]): string {
    const pairs: string[] = [];
    for (let i = 0; i < alarmNames.length; i++) for (let j = i + 1; j < alarmNames.length; j++) pairs.push(`(ALARM("${alarmNames[i]}") AND ALARM("${alarmNames[j]}"))`);
    return pairs.join(" OR ");
}
