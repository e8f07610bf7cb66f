/**
 * Redis as ElastiCache: a primary and a replica in two zones with automatic failover, encrypted at
 * rest and in transit, an AUTH token from @pulumi/random kept in Secrets Manager for the tasks,
 * daily snapshots kept as long as the backups, and the eviction policy of the settings. Seeded,
 * when created, from a backup's RDB in the backup bucket (restore.from): the migration path.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { AWS_LIMITS } from "../../components/aws-limits";
import { Settings } from "../../model/settings";

/** Engine versions and their parameter group families. */
export const CACHE_ENGINES = {
    valkey: { version: "8.0", family: "valkey8" },
    redis: { version: "7.1", family: "redis7" },
} as const;

/** The port ElastiCache serves on (Redis' own). */
export const CACHE_PORT = 6379;

/** Days ElastiCache keeps its snapshots: the backups' retention (settings refuse more than AWS allows). */
export function cacheSnapshotDays(s: Pick<Settings, "backup">): number {
    return Math.min(s.backup.retentionDays, AWS_LIMITS.cacheSnapshotRetentionDays.max);
}

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/**
 * The hour from an AWS cron that names one minute and hour (`cron(0 1 * * ? *)`,
 * `cron(0 2 ? * SUN *)`), as ElastiCache's daily (`01:00-02:00`) and weekly (`sun:02:00-sun:03:00`)
 * windows; undefined for anything else (a rate, a range, a list).
 */
export function hourWindow(schedule: string): { daily: string; weekly?: string } | undefined {
    const m = /^cron\((\d{1,2}) (\d{1,2}) (\S+) (\S+) (\S+) (\S+)\)$/.exec(schedule);
    if (!m) return undefined;
    const [minute, hour] = [Number(m[1]), Number(m[2])];
    if (minute > 59 || hour > 23) return undefined;
    const at = (h: number) => `${String(h % 24).padStart(2, "0")}:${String(minute).padStart(2, "0")}`;
    const daily = `${at(hour)}-${at(hour + 1)}`;
    const day = /^(SUN|MON|TUE|WED|THU|FRI|SAT)$/i.test(m[5]) ? m[5].toLowerCase() : /^[1-7]$/.test(m[5]) ? DAYS[Number(m[5]) - 1] : undefined;
    if (!day) return { daily };
    const next = hour === 23 ? DAYS[(DAYS.indexOf(day) + 1) % 7] : day;
    return { daily, weekly: `${day}:${at(hour)}-${next}:${at(hour + 1)}` };
}

export interface SofiaCacheArgs {
    settings: Settings;
    subnetIds: string[];
    securityGroupId: pulumi.Input<string>;
    /**
     * S3 object ARN of an RDB to seed the group from: a new one replaces the group (seeded from it).
     * Without one, the group keeps what seeded it (its seed is not compared). @default none
     */
    seedRdbArn?: pulumi.Input<string>;
    tags: Record<string, string>;
}

export class SofiaCache extends pulumi.ComponentResource {
    readonly group: aws.elasticache.ReplicationGroup;
    /** Secrets Manager ARN of the AUTH token. */
    readonly tokenSecretArn: pulumi.Output<string>;
    /** The member clusters' ids (`<group>-001`, `-002`): CloudWatch's dimension per node. */
    readonly nodeIds: pulumi.Output<string>[];

    constructor(name: string, args: SofiaCacheArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:ecs:Cache", name, {}, opts);
        const s = args.settings;
        const engine = CACHE_ENGINES[s.ecs.cacheEngine];
        const child = { parent: this };
        const subnets = new aws.elasticache.SubnetGroup(`${name}-subnets`, { subnetIds: args.subnetIds, description: "Sofia's cache: two zones at least", tags: args.tags }, child);
        const params = new aws.elasticache.ParameterGroup(
            `${name}-params`,
            { family: engine.family, description: "Sofia's eviction policy (settings redis.maxmemoryPolicy)", parameters: [{ name: "maxmemory-policy", value: s.redis.maxmemoryPolicy }], tags: args.tags },
            child,
        );
        // Letters and digits only: ElastiCache allows few specials, and none is needed for 32 characters of entropy.
        const generation = new random.RandomId(`${name}-generation`, { byteLength: 4, keepers: { seed: args.seedRdbArn ?? "unseeded" } }, child);
        const token = new random.RandomPassword(`${name}-token`, { length: 32, special: false }, child);
        this.group = new aws.elasticache.ReplicationGroup(
            `${name}-group`,
            {
                description: `Sofia ${s.stack}: Redis (cache and live state)`,
                engine: s.ecs.cacheEngine,
                engineVersion: engine.version,
                nodeType: s.ecs.cacheNodeType,
                port: CACHE_PORT,
                numCacheClusters: 2,
                automaticFailoverEnabled: true,
                multiAzEnabled: true,
                atRestEncryptionEnabled: true,
                transitEncryptionEnabled: true,
                transitEncryptionMode: "required",
                authToken: token.result,
                parameterGroupName: params.name,
                subnetGroupName: subnets.name,
                securityGroupIds: [args.securityGroupId],
                snapshotRetentionLimit: cacheSnapshotDays(s),
                // In step with the host topology's schedules where they name one time (else AWS picks).
                snapshotWindow: hourWindow(s.backup.schedule)?.daily,
                maintenanceWindow: hourWindow(s.maintenance.weeklySchedule)?.weekly,
                // One name per generation of the group: a second delete must not meet the first's snapshot.
                finalSnapshotIdentifier: pulumi.interpolate`sofia-${s.stack}-cache-final-${generation.hex}`,
                ...(args.seedRdbArn ? { snapshotArns: [args.seedRdbArn] } : {}),
                applyImmediately: false,
                tags: args.tags,
            },
            // The live state: a replacement (a new seed) is a restore, asked for by restore.from alone;
            // unsetting restore.from must not drop the seed (ForceNew), which would replace the group empty.
            { ...child, additionalSecretOutputs: ["authToken"], ...(args.seedRdbArn ? {} : { ignoreChanges: ["snapshotArns"] }) },
        );
        const secret = new aws.secretsmanager.Secret(`${name}-token-secret`, { namePrefix: `sofia-${s.stack}-redis-auth-`, description: "Sofia's ElastiCache AUTH token (REDIS_PASSWORD of the tasks)", recoveryWindowInDays: 7, tags: args.tags }, child);
        new aws.secretsmanager.SecretVersion(`${name}-token-value`, { secretId: secret.id, secretString: token.result }, { parent: secret });
        this.tokenSecretArn = secret.arn;
        this.nodeIds = [1, 2].map((n) => pulumi.interpolate`${this.group.id}-00${n}`);
        this.registerOutputs({ endpoint: this.group.primaryEndpointAddress });
    }
}
