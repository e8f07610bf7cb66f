/**
 * A bucket for S3 server access logs of one source bucket: SSE-S3 (server access logging cannot
 * deliver to a KMS-encrypted target), versioned, private, TLS-only, expiring its logs, kept if the
 * stack goes; only S3's logging service may write to it, for that source bucket alone. A component
 * of its own, so that checks of the source bucket's settings never count the log bucket's.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { denyInsecureTransport } from "./bucket-policies";

export interface AccessLogBucketArgs {
    /** The log bucket's name prefix (S3 completes it). */
    bucketPrefix: string;
    /** The bucket whose requests are logged here. */
    sourceBucketArn: pulumi.Input<string>;
    /** Key prefix the logs are written under, ending in "/". */
    prefix: string;
    /** Days the logs are kept. */
    days: number;
    /** Tags for every taggable child. @default none */
    tags?: Record<string, string>;
}

/** Where a backup bucket's access logs go, under the log bucket. */
export const ACCESS_LOG_PREFIX = "s3-access/";

/**
 * The log bucket's policy: nothing over plain HTTP, and S3's logging service may write logs under
 * the prefix for the one source bucket, in this account only (AWS's recommended grant; ACLs are off).
 */
export function accessLogPolicy(logBucketArn: string, sourceBucketArn: string, account: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            denyInsecureTransport(logBucketArn),
            {
                Sid: "S3ServerAccessLogsFromTheBackupBucket",
                Effect: "Allow",
                Principal: { Service: "logging.s3.amazonaws.com" },
                Action: "s3:PutObject",
                Resource: `${logBucketArn}/${ACCESS_LOG_PREFIX}*`,
                Condition: { ArnLike: { "aws:SourceArn": sourceBucketArn }, StringEquals: { "aws:SourceAccount": account } },
            },
        ],
    });
}

export class AccessLogBucket extends pulumi.ComponentResource {
    readonly bucket: aws.s3.Bucket;
    /** The grant to S3's logging service: logging may be switched on once it is in place. */
    readonly policy: aws.s3.BucketPolicy;

    constructor(name: string, args: AccessLogBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:backup:AccessLogBucket", name, {}, opts);
        const child = { parent: this };
        this.bucket = new aws.s3.Bucket(name, { bucketPrefix: args.bucketPrefix, forceDestroy: false, tags: args.tags }, { ...child, retainOnDelete: true, protect: true });
        const bucket = this.bucket.id;
        new aws.s3.BucketOwnershipControls(`${name}-ownership`, { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
        const block = new aws.s3.BucketPublicAccessBlock(`${name}-public-access`, { bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true }, child);
        const account = aws.getCallerIdentityOutput({}, child).accountId;
        this.policy = new aws.s3.BucketPolicy(
            `${name}-policy`,
            { bucket, policy: pulumi.all([this.bucket.arn, args.sourceBucketArn, account]).apply(([l, s, a]) => accessLogPolicy(l, s, a)) },
            { ...child, dependsOn: [block] },
        );
        const versioning = new aws.s3.BucketVersioning(`${name}-versioning`, { bucket, versioningConfiguration: { status: "Enabled" } }, child);
        new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-encryption`, { bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] }, child);
        new aws.s3.BucketLifecycleConfiguration(
            `${name}-lifecycle`,
            {
                bucket,
                rules: [
                    { id: "expire-access-logs", status: "Enabled", filter: { prefix: "" }, expiration: { days: args.days }, noncurrentVersionExpiration: { noncurrentDays: 7 } },
                    { id: "abort-incomplete-uploads", status: "Enabled", filter: { prefix: "" }, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } },
                ],
            },
            { ...child, dependsOn: [versioning] },
        );
        this.registerOutputs({ bucket: this.bucket.bucket });
    }
}
