/**
 * AWS's documented hard limits and default quotas that a stack of this project can approach, and
 * how AWS measures each. The policy pack checks every declared resource against them
 * (policies/limits.ts); components that build large values check their own before declaring.
 * Nothing here runs the engine, so a limit that is not written down here is found by the first
 * real `pulumi up`, in the middle of an update.
 */

export interface AwsLimit {
    /** The largest allowed value (inclusive). */
    max: number;
    /** What is counted, in AWS's own terms, and where it is documented. */
    what: string;
}

export const AWS_LIMITS = {
    ssmDocumentBytes: { max: 64 * 1024, what: "SSM document content, bytes (CreateDocument: MaxDocumentSizeExceeded, 64 KB)" },
    userDataBytes: { max: 16 * 1024, what: "EC2 user data before base64, bytes (16 KB)" },
    roleInlinePolicyChars: { max: 10_240, what: "inline policies of one IAM role together, characters without white space (IAM quotas)" },
    managedPolicyChars: { max: 6_144, what: "one managed IAM policy, characters without white space (IAM quotas)" },
    trustPolicyChars: { max: 2_048, what: "an IAM role's trust policy, characters without white space (IAM default quota)" },
    managedPoliciesPerRole: { max: 10, what: "managed policies attached to one IAM role (IAM default quota)" },
    compositeRuleChars: { max: 10_240, what: "a composite alarm's rule, characters (PutCompositeAlarm AlarmRule)" },
    compositeRuleChildren: { max: 100, what: "alarms named in one composite alarm's rule (PutCompositeAlarm)" },
    alarmDescriptionChars: { max: 1_024, what: "an alarm's description, characters (PutMetricAlarm/PutCompositeAlarm)" },
    alarmNameChars: { max: 255, what: "an alarm's name, characters" },
    dashboardWidgets: { max: 500, what: "widgets on one CloudWatch dashboard" },
    dashboardWidgetMetrics: { max: 500, what: "metrics in one dashboard widget" },
    dashboardMetrics: { max: 2_500, what: "metrics on one dashboard, all widgets together" },
    windowTasks: { max: 20, what: "tasks registered with one SSM maintenance window (Systems Manager quotas)" },
    windowDescriptionChars: { max: 128, what: "a maintenance window's or task's description, characters" },
    runCommandCommentChars: { max: 100, what: "a Run Command comment, characters" },
    tagsPerResource: { max: 50, what: "tags on one resource" },
    tagKeyChars: { max: 128, what: "a tag key, characters" },
    tagValueChars: { max: 256, what: "a tag value, characters" },
    securityGroupIngressRules: { max: 60, what: "inbound rules of one security group per IP version (VPC default quota)" },
    canaryNameChars: { max: 21, what: "a Synthetics canary's name, characters (it runs as the Lambda function cwsyn-<name>-<36-character id>, whose name has 64 at most)" },
    eventPatternChars: { max: 2_048, what: "an EventBridge rule's event pattern, characters (EventBridge quota, default; adjustable to 4,096)" },
    lambdaEnvironmentBytes: { max: 4 * 1024, what: "a Lambda function's environment variables together, keys and values, bytes (a canary's runConfig.environmentVariables become them)" },
    albNameChars: { max: 32, what: "a load balancer's name, characters (Elastic Load Balancing)" },
    targetGroupNameChars: { max: 32, what: "a target group's name, characters (Elastic Load Balancing)" },
    replicationGroupIdChars: { max: 40, what: "an ElastiCache replication group's id, characters" },
    cacheSnapshotRetentionDays: { max: 35, what: "days ElastiCache keeps automatic snapshots (SnapshotRetentionLimit)" },
    fargateStopTimeoutSeconds: { max: 120, what: "a Fargate container's stopTimeout, seconds" },
    ecsHealthStartPeriodSeconds: { max: 300, what: "an ECS container health check's startPeriod, seconds" },
    taskDefinitionBytes: { max: 64 * 1024, what: "an ECS task definition's container definitions, bytes (RegisterTaskDefinition)" },
} as const satisfies Record<string, AwsLimit>;

/**
 * The task sizes Fargate runs (Linux): each CPU value (units of 1/1024 vCPU) with the memory sizes
 * it allows, MiB. Any other pair fails RegisterTaskDefinition ("No Fargate configuration exists").
 */
export const FARGATE_SIZES: readonly { cpu: number; memoryMb: readonly number[] }[] = [
    { cpu: 256, memoryMb: [512, 1024, 2048] },
    { cpu: 512, memoryMb: range(1024, 4096, 1024) },
    { cpu: 1024, memoryMb: range(2048, 8192, 1024) },
    { cpu: 2048, memoryMb: range(4096, 16384, 1024) },
    { cpu: 4096, memoryMb: range(8192, 30720, 1024) },
    { cpu: 8192, memoryMb: range(16384, 61440, 4096) },
    { cpu: 16384, memoryMb: range(32768, 122880, 8192) },
];

function range(from: number, to: number, step: number): number[] {
    return Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);
}

/** Whether Fargate runs a task of this CPU and memory. */
export function isFargateSize(cpu: number, memoryMb: number): boolean {
    return FARGATE_SIZES.some((s) => s.cpu === cpu && s.memoryMb.includes(memoryMb));
}

/** The smallest Fargate size with at least `memoryMb` of memory and `vcpus` vCPUs (by default the least CPU that allows the memory). */
export function fargateSize(memoryMb: number, vcpus = 0): { cpu: number; memoryMb: number } {
    for (const s of FARGATE_SIZES) {
        if (s.cpu < vcpus * 1024) continue;
        const m = s.memoryMb.find((x) => x >= memoryMb);
        if (m !== undefined) return { cpu: s.cpu, memoryMb: m };
    }
    throw new Error(`fargateSize: ${memoryMb} MiB with ${vcpus} vCPUs is more than the largest Fargate task holds (16 vCPUs, 122,880 MiB)`);
}

export type LimitName = keyof typeof AWS_LIMITS;

/** UTF-8 bytes, as AWS counts document and user-data sizes. */
export function bytesOf(s: string): number {
    return Buffer.byteLength(s, "utf8");
}

/** Characters without white space, as IAM counts policy sizes. */
export function iamChars(policy: string): number {
    return policy.replace(/\s/g, "").length;
}

/** The alarms a composite alarm's rule names (ALARM, OK, INSUFFICIENT_DATA), each once. */
export function ruleChildren(rule: string): string[] {
    return [...new Set([...rule.matchAll(/\b(?:ALARM|OK|INSUFFICIENT_DATA)\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]))];
}

/**
 * Undefined when `value` is within the limit, else a sentence naming the limit, the value and
 * how far over it is: what a policy reports and what a component throws.
 */
export function overLimit(limit: LimitName, value: number, subject: string): string | undefined {
    const { max, what } = AWS_LIMITS[limit];
    if (value <= max) return undefined;
    return `${subject}: ${value} is over AWS's limit of ${max} (${what}), by ${value - max}.`;
}
