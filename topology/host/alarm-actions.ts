/**
 * What to do first when each alarm fires, and which diagnostics bundle is collected for it: the
 * runbook's "Debugging Procedures" and emergency levers bound to the alarms. RUNBOOK.md is generated
 * from this with the alarm table; the EventBridge rules (diagnostics.ts) read the procedures here.
 * Every alarm must match a family (a test holds it): a new alarm comes with its first actions.
 */

/** The runbook's debugging procedures, each a diagnostics document (host/sofia-diagnose.sh). */
export const PROCEDURES = {
    latency: "High Latency Investigation",
    memory: "Memory Leak Detection",
    websocket: "WebSocket Disconnection Issues",
    outage: "System Down - Complete Outage",
} as const;
export type Procedure = keyof typeof PROCEDURES;

export interface AlarmActions {
    /** The bundle collected the moment it enters ALARM, if any. */
    procedure?: Procedure;
    /** What the person paged does first, in order: the lever, the command. */
    first: string[];
}

const FAMILIES: { match: RegExp; actions: AlarmActions }[] = [
    {
        match: /-signal-gone$/,
        actions: { first: ["The image broke a contract the alarm reads (README, \"Contracts\"): check the metrics server's `/metrics` or the API's access log on the host", "Roll back the release if the contract left with it (`npm run promote -- --rollback ...`)"] },
    },
    {
        match: /^health-/,
        actions: {
            procedure: "outage",
            first: ["Read the bundle's `services` and `container-logs`", "One service: `docker restart sofia-<service>` on the host (the watchdog does it after three unhealthy minutes)", "Several: `sofia-services restart` (stop in reverse, start in catalog order)", "Still down after a release: roll back (`npm run promote -- --rollback ...`)"],
        },
    },
    { match: /^probe-silent$/, actions: { procedure: "outage", first: ["The host itself: its EC2 status checks, `aws ssm start-session --target <instanceId>`", "`systemctl status sofia-probe.timer` on the host"] } },
    {
        match: /^(stale-ratio|ws-reconnects)$/,
        actions: {
            procedure: "websocket",
            first: ["Read the bundle's `metrics` and `feed-lines`", "Soft restart of the feed: `docker kill --signal USR1 sofia-crypto-ws`", "Equities: the fallback lever, `pulumi config set equityPrimary yahoo && pulumi up`"],
        },
    },
    { match: /^news-stale$/, actions: { procedure: "websocket", first: ["Read the bundle's `feed-lines`", "`docker restart sofia-news` on the host"] } },
    { match: /^fallback-down$/, actions: { procedure: "websocket", first: ["The fallback source is out of our hands: keep `equityPrimary` on the primary", "Read the bundle's `feed-lines` for the equities puller's own errors"] } },
    {
        match: /^(api-latency-p95|synthetic-.+)$/,
        actions: {
            procedure: "latency",
            first: ["Read the bundle's `redis-latency`, `connections` and `api-errors`; a canary's screenshots are in the CloudWatch Synthetics console", "More API workers: `pulumi config set --path serviceEnv.api.WORKERS 8 && pulumi up`", "After a release: roll back (`npm run promote -- --rollback ...`)"],
        },
    },
    {
        match: /^redis-memory$/,
        actions: { procedure: "memory", first: ["Read the bundle's `redis-info-memory`", "Raise `redis.maxmemoryMb` (within the container's memory) or change `redis.maxmemoryPolicy`, then `pulumi up`"] },
    },
    {
        match: /^host-memory$/,
        actions: { procedure: "memory", first: ["Read the bundle's `container-memory`: the container that grows", "`docker restart sofia-<service>` for a leak; a bigger `instanceType` for growth (the capacity report says which)"] },
    },
    {
        match: /^(data-volume|redis-memory)-filling$/,
        actions: { first: ["Not urgent: weeks ahead, at the last week's growth. Read the last monthly capacity report (`<stack>/reports/` in the backup bucket)", "Data volume: `dataVolumeGb` up, `pulumi up` (grows in place). Redis: `redis.maxmemoryMb` up or a bigger `instanceType`"] },
    },
    { match: /^disk-/, actions: { first: ["`sofia-maintenance tidy` on the host (old logs, unused images)", "Grow the volume: `dataVolumeGb` or `rootVolumeGb` up, `pulumi up` (in place)"] } },
    { match: /^errors-/, actions: { procedure: "outage", first: ["Read the service's lines in the bundle's `container-logs`, or its log group `/sofia/<stack>/<service>`", "After a release: roll back (`npm run promote -- --rollback ...`)"] } },
    { match: /^tls-certificate$/, actions: { first: ["`sofia-cert status` and `sofia-cert renew` on the host", "The domain's A record must point at the `publicIp` output; port 80 open to everyone"] } },
    { match: /^backup-(age|failed)(-redis)?$/, actions: { first: ["The failed run's output in SSM (Run Command history) says what and what to do", "`sofia-backup list` and `sofia-backup run` on the host"] } },
    { match: /^verification-failed$/, actions: { first: ["The weekly window's output in the maintenance log group", "`sofia-restore --verify-only latest` on the host; a broken backup: take a new one, `sofia-backup run`"] } },
    { match: /^dr-test-(failed|slow)$/, actions: { first: ["The monthly window's output in the maintenance log group", "`sofia-restore --scratch latest` on the host, timed; slow: the capacity report's recommendation"] } },
    {
        match: /^diagnostics-undelivered-/,
        actions: { first: ["Not urgent: the pages still reach on-call, without their evidence. The rule's target and role in EventBridge (FailedInvocations says when)", "`sofia-diagnose <procedure> --force` on the host collects a bundle by hand"] },
    },
    { match: /^oncall-/, actions: { first: ["Set or fix on-call's endpoint: `pulumi config set --secret oncallEndpoint https://...` and `pulumi up`", "Until then level 2 pages reach nobody: watch the dashboard"] } },
    { match: /^ec2-/, actions: { first: ["AWS recovers or reboots the instance by itself (level 1); the data volume stays", "Repeated: replace the instance with `pulumi up` after stopping it; the data volume is kept"] } },
];

/** The first actions and the diagnostics of an alarm, by its id; throws for an alarm nobody wrote actions for. */
export function actionsFor(alarmId: string): AlarmActions {
    const family = FAMILIES.find((f) => f.match.test(alarmId));
    if (!family) throw new Error(`topology/host/alarm-actions.ts: no first actions for the alarm "${alarmId}"; add its family there`);
    return family.actions;
}

/** The diagnostics bundle an alarm collects, if any (no error for an alarm without actions: the test holds those). */
export function procedureOf(alarmId: string): Procedure | undefined {
    return FAMILIES.find((f) => f.match.test(alarmId))?.actions.procedure;
}

/** Where a stack's diagnostics bundles go in the backup bucket: beside its backups, under the host's own prefix. */
export function diagnosticsPrefix(stack: string): string {
    return `${stack}/diagnostics`;
}

/** Days a bundle is kept (at least as long as the bucket's Object Lock holds every object). */
export const DIAGNOSTICS_DAYS = 30;

/** What a page says of its evidence (the alarm's description ends with it). */
export function evidenceSentence(stack: string, procedure: Procedure): string {
    return `Evidence: the ${procedure} bundle, collected when it fired, under ${diagnosticsPrefix(stack)}/${procedure}/ in the backup bucket.`;
}
