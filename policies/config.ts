/**
 * The policy pack's configuration for a stack, from that stack's settings: the values some
 * policies compare against, and in production every policy mandatory. The same object is the
 * `--policy-pack-config` file `pulumi preview` gets (npm run policies -- --config-only).
 */
import { EnforcementLevel } from "@pulumi/policy";
import { cronFields } from "../components/formats";
import { BACKUP_BUCKET_PREFIX, backupRetention } from "../topology/host/backups";
import { SCRAPE_AGENT } from "../topology/ecs/scrape";
import { PRODUCTION_MIN_RETENTION_DAYS, PRODUCTION_STACKS, Settings } from "../model/settings";

export type PolicyConfig = { all?: EnforcementLevel } & Record<string, EnforcementLevel | Record<string, unknown> | undefined>;

/** The day-of-week field of an AWS cron expression ("SUN" of "cron(0 2 ? * SUN *)"). */
export function scheduleDay(expr: string): string {
    return cronFields(expr)?.dayOfWeek.replace(/#.*|L$/, "") ?? "";
}

export function policyConfig(s: Settings): PolicyConfig {
    return {
        ...(PRODUCTION_STACKS.includes(s.stack) ? { all: "mandatory" as const } : {}),
        "iam-host-role-own-prefix": { prefix: s.stack, buckets: BACKUP_BUCKET_PREFIX },
        "s3-retention-covers-backups": { retention: Object.fromEntries(backupRetention(s).map((r) => [`${r.prefix}/`, r.days])) },
        // A floor of its own, not the settings': a production stack whose settings ask less still fails.
        "s3-prod-backups-kept": PRODUCTION_STACKS.includes(s.stack) ? { minimumDays: PRODUCTION_MIN_RETENTION_DAYS, objectLock: true } : { minimumDays: 1, objectLock: false },
        "maintenance-windows-utc-on-day": { day: scheduleDay(s.maintenance.weeklySchedule) },
        // The ECS topology's tasks reach the store host's stores on its private address.
        "container-store-ports-loopback": { privateAddress: s.topology === "ecs" },
        // The CloudWatch agent beside the metrics server writes its translated configuration under its own directory.
        "ecs-container-hardened": { writableRoot: s.topology === "ecs" ? [SCRAPE_AGENT.name] : [] },
    };
}
