/**
 * The schema of every `sofia:` stack setting: types, allowed values, defaults and the one-line
 * description that the README's settings reference is generated from (scripts/settings-doc.ts).
 */
import { z } from "zod";
import { ADMIN_MIN_PREFIX, cidrProblem, imageRefProblem, instanceTypeProblem, isTooWideForAdmin, looksLikeSecretName, registryOf, scheduleNeverFires, scheduleProblem } from "../components/formats";
import { allServiceNames, defaultImages, memoryOf, releaseServiceNames, sofiaCatalog } from "./catalog";
import { windowsOverlap } from "./maintenance-rules";

/** Turns a `(value) => problem | undefined` format check into a zod string schema. */
function formatted(problem: (v: string) => string | undefined, format: string): z.ZodString {
    return z.string().check((ctx) => {
        const p = problem(ctx.value);
        if (p) ctx.issues.push({ code: "custom", message: p, input: ctx.value });
    }).meta({ format }) as unknown as z.ZodString;
}

const cidr = formatted(cidrProblem, "cidr");

// A schedule must be well formed and fire at some time still to come (not February 30th, not only in a year gone by).
const schedule = formatted((v) => scheduleProblem(v) ?? scheduleNeverFires(v, new Date()), "aws-schedule");
const imageRef = formatted(imageRefProblem, "image-ref");
const percent = z.number().gt(0).lte(100);

/** `images`: one reference per catalog entry; app images are the release and have no default. */
const images = z
    .strictObject(
        Object.fromEntries(
            allServiceNames.map((name) => [
                name,
                releaseServiceNames.includes(name)
                    ? imageRef.meta({ description: `Image of the ${name} service (part of the release).` })
                    : imageRef.default(defaultImages[name]).meta({ description: `Image of the ${name} service, pinned upstream.` }),
            ]),
        ),
    )
    .prefault({})
    .meta({ description: "Image reference per catalog entry. The app images together are the release." });

/** Redis needs headroom above maxmemory for the copy-on-write fork of BGSAVE and AOF rewrites. */
const REDIS_FORK_HEADROOM = 0.75;

const restore = z
    .strictObject({
        from: z
            .string()
            .regex(/^(latest|[A-Za-z0-9._-]+)$/, { error: 'expected a backup id (sofia-backup list) or "latest"' })
            .optional()
            .meta({ description: "Restore this backup (an id from `sofia-backup list`, or \"latest\") on the next `pulumi up`; the same id is not restored twice." }),
        confirm: z.string().optional().meta({ description: "The stack's own name: required to restore into prod, a guard against restoring the wrong stack." }),
    })
    .prefault({});

