import { describe, expect, it } from "vitest";
import { PolicyConfig, policyConfig, scheduleDay } from "../policies/config";
import { evaluate } from "../policies/evaluate";
import { policies } from "../policies/rules";
import { topicPolicyDocument } from "../components/escalation";
import { OFFLINE_ACCOUNT } from "../plan/mocks";
import { PlannedResource, RecordedOptions } from "../plan/offline";
import { planStack } from "./helpers/plan";
import { stackSettings } from "../plan/stack-config";

let n = 0;
/** A hand-built resource as the plan records it. */
function res(type: string, inputs: Record<string, unknown>, options: RecordedOptions = {}, parent?: string): PlannedResource {
    const name = `r${++n}`;
    return { urn: `urn:pulumi:t::sofia::${type}::${name}`, type, name, parent, dependsOn: [], options, inputs, custom: true };
}

const T = {
    instance: "aws:ec2/instance:Instance",
    volume: "aws:ebs/volume:Volume",
    ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    bucket: "aws:s3/bucket:Bucket",
    versioning: "aws:s3/bucketVersioning:BucketVersioning",
    sse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    pab: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
    lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    container: "docker:index/container:Container",
    image: "docker:index/remoteImage:RemoteImage",
    alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
    composite: "aws:cloudwatch/compositeAlarm:CompositeAlarm",
    logGroup: "aws:cloudwatch/logGroup:LogGroup",
    window: "aws:ssm/maintenanceWindow:MaintenanceWindow",
    association: "aws:ssm/association:Association",
    document: "aws:ssm/document:Document",
    role: "aws:iam/role:Role",
    dashboard: "aws:cloudwatch/dashboard:Dashboard",
    task: "aws:ssm/maintenanceWindowTask:MaintenanceWindowTask",
    topic: "aws:sns/topic:Topic",
    topicPolicy: "aws:sns/topicPolicy:TopicPolicy",
    eventTarget: "aws:cloudwatch/eventTarget:EventTarget",
};

// The paging path: an on-call topic, a composite that pages it, a rule that targets it.
const ACCOUNT = "123456789012";
const TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT}:sofia-t-level2-oncall`;
const pageAlarm = () => res(T.composite, { alarmName: "sofia-t-x-page", alarmRule: 'ALARM("sofia-t-x")', alarmActions: [TOPIC], okActions: [TOPIC] });
const failureTarget = () => res(T.eventTarget, { rule: "sofia-t-maintenance-task-failed", arn: TOPIC });
const ourTopicPolicy = () =>
    res(T.topicPolicy, {
        arn: TOPIC,
        policy: topicPolicyDocument(TOPIC, ACCOUNT, { alarms: [`arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:sofia-t-x-page`], rules: [`arn:aws:events:eu-west-1:${ACCOUNT}:rule/sofia-t-maintenance-task-failed`] }),
    });
/** The policy the maintenance windows used to put on the on-call topic: EventBridge alone. */
const eventsOnlyPolicy = () =>
    res(T.topicPolicy, {
        arn: TOPIC,
        policy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Sid: "MaintenanceFailures", Effect: "Allow", Principal: { Service: "events.amazonaws.com" }, Action: "sns:Publish", Resource: TOPIC, Condition: { ArnEquals: { "aws:SourceArn": `arn:aws:events:eu-west-1:${ACCOUNT}:rule/sofia-t-maintenance-task-failed` } } }],
        }),
    });

const goodInstance = { metadataOptions: { httpTokens: "required" }, monitoring: true, rootBlockDevice: { encrypted: true } };
const goodContainer = {
    name: "sofia-api", healthcheck: { tests: ["CMD", "true"] }, restart: "on-failure", memory: 512, privileged: false,
    logDriver: "awslogs", logOpts: { "cache-max-size": "50m", "cache-max-file": "5" }, ports: [{ internal: 8013, ip: "0.0.0.0" }], envs: ["REDIS_PASSWORD_FILE=/run/secrets/redis-password", "WORKERS=4"],
};
/** A deploy's migration container: runs once to its exit (attach), no health check, no restarts. */
const oneShot = { ...goodContainer, name: "sofia-api-migrate", healthcheck: undefined, restart: "no", attach: true, ports: [] };
/** A front proxy forwarding port 8013 (listen as given), and answering ACME challenges on port 80. */
const proxyWith = (listen: string) => ({
    ...goodContainer,
    name: "sofia-proxy",
    uploads: [{ file: "/etc/nginx/nginx.conf", content: `http {\n    server {\n        listen ${listen};\n        location / { proxy_pass http://sofia-api:8013; }\n    }\n    server {\n        listen 80;\n        location / { return 404; }\n    }\n}\n` }],
});
const tlsPolicy = JSON.stringify({ Statement: [{ Effect: "Deny", Action: "s3:*", Condition: { Bool: { "aws:SecureTransport": "false" } } }] });

/** A bucket and its children in one component, each child replaceable. */
function bucketSet(over: Partial<Record<"versioning" | "sse" | "pab" | "bucketPolicy" | "lifecycle", Record<string, unknown> | null>> = {}, component = "sofia:backup:BackupBucket", logged = false): PlannedResource[] {
    const parent = `urn:pulumi:t::sofia::${component}::b${++n}`;
    const children: [keyof typeof over, string, Record<string, unknown>][] = [
        ["versioning", T.versioning, { versioningConfiguration: { status: "Enabled" } }],
        ["sse", T.sse, { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] }],
        ["pab", T.pab, { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true }],
        ["bucketPolicy", T.bucketPolicy, { policy: tlsPolicy }],
        ["lifecycle", T.lifecycle, { rules: [{ id: "expire", expiration: { days: 30 } }] }],
    ];
    return [
        res(T.bucket, { bucketPrefix: "sofia-backups-" }, {}, parent),
        ...children.filter(([k]) => over[k] !== null).map(([k, type, inputs]) => res(type, over[k] ?? inputs, {}, parent)),
        ...(logged ? [res("aws:s3/bucketLogging:BucketLogging", { bucket: "b", targetBucket: "logs", targetPrefix: "s3-access/" }, {}, parent)] : []),
    ];
}

