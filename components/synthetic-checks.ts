/**
 * CloudWatch Synthetics canaries that run synthetics/checks.js from outside: a page's theme
 * markers and critical paths, through the same front door clients use. One canary per check, a
 * private, encrypted, TLS-only bucket for their code and run artifacts (screenshots, logs), which
 * expire, and a role that may write there, log, and publish the canaries' metrics, nothing else.
 * Each canary publishes SuccessPercent in the CloudWatchSynthetics namespace (dimension
 * CanaryName): the caller alarms on it (canaryMetric).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { AWS_LIMITS } from "./aws-limits";
import { tlsOnlyPolicy } from "./bucket-policies";
import { assumedBy } from "./iam";
import { projectRoot } from "./project-root";

/** What one canary checks (components/synthetics/checks.js reads it as CHECKS). */
export interface SyntheticCheck {
    /** Its name after the prefix: lower-case letters, digits, hyphens. */
    id: string;
    /** Where the clients reach it, e.g. https://sofia.company.com:8080. */
    base: pulumi.Input<string>;
    /** Theme markers on a page. @default none */
    theme?: { path: string; markers: { selector: string; property: string; value: string }[] };
    /** Paths that must answer 2xx within their time. @default none */
    paths?: { path: string; maxMs: number }[];
}

export interface SyntheticChecksArgs {
    /** Canary, role and bucket names start with this (lower-case letters, digits, hyphens). */
    prefix: string;
    /** The checks, one canary each. */
    checks: SyntheticCheck[];
    /** How often each canary runs. @default rate(5 minutes) */
    schedule?: string;
    /** Days the runs' artifacts (screenshots, logs) are kept, and CloudWatch's record of them. @default 14 */
    artifactDays?: number;
    /** The Synthetics runtime (Puppeteer). @default SYNTHETICS_RUNTIME */
    runtimeVersion?: string;
    /** Tags for every taggable child. @default none */
    tags?: Record<string, string>;
}

/** The Puppeteer runtime the script is written for (Node 22); an older one cannot be updated once deprecated. */
export const SYNTHETICS_RUNTIME = "syn-nodejs-puppeteer-15.0";
/** Where the runtime's Node loads a canary's own modules from, inside its zip. */
const CODE_PATH = "nodejs/node_modules/checks.js";
// From the project root: the program may run from a build of itself elsewhere.
const SCRIPT = path.join(projectRoot(), "components", "synthetics", "checks.js");

/** The metric a canary's alarm reads: the share of its runs that passed. */
export function canaryMetric(canaryName: string): { namespace: string; name: string; dimensions: Record<string, string> } {
    return { namespace: "CloudWatchSynthetics", name: "SuccessPercent", dimensions: { CanaryName: canaryName } };
}

/**
 * A canary's name: lower-case letters, digits, hyphens and underscores. At most 21 of them: the
 * canary runs as a Lambda function named cwsyn-<name>-<36-character id>, and a function's name
 * has 64 characters at most (the API's own limit of 255 came later and cannot lift that one).
 */
export function canaryName(prefix: string, id: string): string {
    const name = `${prefix}-${id}`;
    const max = AWS_LIMITS.canaryNameChars.max;
    if (!/^[a-z0-9_-]+$/.test(name) || name.length > max) throw new Error(`SyntheticChecksArgs: canary name "${name}" must be 1 to ${max} lower-case letters, digits, hyphens or underscores (its Lambda function's name is cwsyn-<name>-<id>, 64 characters at most)`);
    return name;
}

export class SyntheticChecks extends pulumi.ComponentResource {
    readonly canaries: aws.synthetics.Canary[] = [];
    readonly bucket: aws.s3.Bucket;