const redis = z
    .strictObject({
        maxmemoryMb: z.number().int().min(64).default(1536).meta({ description: `Redis maxmemory in MiB; at most ${REDIS_FORK_HEADROOM * 100}% of the container's limit, leaving room to fork for snapshots.` }),
        maxmemoryPolicy: z
            .enum(["noeviction", "allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "volatile-ttl", "allkeys-random", "volatile-random"])
            .default("volatile-lru")
            .meta({ description: "Eviction policy. The default evicts only keys with a TTL (cache), never positions or other state." }),
        rdbCompression: z
            .boolean()
            .default(false)
            .meta({ description: "LZF-compress snapshots. Off by default: on a small host the snapshot child's CPU competes with the API, and S3 bytes are cheap (4x faster snapshots here)." }),
    })
    .refine((r) => r.maxmemoryMb <= memoryOf("redis") * REDIS_FORK_HEADROOM, {
        error: `must be at most ${memoryOf("redis") * REDIS_FORK_HEADROOM} (${REDIS_FORK_HEADROOM * 100}% of the redis container's ${memoryOf("redis")} MiB)`,
        path: ["maxmemoryMb"],
    })
    .prefault({});

const questdb = z
    .strictObject({
        retentionDays: z.number().int().min(1).max(3650).default(30).meta({ description: "Days of ticks partitions kept; older ones are dropped by weekly maintenance." }),
    })
    .prefault({});

const serviceEnv = z
    .partialRecord(
        z.enum(allServiceNames as [string, ...string[]]),
        z.record(
            z.string().regex(/^[A-Z][A-Z0-9_]*$/, { error: "env var names are UPPER_SNAKE_CASE" }).refine((k) => !looksLikeSecretName(k), { error: "looks like a secret: do not put it in plain stack config" }),
            z.string(),
        ),
    )
    .default({})
    .meta({ description: "Extra or overriding plain env vars per service, e.g. {api: {WORKERS: \"8\"}}." });

const backup = z
    .strictObject({
        retentionDays: z.number().int().min(1).max(3650).default(30).meta({ description: "Days a backup is kept (the runbook keeps 30)." }),
        schedule: schedule.default("cron(0 1 * * ? *)").meta({ description: "When the full backup runs (UTC)." }),
        redisSchedule: schedule
            .optional()
            .meta({ description: "Redis-only backups between full ones (an EventBridge schedule: rate(15 minutes) is allowed). Unset: none, except in prod, where it is rate(15 minutes)." }),
        redisRetentionDays: z.number().int().min(1).max(3650).default(7).meta({ description: "Days a Redis-only backup is kept (at most retentionDays): they are many, and the full backups keep the long history." }),
        kmsKeyArn: z
            .string()
            // A key, not an alias: the host's policy names the key, and an alias ARN there grants nothing.
            .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(mrk-)?[0-9a-f-]{32,36}$/, {
                error: "expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>); for an alias, give the key it names: aws kms describe-key --key-id alias/<name> --query KeyMetadata.Arn",
            })
            .optional()
            .meta({ description: "Encrypt backups with this KMS key (SSE-KMS). Unset: SSE-S3." }),
        objectLock: z.boolean().default(false).meta({ description: "Object Lock (retention = retentionDays). Chosen when the bucket is created; a change is refused (placement). Required in prod." }),
        objectLockMode: z
            .enum(["GOVERNANCE", "COMPLIANCE"])
            .default("GOVERNANCE")
            .meta({ description: "GOVERNANCE: a principal with s3:BypassGovernanceRetention may delete early; COMPLIANCE: nobody, not even the account's root, until the retention ends." }),
    })
    .refine((b) => b.redisRetentionDays <= b.retentionDays, { error: "redisRetentionDays cannot be longer than retentionDays", path: ["redisRetentionDays"] })
    .prefault({});

const alarms = z
    .strictObject({
        healthFailingMinutes: z.number().int().min(1).max(60).default(2).meta({ description: "Minutes of failed /health, within the window, before a service alarms." }),
        healthWindowMinutes: z.number().int().min(1).max(60).default(3).meta({ description: "Window the failing minutes are counted in." }),
        staleRatio: z.number().gt(0).lte(1).default(0.1).meta({ description: "Data freshness: alarm when stale_ratio reaches this." }),
        http5xxPercent: percent.default(5).meta({ description: "Topology ecs: the share of client requests answered 5xx (apps or load balancer), in %, that alarms." }),
        apiP95Ms: z.number().positive().default(150).meta({ description: "API latency p95 threshold in milliseconds." }),
        redisMemoryPercent: percent.default(80).meta({ description: "Redis used memory, as a percentage of maxmemory." }),
        diskPercent: percent.default(80).meta({ description: "Disk used on the root and data volumes." }),
        reconnectsPerMinute: z.number().positive().default(5).meta({ description: "Websocket reconnects per minute before alarming." }),
        newsMaxAgeHours: z.number().positive().max(72).default(6).meta({ description: "Alarm when the newest stored news item is older than this (the runbook checks the feed daily)." }),
        fallbackDownHours: z.number().int().min(1).max(24).default(2).meta({ description: "Hours in a row the equities fallback source may fail its hourly check before alarming." }),
        errorLinesPerMinute: z.number().positive().default(10).meta({ description: "ERROR log lines per minute, per service, before alarming." }),
        backupMaxAgeHours: z.number().positive().max(24 * 14).default(26).meta({ description: "Alarm when the last good full backup is older than this." }),
        redisBackupMaxAgeMinutes: z.number().int().min(30).max(24 * 60).default(60).meta({ description: "Where Redis-only backups are scheduled: alarm when the newest is older than this." }),
        recoveryTimeMinutes: z.number().int().min(1).max(24 * 60).default(60).meta({ description: "Recovery-time objective: alarm when the monthly DR test's restore takes longer than this." }),
        capacityDaysLeft: z.number().int().min(1).max(365).default(21).meta({ description: "Capacity ahead: e-mail the senior contacts when the data volume or Redis' maxmemory will be reached within this many days at the last week's growth." }),
    })
    .refine((a) => a.healthFailingMinutes <= a.healthWindowMinutes, {
        error: "healthFailingMinutes cannot be larger than healthWindowMinutes",
        path: ["healthFailingMinutes"],
    })
    .prefault({});

const maintenance = z
    .strictObject({
        weeklySchedule: schedule.default("cron(0 2 ? * SUN *)").meta({ description: "Weekly window start (UTC): vacuum, logs, backup check, patches." }),
        monthlySchedule: schedule.default("cron(0 4 ? * SUN#1 *)").meta({ description: "Monthly window start (UTC): full restart and disaster-recovery test. On the first Sunday it follows the weekly window." }),
        durationHours: z.number().int().min(1).max(24).default(2).meta({ description: "Length of each window." }),
        cutoffHours: z.number().int().min(0).max(23).default(1).meta({ description: "No new task starts in the last hours of a window." }),
    })
    .refine((m) => m.cutoffHours < m.durationHours, { error: "cutoffHours must be less than durationHours", path: ["cutoffHours"] })
    .superRefine((m, ctx) => {
        const problem = windowsOverlap(m);
        if (problem) ctx.addIssue({ code: "custom", path: ["monthlySchedule"], input: m.monthlySchedule, message: problem });
    })
    .prefault({});

const escalation = z
    .strictObject({
        seniorEmails: z.array(z.email({ error: "expected an e-mail address" })).default([]).meta({ description: "Level 3: senior engineers notified by e-mail." }),
        securityEmails: z.array(z.email({ error: "expected an e-mail address" })).default(["security@company.com"]).meta({ description: "Level 3: security contacts (the runbook's security@company.com)." }),
    })
    .prefault({});

const deploy = z
    .strictObject({
        promotedCommit: z
            .string()
            .regex(/^[0-9a-f]{40}$/, { error: "a full git commit id" })
            .optional()
            .meta({ description: "Set by npm run promote: the commit staging verified and soaked; prod's deploy refuses code that differs from it." }),
        rollbackId: z
            .string()
            .regex(/^[A-Za-z0-9._:-]{1,80}$/, { error: "letters, digits and . _ : - only" })
            .optional()
            .meta({ description: "Set by npm run promote -- --rollback: a new id makes the update a full release deploy (backup, page, verification), also back to the release prod last verified." }),
        schema: z
            .strictObject({
                version: z.number().int().min(1).meta({ description: "The schema version the API image's migration brings the stores to." }),
                oldestCompatible: z.number().int().min(1).meta({ description: "The oldest schema version an app release may be built for and still read this schema: a rollback to an app built for an older one is refused." }),
            })
            .refine((x) => x.oldestCompatible <= x.version, { error: "oldestCompatible cannot be newer than version", path: ["oldestCompatible"] })
            .optional()
            .meta({ description: "The release's schema contract (an assumed contract of the API image, README \"Release\"): written with the images by the release pipeline in staging and by npm run promote in prod." }),
        maintenanceMinutes: z
            .number()
            .int()
            .min(10)
            .max(360)
            .default(60)
            .meta({ description: "Longest a release deploy may keep the maintenance page up and pages suppressed; both lapse by themselves after it if the deploy dies." }),
        retryAfterSeconds: z.number().int().min(5).max(3600).default(120).meta({ description: "Retry-After that the maintenance page (HTTP 503) gives clients." }),
        soakMinutes: z
            .number()
            .int()
            .min(0)
            .max(7 * 24 * 60)
            .default(30)
            .meta({ description: "Promotion into this stack waits until staging has run the release this long since verification, with no level 2 or 3 alarm (runbook: \"Monitor metrics for 30 minutes\")." }),
    })
    .prefault({});

/** A registry host as image references name it: `ghcr.io`, `registry.example.com:5000`. */
const registryHost = z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/, { error: 'expected a registry host like "ghcr.io"' });

