import { beforeAll, describe, expect, it } from "vitest";
import { validateBackupBucketArgs } from "../components/backup-bucket";
import { tlsOnlyPolicy } from "../components/bucket-policies";
import { backupPrefixPolicy } from "../components/host";
import type { Plan } from "../plan/offline";
import { backupEnv, backupItems } from "../topology/host/backups";
import { sofiaCatalog } from "../model/catalog";
import { installedFiles, ofType, one, planStack } from "./helpers/plan";

/** The plan without the synthetic checks' bucket: what the backup bucket tests look at. */
const backupsOf = (plan: Plan): Plan => ({ ...plan, resources: plan.resources.filter((r) => !r.urn.includes("SyntheticChecks")) });

/** The plan without the access-log bucket's resources: what the backup bucket itself is made of. */
const withoutAccessLogs = (p: Plan): Plan => ({ ...p, resources: p.resources.filter((r) => !r.name.startsWith("sofia-backups-access-logs")) });

describe("the backup bucket in the plan", () => {
    let staging: Plan;
    let prod: Plan;
    let full: Plan;
    beforeAll(async () => {
        full = await planStack("staging");
        staging = withoutAccessLogs(full);
        prod = withoutAccessLogs(await planStack("prod"));
    });

    it("logs every request to it (S3 server access logs) into a bucket only S3's logging service may write, for it alone", () => {
        const logging = one(full, "aws:s3/bucketLogging:BucketLogging");
        const buckets = ofType(full, "aws:s3/bucket:Bucket");
        expect(buckets.map((b) => b.inputs.bucketPrefix).sort()).toEqual(["sofia-backups-", "sofia-backups-logs-"]);
        expect(logging.inputs).toMatchObject({ targetPrefix: "s3-access/", targetObjectKeyFormat: { partitionedPrefix: { partitionDateSource: "EventTime" } } });
        expect(String(logging.inputs.targetBucket)).toMatch(/^sofia-backups-logs-/);
        expect(String(logging.inputs.bucket)).toMatch(/^sofia-backups-[0-9a-f]+$/);
        const logBucket = buckets.find((b) => b.inputs.bucketPrefix === "sofia-backups-logs-")!;
        expect(logBucket.options).toMatchObject({ protect: true, retainOnDelete: true });
        const policy = JSON.parse(full.resources.find((r) => r.name === "sofia-backups-access-logs-policy")!.inputs.policy as string);
        const grant = policy.Statement.find((s: { Sid: string }) => s.Sid === "S3ServerAccessLogsFromTheBackupBucket");
        expect(grant).toMatchObject({ Effect: "Allow", Principal: { Service: "logging.s3.amazonaws.com" }, Action: "s3:PutObject", Condition: { ArnLike: { "aws:SourceArn": expect.stringMatching(/^arn:aws:s3:::sofia-backups-[0-9a-f]+$/) }, StringEquals: { "aws:SourceAccount": expect.stringMatching(/^\d{12}$/) } } });
        expect(grant.Resource).toMatch(/^arn:aws:s3:::sofia-backups-logs-[0-9a-f]+\/s3-access\/\*$/);
        // Server access logs cannot be delivered to a KMS-encrypted bucket: SSE-S3 there, whatever the backups use.
        expect(full.resources.find((r) => r.name === "sofia-backups-access-logs-encryption")!.inputs.rules).toEqual([{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]);
        expect(() => validateBackupBucketArgs({ bucketPrefix: "sofia-backups-", retention: [{ prefix: "s/full", days: 30 }], accessLogDays: 0 })).toThrow(/accessLogDays: 0 must be a whole number of days >= 1/);
    });

    it("is versioned, encrypted, private, owner-enforced and kept when the stack is destroyed", () => {
        const bucket = one(staging, "aws:s3/bucket:Bucket");
        expect(bucket.options.retainOnDelete).toBe(true);
        expect(bucket.inputs.forceDestroy).toBe(false);
        expect(one(staging, "aws:s3/bucketVersioning:BucketVersioning").inputs.versioningConfiguration).toEqual({ status: "Enabled" });
        expect(one(staging, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs.rules).toEqual([{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]);
        expect(one(staging, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs).toMatchObject({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
        expect(one(staging, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs.rule).toEqual({ objectOwnership: "BucketOwnerEnforced" });
    });

    it("denies every request not made over TLS", () => {
        const policy = JSON.parse(one(staging, "aws:s3/bucketPolicy:BucketPolicy").inputs.policy as string);
        const arn = policy.Statement[0].Resource[0] as string;
        expect(arn).toMatch(/^arn:aws:s3:::sofia-backups-[0-9a-f]+$/);
        expect(policy).toEqual(JSON.parse(tlsOnlyPolicy(arn)));
        expect(policy.Statement[0]).toMatchObject({ Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [arn, `${arn}/*`], Condition: { Bool: { "aws:SecureTransport": "false" } } });
    });

    it("expires each kind of backup after its retention (full: the stack's setting, Redis-only: shorter), old versions and abandoned uploads after 7 days", () => {
        const rules = one(staging, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs.rules as any[];
        expect(rules[0]).toMatchObject({ id: "expire-staging-full", filter: { prefix: "staging/full/" }, expiration: { days: 14 }, noncurrentVersionExpiration: { noncurrentDays: 7 } });
        expect(rules[1]).toMatchObject({ id: "expire-staging-redis", filter: { prefix: "staging/redis/" }, expiration: { days: 7 } });
        // The diagnostics bundles alarms collect, beside the backups (topology/host/diagnostics.ts).
        expect(rules[2]).toMatchObject({ id: "expire-staging-diagnostics", filter: { prefix: "staging/diagnostics/" }, expiration: { days: 30 } });
        expect(rules[3]).toMatchObject({ abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } });
        const prodRules = one(backupsOf(prod), "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs.rules as any[];
        expect(prodRules.map((r) => [r.filter.prefix, r.expiration?.days])).toEqual([["prod/full/", 30], ["prod/redis/", 7], ["prod/diagnostics/", 30], ["", undefined]]);
    });

    it("locks objects in prod (governance, retention = backup retention), not in staging", () => {
        expect(ofType(staging, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")).toEqual([]);
        expect(one(backupsOf(prod), "aws:s3/bucket:Bucket").inputs.objectLockEnabled).toBe(true);
        expect(one(prod, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs.rule).toEqual({ defaultRetention: { mode: "GOVERNANCE", days: 30 } });
    });

    it("uses the KMS key when one is set, and lets the host's role use it", async () => {
        const key = "arn:aws:kms:eu-central-1:123456789012:key/0b7f1c2d-aaaa-bbbb-cccc-1234567890ab";
        const plan = withoutAccessLogs(await planStack("staging", [`backup.kmsKeyArn=${key}`]));
        expect(one(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs.rules).toEqual([{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key }, bucketKeyEnabled: true }]);
        const role = JSON.parse(ofType(plan, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name === "sofia-host-backups")!.inputs.policy as string);
        expect(role.Statement.at(-1)).toEqual({ Sid: "UseBackupKey", Effect: "Allow", Action: ["kms:GenerateDataKey", "kms:Decrypt"], Resource: [key] });
    });

    it("gives the host's role its own stack's prefix of this bucket, and no delete", () => {
        const role = JSON.parse(ofType(staging, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name === "sofia-host-backups")!.inputs.policy as string);
        const bucketArn = JSON.parse(one(staging, "aws:s3/bucketPolicy:BucketPolicy").inputs.policy as string).Statement[0].Resource[0];
        expect(role).toEqual(JSON.parse(backupPrefixPolicy(bucketArn, "staging")));
        expect(role.Statement[1].Resource).toEqual([`${bucketArn}/staging/*`]);
        expect(JSON.stringify(role)).not.toContain("Delete");
    });

    it("schedules the full backup from the settings, only at the schedule, waiting for a running operation", () => {
        const backup = ofType(staging, "aws:ssm/association:Association").find((a) => a.name === "sofia-backup-backup")!;
        expect(backup.inputs).toMatchObject({ scheduleExpression: "cron(0 1 * * ? *)", applyOnlyAtCronInterval: true, parameters: { commands: "/usr/local/sbin/sofia-backup run --wait 3600" } });
        expect(ofType(staging, "aws:scheduler/schedule:Schedule")).toEqual([]);
    });

    it("takes prod's Redis off the host every 15 minutes (EventBridge Scheduler: associations run at most every 30), alarmed an hour late", () => {
        const schedule = one(prod, "aws:scheduler/schedule:Schedule");
        expect(schedule.inputs).toMatchObject({ name: "sofia-prod-backup-redis", scheduleExpression: "rate(15 minutes)", scheduleExpressionTimezone: "UTC", flexibleTimeWindow: { mode: "OFF" } });
        const target = schedule.inputs.target as any;
        expect(target.arn).toBe("arn:aws:scheduler:::aws-sdk:ssm:sendCommand");
        const input = JSON.parse(target.input);
        expect(input).toMatchObject({ DocumentName: "AWS-RunShellScript", InstanceIds: [expect.stringMatching(/^i-/)], Parameters: { commands: ["/usr/local/sbin/sofia-backup run --only redis --wait 600"] } });
        // Its role may send that one document to that one instance, nothing else.
        const policy = JSON.parse(ofType(prod, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name === "sofia-backup-redis-schedule-policy")!.inputs.policy as string);
        expect(policy.Statement).toEqual([{ Sid: "SendTheBackup", Effect: "Allow", Action: ["ssm:SendCommand"], Resource: [expect.stringMatching(new RegExp(`:instance/${input.InstanceIds[0]}$`)), "arn:aws:ssm:eu-central-1::document/AWS-RunShellScript"] }]);
        const age = ofType(prod, "aws:cloudwatch/metricAlarm:MetricAlarm").find((a) => a.inputs.name === "sofia-prod-backup-age-redis")!;
        expect(age.inputs).toMatchObject({ metricName: "BackupAgeHours", dimensions: { Stack: "prod", Kind: "redis" }, threshold: 1, period: 900, treatMissingData: "breaching" });
    });

    it("alarms when no good backup completed within the schedule plus margin, and when a run fails", async () => {
        const alarms = ofType(staging, "aws:cloudwatch/metricAlarm:MetricAlarm");
        const age = alarms.find((a) => a.inputs.metricName === "BackupAgeHours")!;
        expect(age.inputs).toMatchObject({ namespace: "Sofia/staging", dimensions: { Stack: "staging", Kind: "full" }, statistic: "Maximum", threshold: 26, comparisonOperator: "GreaterThanOrEqualToThreshold", treatMissingData: "breaching" });
        const failed = alarms.find((a) => a.inputs.metricName === "BackupSuccess")!;
        // It stays in ALARM until a good backup of its kind publishes 1.
        expect(failed.inputs).toMatchObject({ dimensions: { Stack: "staging", Kind: "full" }, statistic: "Minimum", threshold: 1, comparisonOperator: "LessThanThreshold", treatMissingData: "ignore" });
        const tighter = await planStack("staging", ["alarms.backupMaxAgeHours=8"]);
        expect(ofType(tighter, "aws:cloudwatch/metricAlarm:MetricAlarm").find((a) => a.inputs.metricName === "BackupAgeHours")!.inputs.threshold).toBe(8);
    });

    it("installs the backup job with its configuration, item list and release on the host", () => {
        const files = installedFiles(staging);
        for (const path of ["/usr/local/sbin/sofia-backup", "/etc/sofia/backup.env", "/etc/sofia/backup.tsv", "/etc/sofia/release.json", "/etc/systemd/system/sofia-backup-age.timer"]) expect(files.map((f) => f.path)).toContain(path);
        const env = files.find((f) => f.path === "/etc/sofia/backup.env")!.content;
        expect(env).toMatch(/BACKUP_BUCKET='sofia-backups-[0-9a-f]+'/);
        expect(env).toContain("BACKUP_PREFIX='staging'");
    });
});

describe("backup configuration from the catalog", () => {
    it("lists Redis, QuestDB, the models and UI extensions volumes, and the host config", () => {
        const rows = backupItems(sofiaCatalog("questdb"), "/data").split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split("\t"));
        expect(rows).toEqual([
            ["redis", "redis", "127.0.0.1:6379", "sofia-redis:/run/secrets/redis-password", "/data/docker/volumes/sofia-redis-data/_data", "-"],
            ["questdb", "questdb", "http://127.0.0.1:9000", "/data/docker/volumes/sofia-questdb-data/_data", "/data/docker/volumes/sofia-questdb-data/_data", "-"],
            ["models", "files", "/data/docker/volumes/sofia-models/_data", "-", "/data/docker/volumes/sofia-models/_data", "-"],
            ["ui-extensions", "files", "/data/docker/volumes/sofia-ui-extensions/_data", "-", "/data/docker/volumes/sofia-ui-extensions/_data", "-"],
            ["config", "files", "/etc/sofia", "-", "-", "-"],
        ]);
        // A shared file system's volume: read and restored there, every file given to its owner.
        const shared = backupItems(sofiaCatalog("questdb"), "/data", { shared: [{ name: "models", source: "/mnt/efs/models", owner: "1000:1000" }] });
        expect(shared).toContain("models\tfiles\t/mnt/efs/models\t-\t/mnt/efs/models\t1000:1000\n");
        // The ECS cache: first, as the Redis item, never put back by sofia-restore.
        const ecsRows = backupItems([], "/data", { cache: true }).split("\n").filter((l) => l && !l.startsWith("#"));
        expect(ecsRows[0]).toBe("redis\tcache\t-\t-\t-\t-");
        expect(backupItems(sofiaCatalog("timescaledb"), "/data")).toContain("timescaledb\tpg-dump\tsofia-timescaledb");
    });

    it("refuses configuration values that would break the shell file", () => {
        const t = { bucket: "b'x", prefix: "p", region: "r", stack: "s", kms: false, redisImage: "redis:7", redisScheduled: false };
        expect(() => backupEnv(t)).toThrow(/BACKUP_BUCKET cannot contain quotes/);
        expect(backupEnv({ ...t, bucket: "b" })).toContain("SSE='AES256'");
        expect(backupEnv({ ...t, bucket: "b", kms: true })).toContain("SSE='aws:kms'");
    });

    it("validates the bucket's arguments", () => {
        expect(() => validateBackupBucketArgs({ bucketPrefix: "sofia-backups-", retention: [{ prefix: "p/full", days: 0 }] })).toThrow(/0 days for "p\/full"/);
        expect(() => validateBackupBucketArgs({ bucketPrefix: "sofia-backups-", retention: [{ prefix: "/p/", days: 30 }] })).toThrow(/"\/p\/" must be a key prefix/);
        expect(() => validateBackupBucketArgs({ bucketPrefix: "sofia-backups-", retention: [{ prefix: "p", days: 30 }, { prefix: "p/redis", days: 7 }] })).toThrow(/the prefixes p\/ contain others/);
        expect(() => validateBackupBucketArgs({ bucketPrefix: "sofia-backups-", retention: [] })).toThrow(/at least one prefix/);
        expect(() => validateBackupBucketArgs({ bucketPrefix: "Sofia_Backups-", retention: [{ prefix: "p/full", days: 30 }] })).toThrow(/bucketPrefix: "Sofia_Backups-" must be lower-case/);
        expect(() => validateBackupBucketArgs({ bucketPrefix: `${"a".repeat(33)}`, retention: [{ prefix: "p/full", days: 30 }] })).toThrow(/at most 32 characters/);
        expect(() => validateBackupBucketArgs({ bucketPrefix: "sofia-backups-", retention: [{ prefix: "p/full", days: 30 }], kmsKeyArn: "alias/x" })).toThrow(/kmsKeyArn/);
    });
});