async function violated(resources: PlannedResource[], config: PolicyConfig = {}): Promise<string[]> {
    return [...new Set((await evaluate(policies, resources, config)).map((v) => v.policy))].sort();
}

const cases: [string, PlannedResource[], PlannedResource[], PolicyConfig?][] = [
    ["ec2-imdsv2-required", [res(T.instance, goodInstance)], [res(T.instance, { ...goodInstance, metadataOptions: { httpTokens: "optional" } })]],
    ["ec2-detailed-monitoring", [res(T.instance, goodInstance)], [res(T.instance, { ...goodInstance, monitoring: false })]],
    ["ebs-encrypted", [res(T.volume, { encrypted: true })], [res(T.volume, { encrypted: false })]],
    ["data-protected", [res(T.volume, { encrypted: true }, { protect: true })], [res(T.volume, { encrypted: true })]],
    // The backup bucket must be protected; a bucket of canary artifacts need not be.
    [
        "data-protected",
        [{ ...res(T.bucket, {}, { protect: true }), urn: "urn:pulumi:t::sofia::sofia:backup:BackupBucket$aws:s3/bucket:Bucket::b1" }, { ...res(T.bucket, {}), urn: "urn:pulumi:t::sofia::sofia:monitoring:SyntheticChecks$aws:s3/bucket:Bucket::a1" }],
        [{ ...res(T.bucket, {}), urn: "urn:pulumi:t::sofia::sofia:backup:BackupBucket$aws:s3/bucket:Bucket::b2" }],
    ],
    ["sg-no-world-admin-or-data-ports", [res(T.ingress, { ipProtocol: "tcp", fromPort: 8013, toPort: 8013, cidrIpv4: "0.0.0.0/0", description: "api" })], [res(T.ingress, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv4: "0.0.0.0/0", description: "redis" })]],
    // Half the internet is as open as all of it.
    ["sg-no-world-admin-or-data-ports", [res(T.ingress, { ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "203.0.113.0/24", description: "ssh" })], [res(T.ingress, { ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "128.0.0.0/1", description: "ssh" })]],
    // Grafana's port: an operators' network passes, the internet does not.
    ["sg-no-world-admin-or-data-ports", [res(T.ingress, { ipProtocol: "tcp", fromPort: 3000, toPort: 3000, cidrIpv4: "192.0.2.0/24", description: "grafana" })], [res(T.ingress, { ipProtocol: "tcp", fromPort: 3000, toPort: 3000, cidrIpv6: "::/0", description: "grafana" })]],
    [
        "client-ports-tls-when-public",
        [res(T.container, proxyWith("8013 ssl")), res(T.ingress, { ipProtocol: "tcp", fromPort: 8013, toPort: 8013, cidrIpv4: "0.0.0.0/0", description: "api" }), res(T.ingress, { ipProtocol: "tcp", fromPort: 80, toPort: 80, cidrIpv4: "0.0.0.0/0", description: "acme" })],
        [res(T.container, proxyWith("8013")), res(T.ingress, { ipProtocol: "tcp", fromPort: 8000, toPort: 8100, cidrIpv4: "198.51.100.0/24", description: "api" })],
    ],
    // Plain HTTP to private addresses only is allowed.
    ["client-ports-tls-when-public", [res(T.container, proxyWith("8013")), res(T.ingress, { ipProtocol: "tcp", fromPort: 8013, toPort: 8013, cidrIpv4: "10.0.0.0/8", description: "api" })], [res(T.container, proxyWith("8013")), res(T.ingress, { ipProtocol: "tcp", fromPort: 8013, toPort: 8013, cidrIpv6: "::/0", description: "api" })]],
    ["sg-rules-described", [res(T.egress, { ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "out" })], [res(T.egress, { ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" })]],
    [
        "iam-metrics-own-namespace",
        [res(T.rolePolicy, { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*", Condition: { StringEquals: { "cloudwatch:namespace": "Sofia/prod" } } }] }) })],
        [res(T.rolePolicy, { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*" }] }) })],
    ],
    ["iam-metrics-own-namespace", [res(T.rolePolicy, { policy: JSON.stringify({ Statement: [] }) })], [res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", { policyArn: "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy" })]],
    ["iam-no-star-on-star", [res(T.rolePolicy, { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }] }) })], [res(T.rolePolicy, { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] }) })]],
    [
        "iam-host-role-own-prefix",
        [res(T.rolePolicy, { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::b/staging/*"] }] }) })],
        [res(T.rolePolicy, { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::b/*"] }] }) })],
        { "iam-host-role-own-prefix": { prefix: "staging" } },
    ],
    // Another bucket's objects and the account's bucket list are not the backups; an object action on "*" reaches them.
    [
        "iam-host-role-own-prefix",
        [res(T.rolePolicy, { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::sofia-staging-synthetics-1/runs/*"] }, { Effect: "Allow", Action: ["s3:ListAllMyBuckets"], Resource: "*" }] }) })],
        [res(T.rolePolicy, { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: ["s3:GetObject"], Resource: "*" }, { Effect: "Allow", Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::sofia-backups-1/prod/*"] }] }) })],
        { "iam-host-role-own-prefix": { prefix: "staging", buckets: "sofia-backups-" } },
    ],
    ["s3-versioning", bucketSet(), bucketSet({ versioning: { versioningConfiguration: { status: "Suspended" } } })],
    ["s3-encryption", bucketSet(), bucketSet({ sse: null })],
    ["s3-public-access-blocked", bucketSet(), bucketSet({ pab: { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: false } })],
    ["s3-tls-only", bucketSet(), bucketSet({ bucketPolicy: { policy: JSON.stringify({ Statement: [] }) } })],
    ["s3-backup-reads-logged", [...bucketSet({}, "sofia:backup:BackupBucket", true)], [...bucketSet({}, "sofia:backup:BackupBucket")]],
    ["s3-lifecycle-expiration", bucketSet(), bucketSet({ lifecycle: { rules: [{ id: "x", abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } }] } })],
    [
        "s3-retention-covers-backups",
        [res(T.lifecycle, { rules: [{ id: "f", filter: { prefix: "s/full/" }, expiration: { days: 30 } }, { id: "r", filter: { prefix: "s/redis/" }, expiration: { days: 7 } }] })],
        [res(T.lifecycle, { rules: [{ id: "f", filter: { prefix: "s/full/" }, expiration: { days: 7 } }, { id: "r", filter: { prefix: "s/redis/" }, expiration: { days: 7 } }] })],
        { "s3-retention-covers-backups": { retention: { "s/full/": 14, "s/redis/": 7 } } },
    ],
    [
        "s3-prod-backups-kept",
        [res(T.lifecycle, { rules: [{ id: "f", filter: { prefix: "p/full/" }, expiration: { days: 30 } }] }), res("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", { rule: { defaultRetention: { mode: "GOVERNANCE", days: 30 } } })],
        [res(T.lifecycle, { rules: [{ id: "f", filter: { prefix: "p/full/" }, expiration: { days: 1 } }] }), res("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", { rule: { defaultRetention: { mode: "GOVERNANCE", days: 30 } } })],
        { "s3-prod-backups-kept": { minimumDays: 30, objectLock: true } },
    ],
    // Settings that agree with themselves still fail the floor: no lock at all.
    ["s3-prod-backups-kept", [res("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", { rule: { defaultRetention: { mode: "COMPLIANCE", days: 30 } } })], [res(T.lifecycle, { rules: [{ id: "f", filter: { prefix: "p/full/" }, expiration: { days: 30 } }] })], { "s3-prod-backups-kept": { minimumDays: 30, objectLock: true } }],
    ["container-health-check", [res(T.container, goodContainer), res(T.container, { ...oneShot, healthcheck: undefined })], [res(T.container, { ...goodContainer, healthcheck: undefined })]],
    ["container-restart-policy", [res(T.container, goodContainer), res(T.container, oneShot)], [res(T.container, { ...goodContainer, restart: "no" })]],
    ["container-log-rotation", [res(T.container, { ...goodContainer, logDriver: "json-file", logOpts: { "max-size": "50m", "max-file": "5" } })], [res(T.container, { ...goodContainer, logDriver: "json-file", logOpts: {} })]],
    ["container-memory-limit", [res(T.container, goodContainer)], [res(T.container, { ...goodContainer, memory: undefined })]],
    ["container-no-privilege", [res(T.container, goodContainer)], [res(T.container, { ...goodContainer, networkMode: "host" })]],
    ["container-image-digest", [res(T.image, { name: `a/b:1@sha256:${"a".repeat(64)}` })], [res(T.image, { name: "a/b:1" })]],
    ["container-store-ports-loopback", [res(T.container, { ...goodContainer, ports: [{ internal: 6379, ip: "127.0.0.1" }] })], [res(T.container, { ...goodContainer, ports: [{ internal: 6379, ip: "0.0.0.0" }] })]],
    [
        "container-edge-apart-from-stores",
        [res(T.container, { ...proxyWith("8013 ssl"), ports: [{ internal: 8013, ip: "10.0.0.10" }], networksAdvanced: [{ name: "sofia-net-api" }] }), res(T.container, { ...goodContainer, name: "sofia-redis", ports: [{ internal: 6379, ip: "127.0.0.1" }], networksAdvanced: [{ name: "sofia-net-redis" }] })],
        [res(T.container, { ...proxyWith("8013 ssl"), ports: [{ internal: 8013, ip: "10.0.0.10" }], networksAdvanced: [{ name: "sofia" }] }), res(T.container, { ...goodContainer, name: "sofia-redis", ports: [{ internal: 6379, ip: "127.0.0.1" }], networksAdvanced: [{ name: "sofia" }] })],
    ],
    ["container-no-plaintext-secrets", [res(T.container, { ...goodContainer, envs: "[secret]" })], [res(T.container, { ...goodContainer, envs: ["API_TOKEN=abc123"] })]],
    ["container-fixed-name-replaces-cleanly", [res(T.container, goodContainer, { deleteBeforeReplace: true })], [res(T.container, goodContainer)]],
    [
        "health-alarm-per-service",
        [res(T.container, goodContainer), res(T.alarm, { name: "h", metricName: "ServiceHealthy", dimensions: { Service: "api" }, alarmActions: ["arn:sns"] })],
        [res(T.container, goodContainer), res(T.alarm, { name: "h", metricName: "ServiceHealthy", dimensions: { Service: "ui" }, alarmActions: ["arn:sns"] })],
    ],
    [
        "alarm-has-action",
        [res(T.alarm, { name: "raw", metricName: "X" }), res(T.composite, { alarmName: "page", alarmRule: 'ALARM("raw")', alarmActions: ["arn:sns"] })],
        [res(T.alarm, { name: "raw", metricName: "X" }), res(T.composite, { alarmName: "page", alarmRule: 'ALARM("other")', alarmActions: ["arn:sns"] })],
    ],
    ["log-groups-retention", [res(T.logGroup, { name: "/x", retentionInDays: 30 })], [res(T.logGroup, { name: "/x" })]],
    ["maintenance-windows-utc-on-day", [res(T.window, { schedule: "cron(0 2 ? * SUN *)", scheduleTimezone: "UTC" })], [res(T.window, { schedule: "cron(0 2 ? * MON *)" })], { "maintenance-windows-utc-on-day": { day: "SUN" } }],
    [
        "backup-schedule-exists",
        [res(T.association, { scheduleExpression: "cron(0 1 * * ? *)", parameters: { commands: "/usr/local/sbin/sofia-backup run" } })],
        [res(T.association, { parameters: { commands: "/usr/local/sbin/sofia-backup run" } })],
    ],
    ["aws-limit-ssm-document-size", [res(T.document, { content: "x".repeat(65_536) })], [res(T.document, { content: "x".repeat(65_537) })]],
    ["aws-limit-event-pattern", [res("aws:cloudwatch/eventRule:EventRule", { eventPattern: JSON.stringify({ source: ["x".repeat(2000)] }) })], [res("aws:cloudwatch/eventRule:EventRule", { eventPattern: JSON.stringify({ source: ["x".repeat(2100)] }) })]],
    // Topology ecs.
    ["aws-limit-ecs", [res("aws:lb/targetGroup:TargetGroup", { name: "sofia-prod-api" })], [res("aws:ecs/taskDefinition:TaskDefinition", { cpu: "256", memory: "4096", containerDefinitions: "[]" })]],
    ["alb-tls-only", [res("aws:lb/listener:Listener", { port: 8013, protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" })], [res("aws:lb/listener:Listener", { port: 8013, protocol: "HTTP", defaultActions: [{ type: "forward" }] })]],
    [
        "ecs-container-hardened",
        [res("aws:ecs/taskDefinition:TaskDefinition", { containerDefinitions: JSON.stringify([{ name: "api", readonlyRootFilesystem: true, secrets: [{ name: "REDIS_PASSWORD", valueFrom: "arn:x" }] }, { name: "cloudwatch-agent", readonlyRootFilesystem: false }]) })],
        [res("aws:ecs/taskDefinition:TaskDefinition", { containerDefinitions: JSON.stringify([{ name: "api", readonlyRootFilesystem: false }]) })],
        { "ecs-container-hardened": { writableRoot: ["cloudwatch-agent"] } },
    ],
    [
        "ecs-deployments-safe",
        [res("aws:ecs/service:Service", { waitForSteadyState: true, deploymentCircuitBreaker: { enable: true, rollback: true }, desiredCount: 1, deploymentMaximumPercent: 100, deploymentMinimumHealthyPercent: 0 })],
        [res("aws:ecs/service:Service", { waitForSteadyState: true, deploymentCircuitBreaker: { enable: true, rollback: true }, desiredCount: 1, deploymentMaximumPercent: 200, deploymentMinimumHealthyPercent: 100 })],
    ],
    [
        "ecs-task-roles-least-privilege",
        [res("aws:iam/role:Role", { assumeRolePolicy: "ecs-tasks.amazonaws.com" }), res("aws:iam/rolePolicy:RolePolicy", { role: "r-other", policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] }) })],
        [{ ...res("aws:iam/role:Role", { assumeRolePolicy: "ecs-tasks.amazonaws.com" }), name: "task" }, res("aws:iam/rolePolicy:RolePolicy", { role: "task-id", policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: "logs:*", Resource: "arn:aws:logs:x" }] }) })],
    ],
    [
        "elasticache-encrypted",
        [res("aws:elasticache/replicationGroup:ReplicationGroup", { atRestEncryptionEnabled: true, transitEncryptionEnabled: true, authToken: "t", automaticFailoverEnabled: true, multiAzEnabled: true, numCacheClusters: 2 })],
        [res("aws:elasticache/replicationGroup:ReplicationGroup", { atRestEncryptionEnabled: false, transitEncryptionEnabled: true, authToken: "t", automaticFailoverEnabled: true, multiAzEnabled: true, numCacheClusters: 2 })],
    ],
    ["aws-limit-canary", [res("aws:synthetics/canary:Canary", { name: "sofia-staging-api" })], [res("aws:synthetics/canary:Canary", { name: "sofia-preproduction-api" })]],
    ["aws-limit-user-data-size", [res(T.instance, { ...goodInstance, userData: "#cloud-config\n" })], [res(T.instance, { ...goodInstance, userData: "#".repeat(16_385) })]],
    ["aws-limit-iam-policy-size", [res(T.rolePolicy, { role: "r", policy: "a".repeat(10_240) })], [res(T.rolePolicy, { role: "r", policy: "a".repeat(6_000) }), res(T.rolePolicy, { role: "r", policy: "a".repeat(4_241) })]],
    ["aws-limit-alarms", [res(T.composite, { alarmName: "p", alarmRule: 'ALARM("a")', alarmActions: ["arn:sns"] })], [res(T.composite, { alarmName: "p", alarmRule: 'ALARM("a")', alarmActions: ["arn:sns"], alarmDescription: "d".repeat(1_025) })]],
    ["aws-limit-dashboard", [res(T.dashboard, { dashboardBody: JSON.stringify({ widgets: [{ properties: { metrics: [["N", "m"]] } }] }) })], [res(T.dashboard, { dashboardBody: JSON.stringify({ widgets: [{ properties: { metrics: Array(501).fill(["N", "m"]) } }] }) })]],
    ["aws-limit-maintenance-windows", [res(T.task, { windowId: "w", description: "ok" })], [res(T.task, { windowId: "w", description: "d".repeat(129) })]],
    ["aws-limit-tags", [res(T.topic, { tags: { Project: "sofia" } })], [res(T.topic, { tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`t${i}`, "v"])) })]],
    ["alarm-topics-admit-publishers", [pageAlarm(), failureTarget(), ourTopicPolicy()], [pageAlarm(), failureTarget(), eventsOnlyPolicy()]],
    [
        "aws-limit-security-group-rules",
        Array.from({ length: 60 }, (_, i) => res(T.ingress, { securityGroupId: "sg-1", ipProtocol: "tcp", fromPort: 8013, toPort: 8013, cidrIpv4: `10.0.${i}.0/24`, description: "c" })),
        Array.from({ length: 61 }, (_, i) => res(T.ingress, { securityGroupId: "sg-1", ipProtocol: "tcp", fromPort: 8013, toPort: 8013, cidrIpv4: `10.0.${i}.0/24`, description: "c" })),
    ],
];

describe("each policy on hand-built resources", () => {
    it("covers every policy of the pack, and the pack has at least 25", () => {
        expect(policies.length).toBeGreaterThanOrEqual(25);
        expect([...new Set(cases.map((c) => c[0]))].sort()).toEqual(policies.map((p) => p.name).sort());
    });

    it("s3-retention-covers-backups: flags a kind of backup no rule expires", async () => {
        const onlyFull = [res(T.lifecycle, { rules: [{ id: "f", filter: { prefix: "s/full/" }, expiration: { days: 30 } }] })];
        const found = await evaluate(policies, onlyFull, { "s3-retention-covers-backups": { retention: { "s/full/": 30, "s/redis/": 7 } } });
        expect(found.filter((v) => v.policy === "s3-retention-covers-backups").map((v) => v.message)).toEqual(["no lifecycle rule expires s/redis/: the settings keep it 7 days, S3 would keep it forever."]);
    });

    it("container-restart-policy: flags a one-shot container that would restart", async () => {
        expect(await violated([res(T.container, { ...oneShot, restart: "on-failure" })])).toContain("container-restart-policy");
    });

    for (const [policy, good, bad, config] of cases) {
        it(`${policy}: passes what complies, flags what does not`, async () => {
            expect(await violated(good, config)).not.toContain(policy);
            expect(await violated(bad, config)).toContain(policy);
        });
    }

    it("names every policy with a description that says why and an enforcement level", () => {
        for (const p of policies) {
            expect(p.name).toMatch(/^[a-z0-9-]+$/);
            expect(p.description.length, p.name).toBeGreaterThan(40);
            expect(["advisory", "mandatory"], p.name).toContain(p.enforcementLevel);
        }
    });
});

describe("alarm-topics-admit-publishers: the paging path", () => {
    const messages = async (resources: PlannedResource[]) =>
        (await evaluate(policies, resources, {})).filter((v) => v.policy === "alarm-topics-admit-publishers").map((v) => v.message);

    it("fails the old topic policy: it admits EventBridge alone, so CloudWatch cannot page", async () => {
        expect(await messages([pageAlarm(), failureTarget(), eventsOnlyPolicy()])).toEqual([
            expect.stringMatching(/^alarm sofia-t-x-page publishes to .*sofia-t-level2-oncall, but its topic policy r\d+ refuses cloudwatch.amazonaws.com on behalf of arn:aws:cloudwatch:eu-west-1:123456789012:alarm:sofia-t-x-page/),
            // It did not pin the account either.
            expect.stringMatching(/\(MaintenanceFailures\) admits events.amazonaws.com without an aws:SourceAccount condition/),
        ]);
    });

    it("passes a policy that admits exactly the alarm and the rule, and nothing else", async () => {
        expect(await messages([pageAlarm(), failureTarget(), ourTopicPolicy()])).toEqual([]);
    });

    it("fails a rule the policy does not name, a second policy on the topic, and a topic without one", async () => {
        expect((await messages([pageAlarm(), failureTarget(), res(T.eventTarget, { rule: "other-rule", arn: TOPIC }), ourTopicPolicy()])).join("\n")).toContain("rule other-rule publishes to");
        expect((await messages([pageAlarm(), ourTopicPolicy(), eventsOnlyPolicy()])).join("\n")).toMatch(/has 2 topic policies .*SNS keeps the last one written/);
        expect((await messages([pageAlarm()])).join("\n")).toContain("has no policy of its own");
    });

    it("fails a policy that lets in anyone beyond the publishers: any principal, any source, a stranger's alarm, no account check", async () => {
        const with_ = (statement: object) => res(T.topicPolicy, { arn: TOPIC, policy: JSON.stringify({ Statement: [...JSON.parse(ourTopicPolicy().inputs.policy as string).Statement, statement] }) });
        const base = { Effect: "Allow", Action: "sns:Publish", Resource: TOPIC };
        expect((await messages([pageAlarm(), with_({ ...base, Principal: { AWS: "*" } })])).join("\n")).toContain('admits principal {"AWS":"*"}');
        expect((await messages([pageAlarm(), with_({ ...base, Principal: { Service: "cloudwatch.amazonaws.com" } })])).join("\n")).toContain("on behalf of anything");
        expect((await messages([pageAlarm(), with_({ ...base, Principal: { Service: "cloudwatch.amazonaws.com" }, Condition: { ArnEquals: { "aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:999999999999:alarm:theirs" }, StringEquals: { "aws:SourceAccount": ACCOUNT } } })])).join("\n")).toContain("alarm:theirs, which do not publish to it");
        expect((await messages([pageAlarm(), with_({ ...base, Principal: { Service: "cloudwatch.amazonaws.com" }, Condition: { ArnEquals: { "aws:SourceArn": `arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:sofia-t-x-page` } } })])).join("\n")).toContain("without an aws:SourceAccount condition");
    });

    it("fails a Deny that shuts the alarm out again, and a topic on the AWS managed key", async () => {
        const deny = res(T.topicPolicy, { arn: TOPIC, policy: JSON.stringify({ Statement: [...JSON.parse(ourTopicPolicy().inputs.policy as string).Statement, { Effect: "Deny", Principal: "*", Action: "sns:*", Resource: "*" }] }) });
        expect((await messages([pageAlarm(), deny])).join("\n")).toContain("refuses cloudwatch.amazonaws.com");
        expect((await messages([pageAlarm(), ourTopicPolicy(), res(T.topic, { name: "sofia-t-level2-oncall", kmsMasterKeyId: "alias/aws/sns" })])).join("\n")).toContain("alias/aws/sns");
    });

    it("holds on both stacks' real plans: every composite and the maintenance rule are admitted, by exact ARN", async () => {
        for (const stack of ["staging", "prod"]) {
            const plan = await planStack(stack);
            expect(await messages(plan.resources), stack).toEqual([]);
            const pols = plan.resources.filter((r) => r.type === T.topicPolicy);
            expect(pols.map((p) => p.inputs.arn).sort(), stack).toEqual([`arn:aws:sns:eu-central-1:${OFFLINE_ACCOUNT}:sofia-${stack}-level2-oncall`, `arn:aws:sns:eu-central-1:${OFFLINE_ACCOUNT}:sofia-${stack}-level3-senior`].sort());
        }
    });
});

describe("enforcement per stack", () => {
    it("makes every policy mandatory in prod, and keeps the defaults elsewhere", async () => {
        const bad = [res(T.image, { name: "a/b:1" })];
        const digest = async (config: PolicyConfig) => (await evaluate(policies, bad, config)).filter((v) => v.policy === "container-image-digest").map((v) => v.enforcementLevel);
        expect(await digest({})).toEqual(["advisory"]);
        expect(await digest({ all: "mandatory" })).toEqual(["mandatory"]);
        expect(await digest({ all: "mandatory", "container-image-digest": "disabled" })).toEqual([]);
    });

    it("derives each stack's policy configuration from its settings", () => {
        expect(policyConfig(stackSettings("prod"))).toEqual({
            all: "mandatory",
            "iam-host-role-own-prefix": { prefix: "prod", buckets: "sofia-backups-" },
            "s3-retention-covers-backups": { retention: { "prod/full/": 30, "prod/redis/": 7, "prod/diagnostics/": 30 } },
            "s3-prod-backups-kept": { minimumDays: 30, objectLock: true },
            "maintenance-windows-utc-on-day": { day: "SUN" },
            "container-store-ports-loopback": { privateAddress: false },
            "ecs-container-hardened": { writableRoot: [] },
        });
        expect(policyConfig({ ...stackSettings("prod"), topology: "ecs" })).toMatchObject({ "container-store-ports-loopback": { privateAddress: true }, "ecs-container-hardened": { writableRoot: ["cloudwatch-agent"] } });
        expect(policyConfig(stackSettings("staging"))).toMatchObject({ "s3-retention-covers-backups": { retention: { "staging/full/": 14, "staging/redis/": 7 } } });
        expect(policyConfig(stackSettings("staging")).all).toBeUndefined();
        expect(scheduleDay("cron(0 2 ? * SUN#1 *)")).toBe("SUN");
    });
});

describe("the pack on the real program", () => {
    for (const stack of ["staging", "prod"]) {
        it(`${stack}: no mandatory violation`, async () => {
            const plan = await planStack(stack);
            const violations = await evaluate(policies, plan.resources, policyConfig(stackSettings(stack)));
            expect(violations.filter((v) => v.enforcementLevel === "mandatory")).toEqual([]);
        });
    }

    it("reads prod's real proxy: its client ports are TLS, and the same configuration without ssl fails", async () => {
        const plan = await planStack("prod");
        const proxy = plan.resources.find((r) => r.type === T.container && r.inputs.name === "sofia-proxy")!;
        const uploads = proxy.inputs.uploads as { file: string; content: string }[];
        expect(uploads.find((u) => u.file === "/etc/nginx/nginx.conf")!.content).toContain("listen 8013 ssl;");
        const plain = uploads.map((u) => (u.file === "/etc/nginx/nginx.conf" ? { ...u, content: u.content.replaceAll(" ssl;", ";") } : u));
        const resources = plan.resources.map((r) => (r === proxy ? { ...r, inputs: { ...r.inputs, uploads: plain } } : r));
        const violations = await evaluate(policies, resources, policyConfig(stackSettings("prod")));
        expect(violations.filter((v) => v.policy === "client-ports-tls-when-public").map((v) => v.message)).toEqual(
            expect.arrayContaining(["sofia-proxy forwards clients on port 8013 over plain HTTP, and 0.0.0.0/0 (the internet) may reach it."]),
        );
    });

    it("catches a real regression: a prod image without a digest (the API and, in this release deploy, its migrations)", async () => {
        const plan = await planStack("prod", ["images.api=ghcr.io/sofia-v2/api:2026.11.4"]);
        const violations = await evaluate(policies, plan.resources, policyConfig(stackSettings("prod")));
        const message = "container-image-digest: image ghcr.io/sofia-v2/api:2026.11.4 is not pinned by digest.";
        expect(violations.map((v) => `${v.policy}: ${v.message}`)).toEqual([message, message]);
    });
});
