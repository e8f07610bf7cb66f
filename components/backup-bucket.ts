/**
 * The backup bucket: versioned, encrypted, private, TLS-only, expiring backups after the retention,
 * optionally with Object Lock so that nobody (not even the host's role) can delete them early.
 * Every request to it (reads above all: a leak is a read) is logged by S3 server access logging
 * to a log bucket of its own, which only S3's logging service may write, for that bucket alone.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ACCESS_LOG_PREFIX, AccessLogBucket } from "./access-log-bucket";
import { tlsOnlyPolicy } from "./bucket-policies";
import { Transform, transformed } from "./transform";

export interface BackupBucketArgs {
    /** The bucket's name prefix (S3 completes it); its access-log bucket's is this followed by "logs-". */
    bucketPrefix: string;
    /**
     * How long what lives under each prefix is kept (one lifecycle rule each; prefixes must not
     * overlap, or S3 would apply the shorter rule to both).
     */
    retention: { prefix: string; days: number }[];
    /** KMS key for SSE-KMS. @default SSE-S3 (AES256) */
    kmsKeyArn?: string;
    /** Object Lock, retention = the longest of `retention`. Can only be turned on at creation. @default false */
    objectLock?: boolean;
    /** Days Object Lock holds each new object, when it is on. @default the longest of `retention` */
    lockDays?: number;
    /** GOVERNANCE (bypassable with s3:BypassGovernanceRetention) or COMPLIANCE (by nobody). @default GOVERNANCE */
    objectLockMode?: "GOVERNANCE" | "COMPLIANCE";
    /** Days a replaced or deleted object version is kept. @default 7 */
    noncurrentVersionDays?: number;
    /** Days the access logs (who read or wrote what, when, from where) are kept. @default 365 */
    accessLogDays?: number;
    /** Adjust the bucket before it is created (fields merged over the component's, or a function). @default none */
    transform?: { bucket?: Transform<aws.s3.BucketArgs> };
    /** Tags for every taggable child. @default none */
    tags?: Record<string, string>;
}

/** Throws on arguments that would keep backups shorter than promised. */
export function validateBackupBucketArgs(args: BackupBucketArgs): void {
    // The provider's bucketPrefix: lower case, at most 37 characters (it appends 26); the log bucket's adds "logs-".
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(args.bucketPrefix) || args.bucketPrefix.length > 32) throw new Error(`BackupBucketArgs.bucketPrefix: "${args.bucketPrefix}" must be lower-case letters, digits, dots and hyphens, at most 32 characters (S3 completes it; its log bucket's adds "logs-")`);
    if (args.retention.length === 0) throw new Error("BackupBucketArgs.retention: give at least one prefix and its days");
    for (const { prefix, days } of args.retention) {
        if (!Number.isInteger(days) || days < 1) throw new Error(`BackupBucketArgs.retention: ${days} days for "${prefix}" must be a whole number of days >= 1`);
        if (!/^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/.test(prefix)) throw new Error(`BackupBucketArgs.retention: "${prefix}" must be a key prefix like "prod/full" (no leading or trailing slash)`);
    }
    const prefixes = args.retention.map((r) => `${r.prefix}/`);
    const overlap = prefixes.filter((p, i) => prefixes.some((q, j) => i !== j && q.startsWith(p)));
    if (overlap.length) throw new Error(`BackupBucketArgs.retention: the prefixes ${overlap.join(", ")} contain others; S3 would apply the shorter rule to both`);
    if (args.lockDays !== undefined && (!Number.isInteger(args.lockDays) || args.lockDays < 1)) throw new Error(`BackupBucketArgs.lockDays: ${args.lockDays} must be a whole number of days >= 1`);
    if (args.accessLogDays !== undefined && (!Number.isInteger(args.accessLogDays) || args.accessLogDays < 1)) throw new Error(`BackupBucketArgs.accessLogDays: ${args.accessLogDays} must be a whole number of days >= 1`);
    if (args.kmsKeyArn !== undefined && !/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/.+$/.test(args.kmsKeyArn)) throw new Error(`BackupBucketArgs.kmsKeyArn: "${args.kmsKeyArn}" is not a KMS key ARN`);
}