const registry = z
    .strictObject({
        address: registryHost.optional().meta({ description: "The private registry the release's images come from (e.g. ghcr.io); the Docker provider logs in to it to pull." }),
        username: z.string().min(1).max(256).regex(/^\S+$/, { error: "expected a user name without spaces" }).optional().meta({ description: "The user it logs in as; the password is the registryPassword secret (or DOCKER_REGISTRY_PASS where pulumi runs)." }),
    })
    .refine((r) => (r.address === undefined) === (r.username === undefined), { error: "set registry.address and registry.username together", path: ["username"] })
    .prefault({});

const PEM_CERT = /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n?(-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n?)*$/;

/** Let's Encrypt's production directory: what `proxy.acme.directory` defaults to. */
export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";

const acme = z.strictObject({
    domain: z
        .string()
        .max(253)
        .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, { error: "expected a lower-case DNS name like sofia.example.com (no wildcard: the HTTP-01 challenge cannot prove one)" })
        .meta({ description: "The DNS name clients use; its A record must point at the stack's publicIp (an Elastic IP, kept across stop/start)." }),
    email: z.email({ error: "expected an e-mail address for the CA's expiry notices" }).meta({ description: "Where the CA sends expiry and policy notices." }),
    directory: z
        .url({ protocol: /^https$/, error: "expected the https:// URL of an ACME directory" })
        .default(LETS_ENCRYPT_DIRECTORY)
        .meta({ description: "The ACME CA's directory URL. Default: Let's Encrypt production." }),
    clientImage: imageRef.optional().meta({ description: "The lego image the host runs to talk to the CA. Default: the lego version the tests run (topology/host/certificate.ts), by tag." }),
});

