/**
 * Redis as ElastiCache: a primary and a replica in two zones with automatic failover, encrypted at
 * rest and in transit, an AUTH token from @pulumi/random kept in Secrets Manager for the tasks,
 * daily snapshots kept as long as the backups, and the eviction policy of the settings. Its data
 * arrives key by key from the store host (host/sofia-cache.sh): the host topology's Redis on a move,
 * a backup's snapshot on restore.from. Not from an RDB in S3: ElastiCache's engines refuse the
 * snapshots of the host's Redis 7.4 (RDB format 12).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { AWS_LIMITS } from "../../components/aws-limits";
import { Settings } from "../../model/settings";
import * as fs from "fs";
import { HostFilesPart } from "../../components/host-files";
import { hostScript } from "../../components/project-root";
import { CACHE_BIN, CACHE_ENV, REDIS_COPY_LIB, shellDefaults } from "../host/layout";
import { hostEnvFile } from "../host/services-files";
import { containerName, passwordFile } from "../host/store-config";

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
    /** The log group its engine log goes to (Redis' own, whose error-line alarm reads it). */
    engineLogGroup?: pulumi.Input<string>;
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
        // A group replaced (new subnets) is a new generation: its final snapshot needs a name of its own.
        const generation = new random.RandomId(`${name}-generation`, { byteLength: 4, keepers: { subnets: args.subnetIds.join(",") } }, child);
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
                applyImmediately: false,
                ...(args.engineLogGroup ? { logDeliveryConfigurations: [{ destination: args.engineLogGroup, destinationType: "cloudwatch-logs", logFormat: "text", logType: "engine-log" }] } : {}),
                tags: args.tags,
            },
            // The live state: never replaced by a setting (data-protected holds it); a restore copies into it (sofia-cache seed).
            // The log delivery is set when the group is made: ElastiCache takes a change to it only
            // with apply-immediately, which this group leaves to its window, and the provider sends
            // it with the group's own setting (terraform-provider-aws #49842): a change would fail the update.
            { ...child, additionalSecretOutputs: ["authToken"], protect: true, ignoreChanges: ["logDeliveryConfigurations"] },
        );
        const secret = new aws.secretsmanager.Secret(`${name}-token-secret`, { namePrefix: `sofia-${s.stack}-redis-auth-`, description: "Sofia's ElastiCache AUTH token (REDIS_PASSWORD of the tasks)", recoveryWindowInDays: 7, tags: args.tags }, child);
        new aws.secretsmanager.SecretVersion(`${name}-token-value`, { secretId: secret.id, secretString: token.result }, { parent: secret });
        this.tokenSecretArn = secret.arn;
        this.nodeIds = [1, 2].map((n) => pulumi.interpolate`${this.group.id}-00${n}`);
        this.registerOutputs({ endpoint: this.group.primaryEndpointAddress });
    }
}

/**
 * What the store host needs to carry Redis into the cache (host/sofia-cache.sh): where the cache is,
 * the secret its token is in, and where the host topology's Redis was.
 */
export function cacheHostFiles(s: Settings, endpoint: pulumi.Input<string>, readerEndpoint: pulumi.Input<string>, tokenSecretArn: pulumi.Input<string>, hostRedisPort: number): HostFilesPart {
    return {
        name: "cache",
        files: [
            hostEnvFile(),
            {
                path: CACHE_ENV,
                content: pulumi.all([endpoint, readerEndpoint, tokenSecretArn]).apply(([host, reader, secret]) =>
                    shellDefaults(CACHE_ENV, "topology/ecs/cache.ts", {
                        CACHE_ENDPOINT: host,
                        // The replica: a backup's live copy reads there, off the primary.
                        CACHE_READER_ENDPOINT: reader,
                        CACHE_PORT: String(CACHE_PORT),
                        CACHE_TLS: "yes",
                        CACHE_TOKEN_SECRET: secret,
                        AWS_REGION_NAME: s.region,
                        HOST_REDIS_CONTAINER: containerName({ name: "redis" }),
                        HOST_REDIS_PORT: String(hostRedisPort),
                        HOST_REDIS_PASSWORD_FILE: passwordFile("redis"),
                        // A backup's snapshot is loaded by the Redis that wrote it (the catalog's), for the copy.
                        SEED_REDIS_IMAGE: s.images.redis,
                    }),
                ),
            },
            { path: CACHE_BIN, content: fs.readFileSync(hostScript("sofia-cache.sh"), "utf8"), mode: "0755" },
            { path: REDIS_COPY_LIB, content: fs.readFileSync(hostScript("sofia-redis-copy.py"), "utf8") },
        ],
        afterInstall: [],
    };
}

/** The store host's role may read the cache's token, and nothing else of Secrets Manager. */
export function cacheTokenPolicy(tokenSecretArn: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.output(tokenSecretArn).apply((arn) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: arn }] }));
}