export class BackupBucket extends pulumi.ComponentResource {
    readonly bucket: aws.s3.Bucket;
    /** Where S3 logs every request to `bucket`. */
    readonly accessLogs: aws.s3.Bucket;

    constructor(name: string, args: BackupBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:backup:BackupBucket", name, {}, opts);
        validateBackupBucketArgs(args);
        const lockDays = args.lockDays ?? Math.max(...args.retention.map((r) => r.days));
        const child = { parent: this };

        this.bucket = new aws.s3.Bucket(
            ...transformed(
                args.transform?.bucket,
                `${name}`,
                { bucketPrefix: args.bucketPrefix, objectLockEnabled: args.objectLock ?? false, forceDestroy: false, tags: args.tags },
                // Every backup is in it: protected from destroy and replacement; and should the stack go
                // anyway, the bucket stays (its lifecycle empties it).
                { ...child, retainOnDelete: true, protect: true },
            ),
        );
        const bucket = this.bucket.id;
        new aws.s3.BucketOwnershipControls(`${name}-ownership`, { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
        const block = new aws.s3.BucketPublicAccessBlock(
            `${name}-public-access`,
            { bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
            child,
        );
        new aws.s3.BucketPolicy(`${name}-tls-only`, { bucket, policy: this.bucket.arn.apply(tlsOnlyPolicy) }, { ...child, dependsOn: [block] });
        const versioning = new aws.s3.BucketVersioning(`${name}-versioning`, { bucket, versioningConfiguration: { status: "Enabled" } }, child);
        new aws.s3.BucketServerSideEncryptionConfiguration(
            `${name}-encryption`,
            {
                bucket,
                rules: [
                    args.kmsKeyArn
                        ? { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn }, bucketKeyEnabled: true }
                        : { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
                ],
            },
            child,
        );
        new aws.s3.BucketLifecycleConfiguration(
            `${name}-lifecycle`,
            {
                bucket,
                rules: [
                    ...args.retention.map(({ prefix, days }) => ({
                        id: `expire-${prefix.replace(/\//g, "-")}`,
                        status: "Enabled",
                        filter: { prefix: `${prefix}/` },
                        expiration: { days },
                        noncurrentVersionExpiration: { noncurrentDays: args.noncurrentVersionDays ?? 7 },
                    })),
                    { id: "abort-incomplete-uploads", status: "Enabled", filter: { prefix: "" }, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } },
                ],
            },
            // Lifecycle on a versioned bucket: versioning first, or the noncurrent rule has nothing to act on.
            { ...child, dependsOn: [versioning] },
        );
        if (args.objectLock) {
            new aws.s3.BucketObjectLockConfiguration(
                `${name}-object-lock`,
                { bucket, objectLockEnabled: "Enabled", rule: { defaultRetention: { mode: args.objectLockMode ?? "GOVERNANCE", days: lockDays } } },
                { ...child, dependsOn: [versioning] },
            );
        }
        this.accessLogs = this.createAccessLogs(name, args, child);
        this.registerOutputs({ bucket: this.bucket.bucket, arn: this.bucket.arn, accessLogs: this.accessLogs.bucket });
    }

    /** Logging switched on for the backup bucket, into a log bucket of its own (after its grant: S3 checks it can deliver). */
    private createAccessLogs(name: string, args: BackupBucketArgs, child: { parent: pulumi.Resource }): aws.s3.Bucket {
        const logs = new AccessLogBucket(`${name}-access-logs`, { bucketPrefix: `${args.bucketPrefix}logs-`, sourceBucketArn: this.bucket.arn, prefix: ACCESS_LOG_PREFIX, days: args.accessLogDays ?? 365, tags: args.tags }, child);
        new aws.s3.BucketLogging(
            `${name}-access-logging`,
            { bucket: this.bucket.id, targetBucket: logs.bucket.id, targetPrefix: ACCESS_LOG_PREFIX, targetObjectKeyFormat: { partitionedPrefix: { partitionDateSource: "EventTime" } } },
            { ...child, dependsOn: [logs.policy] },
        );
        return logs.bucket;
    }
}