const proxy = z
    .strictObject({
        tlsCertificate: z
            .string()
            .regex(PEM_CERT, { error: "expected a PEM certificate chain (-----BEGIN CERTIFICATE----- ...)" })
            .optional()
            .meta({ description: "PEM certificate (chain) the front proxy serves TLS with on every client port; its key is the proxyTlsKey secret. Or use proxy.acme. Unset (both): plain HTTP, allowed only for a stack no public address can reach, never in prod." }),
        acme: acme.optional().meta({
            description: "A certificate for this domain from an ACME CA, obtained and renewed on the host (HTTP-01 on port 80, opened to everyone for the challenge alone); its key never leaves the host. Or use proxy.tlsCertificate.",
        }),
    })
    .refine((p) => !(p.tlsCertificate && p.acme), { error: "set proxy.tlsCertificate or proxy.acme, not both", path: ["acme"] })
    .prefault({});

/**
 * The ECS topology (`topology: ecs`): the apps as ECS services on Fargate behind an ALB, Redis as
 * ElastiCache, the time-series store on a host of its own (topology/ecs/).
 */
const ecs = z
    .strictObject({
        certificateArn: z
            .string()
            .regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/, { error: "expected an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)" })
            .optional()
            .meta({ description: "ACM certificate the load balancer serves TLS with on every client port. Unset: one is requested from ACM for proxy.acme.domain (DNS validation: add the record the validationRecord output names)." }),
        subnetIds: z
            .array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, { error: 'expected a subnet id like "subnet-0abc12345def67890"' }))
            .min(2, { error: "the load balancer and ElastiCache's failover need subnets in two zones at least" })
            .optional()
            .meta({ description: "Subnets (two zones at least) of the load balancer, the tasks and ElastiCache. Default: the default VPC's default subnets." }),
        publicTaskIps: z.boolean().default(true).meta({ description: "Give tasks a public address for their way out (images, feeds): true in subnets without a NAT gateway (the default VPC's); only the load balancer may reach them in." }),
        minTasks: z.number().int().min(1).max(100).default(2).meta({ description: "Least tasks of each load-balanced service (API, UI): two spread over two zones survive a zone." }),
        maxTasks: z.number().int().min(1).max(100).default(6).meta({ description: "Most tasks autoscaling may run of each load-balanced service." }),
        targetCpuPercent: z.number().int().min(10).max(90).default(60).meta({ description: "Average CPU per load-balanced service that target tracking holds it at." }),
        cacheNodeType: z.string().regex(/^cache\.[a-z0-9]+\.[a-z0-9]+$/, { error: 'expected an ElastiCache node type like "cache.t4g.medium"' }).default("cache.t4g.medium").meta({ description: "ElastiCache node type (two nodes: a primary and its replica in another zone)." }),
        cacheEngine: z.enum(["valkey", "redis"]).default("valkey").meta({ description: "ElastiCache engine: Valkey (cheaper) or Redis OSS." }),
    })
    .refine((e) => e.minTasks <= e.maxTasks, { error: "minTasks cannot be more than maxTasks", path: ["minTasks"] })
    .prefault({});