    constructor(name: string, args: SyntheticChecksArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:monitoring:SyntheticChecks", name, {}, opts);
        const names = args.checks.map((c) => canaryName(args.prefix, c.id));
        const days = args.artifactDays ?? 14;
        const child = { parent: this };
        const tags = args.tags;

        this.bucket = new aws.s3.Bucket(`${name}-artifacts`, { bucketPrefix: `${args.prefix}-synthetics-`, forceDestroy: true, tags }, child);
        const bucket = this.bucket.id;
        new aws.s3.BucketOwnershipControls(`${name}-artifacts-ownership`, { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
        const block = new aws.s3.BucketPublicAccessBlock(`${name}-artifacts-public-access`, { bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true }, child);
        new aws.s3.BucketPolicy(`${name}-artifacts-tls-only`, { bucket, policy: this.bucket.arn.apply(tlsOnlyPolicy) }, { ...child, dependsOn: [block] });
        const versioning = new aws.s3.BucketVersioning(`${name}-artifacts-versioning`, { bucket, versioningConfiguration: { status: "Enabled" } }, child);
        new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-artifacts-encryption`, { bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] }, child);
        new aws.s3.BucketLifecycleConfiguration(
            `${name}-artifacts-lifecycle`,
            { bucket, rules: [{ id: "expire-runs", status: "Enabled", filter: { prefix: "runs/" }, expiration: { days }, noncurrentVersionExpiration: { noncurrentDays: 1 } }, { id: "expire-old-code", status: "Enabled", filter: { prefix: "code/" }, noncurrentVersionExpiration: { noncurrentDays: 7 } }] },
            { ...child, dependsOn: [versioning] },
        );

        // The script as it is, zipped where the runtime looks; its digest in the key, so a new script is a new object.
        const script = fs.readFileSync(SCRIPT);
        const digest = crypto.createHash("sha256").update(script).digest("hex").slice(0, 12);
        const code = new aws.s3.BucketObjectv2(
            `${name}-code`,
            { bucket, key: `code/checks-${digest}.zip`, source: new pulumi.asset.AssetArchive({ [CODE_PATH]: new pulumi.asset.FileAsset(SCRIPT) }), tags },
            { ...child, dependsOn: [versioning] },
        );

        const role = new aws.iam.Role(`${name}-role`, { description: "Synthetic checks: write their artifacts, log, publish their metrics", assumeRolePolicy: assumedBy("lambda.amazonaws.com"), tags }, child);
        new aws.iam.RolePolicy(`${name}-role-policy`, { role: role.id, policy: this.bucket.arn.apply((arn) => canaryPolicy(arn, names)) }, { parent: role });

        for (const [i, check] of args.checks.entries()) {
            this.canaries.push(
                new aws.synthetics.Canary(
                    `${name}-${check.id}`,
                    {
                        name: names[i],
                        executionRoleArn: role.arn,
                        runtimeVersion: args.runtimeVersion ?? SYNTHETICS_RUNTIME,
                        handler: "checks.handler",
                        s3Bucket: bucket,
                        s3Key: code.key,
                        s3Version: code.versionId,
                        artifactS3Location: pulumi.interpolate`s3://${bucket}/runs/${names[i]}/`,
                        schedule: { expression: args.schedule ?? "rate(5 minutes)" },
                        runConfig: { timeoutInSeconds: 120, environmentVariables: { CHECKS: pulumi.output([{ ...check }]).apply((c) => JSON.stringify(c.map(({ id: _id, ...rest }) => rest))) } },
                        successRetentionPeriod: days,
                        failureRetentionPeriod: days,
                        startCanary: true,
                        deleteLambda: true,
                        tags,
                    },
                    { ...child, dependsOn: [code] },
                ),
            );
        }
        this.registerOutputs({ canaries: names, bucket: this.bucket.id });
    }
}

/**
 * What the canaries may do: write their artifacts under runs/ and read their code, log to their
 * own Lambda log groups, and publish metrics to CloudWatchSynthetics only.
 */
export function canaryPolicy(bucketArn: string, canaries: string[]): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            { Sid: "Artifacts", Effect: "Allow", Action: ["s3:PutObject", "s3:GetObject"], Resource: [`${bucketArn}/runs/*`, `${bucketArn}/code/*`] },
            { Sid: "ArtifactsBucket", Effect: "Allow", Action: ["s3:GetBucketLocation"], Resource: [bucketArn] },
            // Synthetics looks the bucket up by listing: no resource narrower than all buckets exists for it.
            { Sid: "FindTheBucket", Effect: "Allow", Action: ["s3:ListAllMyBuckets"], Resource: "*" },
            {
                Sid: "OwnLogs",
                Effect: "Allow",
                Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                Resource: canaries.map((c) => `arn:aws:logs:*:*:log-group:/aws/lambda/cwsyn-${c}-*`),
            },
            { Sid: "OwnMetrics", Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*", Condition: { StringEquals: { "cloudwatch:namespace": "CloudWatchSynthetics" } } },
        ],
    });
}