/** The retention periods CloudWatch Logs accepts. */
const LOG_RETENTIONS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/** Every plain (non-secret) `sofia:` key. */
export const settingsSchema = z
    .strictObject({
        instanceType: formatted(instanceTypeProblem, "ec2-instance-type").default("t3.large").meta({ description: "EC2 instance type of the host." }),
        availabilityZone: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$/, { error: 'expected an availability zone like "eu-central-1a"' }).optional().meta({ description: "Zone of the host and its data volume; default: the region's first zone (\"<region>a\")." }),
        acceptDataLoss: z
            .string()
            .optional()
            .meta({ description: "Names this stack to let one update replace the data volume or the backup bucket (a new zone, subnet or Object Lock choice), which is otherwise refused; both are also protected, so pulumi state unprotect them first. Unset it afterwards." }),
        subnetId: z.string().regex(/^subnet-[0-9a-f]{8,17}$/, { error: 'expected a subnet id like "subnet-0abc12345def67890"' }).optional().meta({ description: "Subnet of the host; default: the default VPC's subnet in the zone." }),
        rootVolumeGb: z.number().int().min(20).max(1024).default(30).meta({ description: "Root volume size (encrypted gp3)." }),
        dataVolumeGb: z.number().int().min(20).max(16384).default(200).meta({ description: "Data volume size (encrypted gp3): Docker volumes and backup staging." }),
        clientCidrs: z.array(cidr).default([]).meta({ description: "Who may reach the API and UI ports. Empty: nobody from outside the VPC." }),
        staffCidrs: z
            .array(cidr.refine((c) => !isTooWideForAdmin(c), { error: `a staff CIDR names the operators' networks: at most a /${ADMIN_MIN_PREFIX.v4} (IPv6: /${ADMIN_MIN_PREFIX.v6}); wider blocks are the internet in pieces` }))
            .default([])
            .meta({ description: "Who may reach the operators' ports (Grafana) through the proxy (topology ecs: the load balancer's HTTPS). Empty: nobody from outside; reach it through an SSM port-forwarding session to the host (the grafana output names it)." }),
        adminCidrs: z
            .array(cidr.refine((c) => !isTooWideForAdmin(c), { error: `an admin CIDR names trusted hosts: at most a /${ADMIN_MIN_PREFIX.v4} (IPv6: /${ADMIN_MIN_PREFIX.v6}); wider blocks are the internet in pieces` }))
            .default([])
            .meta({ description: "Who may reach SSH, only used when dockerAccess is admin-ssh." }),
        dockerAccess: z.enum(["ssm", "admin-ssh"]).default("ssm").meta({ description: "How Pulumi reaches the host's Docker: SSH through an SSM session (no open port) or SSH from adminCidrs." }),
        sshPublicKey: z
            .string()
            .regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}( \S.*)?$/, { error: "expected one OpenSSH public key line (ssh-ed25519 AAAA… comment)" })
            .meta({ description: "Public key of the deploy user that Pulumi's Docker provider logs in as (the private key stays with the operator or CI). A new key replaces the old one on the host through an SSM association, without stopping it." }),
        topology: z
            .enum(["host", "ecs"])
            .default("host")
            .meta({ description: "Where Sofia runs: one EC2 host (host), or the apps on ECS Fargate behind a load balancer with Redis as ElastiCache and the time-series store on a host of its own (ecs; README \"Scale\")." }),
        ecs,
        timeseriesStore: z.enum(["questdb", "timescaledb"]).default("questdb").meta({ description: "Which time-series store runs (the runbook allows either)." }),
        images,
        registry,
        publicRegistries: z
            .array(registryHost)
            .default(["docker.io"])
            .meta({ description: "Registries whose images are pulled without logging in (Docker Hub: the stores' and proxy's pinned images). Any other registry an image names must be sofia:registry." }),
        equityPrimary: z
            .string()
            .regex(/^[a-z][a-z0-9_-]*$/, { error: 'expected a data source name like "yahoo"' })
            .optional()
            .meta({ description: "EQUITY_PRIMARY for the equities puller; \"yahoo\" is the runbook's forced fallback. Unset: the app's own primary." }),
        redis,
        questdb,
        restore,
        serviceEnv,
        backup,
        alarms,
        maintenance,
        escalation,
        deploy,
        proxy,
        logRetentionDays: z
            .number()
            .refine((d) => (LOG_RETENTIONS as readonly number[]).includes(d), { error: `expected one of CloudWatch's retention periods: ${LOG_RETENTIONS.join(", ")}` })
            .default(30)
            .meta({ description: "Days the services' container logs are kept in CloudWatch Logs." }),
    })
    .superRefine((s, ctx) => {
        if (s.dockerAccess === "admin-ssh" && s.adminCidrs.length === 0) {
            ctx.addIssue({ code: "custom", path: ["adminCidrs"], input: s.adminCidrs, message: "dockerAccess is admin-ssh, so at least one admin CIDR is needed" });
        }
        // Pulls through the Docker provider carry only the credentials it was given: an image from
        // a registry it cannot log in to fails in the middle of an update, after the backup.
        const byHost = new Map<string, string[]>();
        for (const { name } of sofiaCatalog(s.timeseriesStore)) {
            const ref = s.images[name];
            const host = ref === undefined ? undefined : registryOf(ref);
            if (host === undefined || host === s.registry.address || s.publicRegistries.includes(host)) continue;
            byHost.set(host, [...(byHost.get(host) ?? []), name]);
        }
        for (const [host, [first, ...others]] of byHost) {
            const also = others.length ? ` (so do ${others.map((n) => `sofia:images.${n}`).join(", ")})` : "";
            ctx.addIssue({
                code: "custom",
                path: ["images", first],
                input: s.images[first],
                message: `it comes from ${host}${also}, which has no credentials: set sofia:registry.address ${host} and sofia:registry.username (the password as the secret sofia:registryPassword, or DOCKER_REGISTRY_PASS where pulumi runs), or list ${host} in sofia:publicRegistries if it needs no login`,
            });
        }
    });

/**
 * Keys that must be set with `pulumi config set --secret`. Their values are never printed; a
 * plain-text value is an error, since it would sit readable in `Pulumi.<stack>.yaml`.
 */
export const secretSettings = {
    oncallEndpoint: {
        description: "Level 2 paging endpoint (HTTPS, e.g. a PagerDuty integration URL) subscribed to the on-call topic.",
        problem: (v: string) => (/^https:\/\/[^\s/]+\.[^\s/]+(\/\S*)?$/.test(v) ? undefined : "expected an https:// URL"),
    },
    registryPassword: {
        description: "Password or token of registry.username (e.g. a GitHub token with read:packages). Unset: the Docker provider reads DOCKER_REGISTRY_PASS where pulumi runs.",
        problem: (v: string) => (v.length > 0 && v.length <= 4096 && !/\s/.test(v) ? undefined : "expected a token without white space"),
    },
    proxyTlsKey: {
        description: "PEM private key of proxy.tlsCertificate (set both, or neither).",
        problem: (v: string) => (/^-----BEGIN (RSA |EC )?PRIVATE KEY-----\n[\s\S]+\n-----END (RSA |EC )?PRIVATE KEY-----\n?$/.test(v) ? undefined : "expected a PEM private key (-----BEGIN PRIVATE KEY----- ...)"),
    },
} as const;

export type SecretSettingName = keyof typeof secretSettings;
export type PlainSettings = z.output<typeof settingsSchema>;
