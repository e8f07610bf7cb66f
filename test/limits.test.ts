/**
 * Every AWS limit the pack knows, exactly at the limit (passes) and one over (refused, with the
 * limit named), then the pack's limit policies on what the program declares for both stacks.
 */
import { describe, expect, it } from "vitest";
import { AWS_LIMITS, fargateSize, iamChars, LimitName, ruleChildren } from "../components/aws-limits";
import { evaluate } from "../policies/evaluate";
import { limitPolicies } from "../policies/limits";
import { PlannedResource } from "../plan/offline";
import { planStack } from "./helpers/plan";

let n = 0;
function res(type: string, inputs: Record<string, unknown>, parent?: string): PlannedResource {
    const name = `l${++n}`;
    return { urn: `urn:pulumi:t::sofia::${type}::${name}`, type, name, parent, dependsOn: [], options: {}, inputs, custom: true };
}
const times = <T>(count: number, f: (i: number) => T): T[] => Array.from({ length: count }, (_, i) => f(i));
/** A policy of exactly `chars` characters. */
const policyJson = (chars: number) => JSON.stringify({ Statement: [{ Sid: "x".repeat(chars - 26) }] });
const rule = (children: number, pad = 0) => times(children, (i) => `ALARM("a${i}")`).join(" OR ") + " ".repeat(pad);
const widgets = (count: number, metricsEach: number) => JSON.stringify({ widgets: times(count, (i) => ({ properties: { title: `w${i}`, metrics: times(metricsEach, () => ["N", "m"]) } })) });

/** A Fargate task definition (0.25 vCPU, 512 MiB) with these containers. */
const task = (containers: object[]) => res("aws:ecs/taskDefinition:TaskDefinition", { cpu: "256", memory: "512", containerDefinitions: JSON.stringify(containers) });

/** For each limit: the resources at a given value of what it counts. */
const at: Record<LimitName, (value: number) => PlannedResource[]> = {
    ssmDocumentBytes: (v) => [res("aws:ssm/document:Document", { content: "é".repeat(v / 2) + "x".repeat(v % 2) })],
    userDataBytes: (v) => [res("aws:ec2/instance:Instance", { userData: "#".repeat(v) })],
    roleInlinePolicyChars: (v) => [res("aws:iam/rolePolicy:RolePolicy", { role: "r", policy: policyJson(v - 1000) }), res("aws:iam/rolePolicy:RolePolicy", { role: "r", policy: policyJson(1000) })],
    managedPolicyChars: (v) => [res("aws:iam/policy:Policy", { policy: policyJson(v) })],
    trustPolicyChars: (v) => [res("aws:iam/role:Role", { assumeRolePolicy: policyJson(v) })],
    managedPoliciesPerRole: (v) => times(v, (i) => res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", { role: "r", policyArn: `arn:aws:iam::aws:policy/P${i}` })),
    compositeRuleChars: (v) => [res("aws:cloudwatch/compositeAlarm:CompositeAlarm", { alarmName: "c", alarmRule: rule(2, v - rule(2).length) })],
    compositeRuleChildren: (v) => [res("aws:cloudwatch/compositeAlarm:CompositeAlarm", { alarmName: "c", alarmRule: rule(v) })],
    alarmDescriptionChars: (v) => [res("aws:cloudwatch/metricAlarm:MetricAlarm", { name: "a", alarmDescription: "d".repeat(v) })],
    alarmNameChars: (v) => [res("aws:cloudwatch/metricAlarm:MetricAlarm", { name: "a".repeat(v) })],
    dashboardWidgets: (v) => [res("aws:cloudwatch/dashboard:Dashboard", { dashboardBody: widgets(v, 1) })],
    dashboardWidgetMetrics: (v) => [res("aws:cloudwatch/dashboard:Dashboard", { dashboardBody: widgets(1, v) })],
    dashboardMetrics: (v) => [res("aws:cloudwatch/dashboard:Dashboard", { dashboardBody: JSON.stringify({ widgets: times(Math.ceil(v / 500), (i) => ({ properties: { metrics: times(Math.min(500, v - i * 500), () => ["N", "m"]) } })) }) })],
    windowTasks: (v) => times(v, () => res("aws:ssm/maintenanceWindowTask:MaintenanceWindowTask", { windowId: "w", description: "t" })),
    windowDescriptionChars: (v) => [res("aws:ssm/maintenanceWindow:MaintenanceWindow", { description: "d".repeat(v) })],
    runCommandCommentChars: (v) => [res("aws:ssm/maintenanceWindowTask:MaintenanceWindowTask", { windowId: "w", description: "t", taskInvocationParameters: { runCommandParameters: { comment: "c".repeat(v) } } })],
    tagsPerResource: (v) => [res("aws:sns/topic:Topic", { tags: Object.fromEntries(times(v, (i) => [`k${i}`, "v"])) })],
    tagKeyChars: (v) => [res("aws:sns/topic:Topic", { tags: { ["k".repeat(v)]: "v" } })],
    tagValueChars: (v) => [res("aws:sns/topic:Topic", { tags: { k: "v".repeat(v) } })],
    eventPatternChars: (v) => [res("aws:cloudwatch/eventRule:EventRule", { name: "r", eventPattern: JSON.stringify({ source: ["x".repeat(v - 15)] }) })],
    canaryNameChars: (v) => [res("aws:synthetics/canary:Canary", { name: "c".repeat(v) })],
    lambdaEnvironmentBytes: (v) => [res("aws:synthetics/canary:Canary", { name: "c", runConfig: { environmentVariables: { CHECKS: "é".repeat((v - 6) / 2) + "x".repeat((v - 6) % 2) } } })],
    albNameChars: (v) => [res("aws:lb/loadBalancer:LoadBalancer", { name: "a".repeat(v) })],
    targetGroupNameChars: (v) => [res("aws:lb/targetGroup:TargetGroup", { name: "t".repeat(v) })],
    replicationGroupIdChars: (v) => [res("aws:elasticache/replicationGroup:ReplicationGroup", { replicationGroupId: "r".repeat(v) })],
    cacheSnapshotRetentionDays: (v) => [res("aws:elasticache/replicationGroup:ReplicationGroup", { replicationGroupId: "r", snapshotRetentionLimit: v })],
    fargateStopTimeoutSeconds: (v) => [task([{ name: "c", stopTimeout: v }])],
    ecsHealthStartPeriodSeconds: (v) => [task([{ name: "c", healthCheck: { startPeriod: v } }])],
    taskDefinitionBytes: (v) => [task([{ name: "c", command: ["x".repeat(v - 29)] }])],
    securityGroupIngressRules: (v) => times(v, (i) => res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", { securityGroupId: "sg", cidrIpv6: `2001:db8:${i.toString(16)}::/48` })),
};

async function messages(resources: PlannedResource[]): Promise<string[]> {
    return (await evaluate(limitPolicies, resources)).map((v) => `${v.policy}: ${v.message}`);
}

describe("AWS limits", () => {
    it("measure as AWS does: IAM without white space, composite children each once", () => {
        expect(iamChars('{ "a" :\n  "b c" }')).toBe(10);
        expect(ruleChildren('ALARM("x") OR (OK("y") AND ALARM("x")) OR INSUFFICIENT_DATA( "z" )')).toEqual(["x", "y", "z"]);
    });

    for (const [limit, { max, what }] of Object.entries(AWS_LIMITS) as [LimitName, (typeof AWS_LIMITS)[LimitName]][]) {
        it(`${limit}: ${max} passes, ${max + 1} is refused naming the limit`, async () => {
            expect(await messages(at[limit](max))).toEqual([]);
            const refused = await messages(at[limit](max + 1));
            expect(refused.length, refused.join("\n")).toBeGreaterThan(0);
            expect(refused.join("\n")).toContain(`over AWS's limit of ${max} (${what}), by 1`);
        });
    }
});

describe("Fargate's task sizes", () => {
    it("the smallest size that holds the memory; a size Fargate does not run is refused", async () => {
        expect(fargateSize(256)).toEqual({ cpu: 256, memoryMb: 512 });
        expect(fargateSize(2048)).toEqual({ cpu: 256, memoryMb: 2048 });
        expect(fargateSize(2049)).toEqual({ cpu: 512, memoryMb: 3072 });
        expect(fargateSize(4097)).toEqual({ cpu: 1024, memoryMb: 5120 });
        expect(() => fargateSize(200_000)).toThrow(/largest Fargate task/);
        // A CPU floor: the least size with that many vCPUs that also holds the memory.
        expect(fargateSize(1024, 1)).toEqual({ cpu: 1024, memoryMb: 2048 });
        expect(fargateSize(9000, 1)).toEqual({ cpu: 2048, memoryMb: 9216 });
        expect(fargateSize(512, 0.5)).toEqual({ cpu: 512, memoryMb: 1024 });
        expect(() => fargateSize(512, 32)).toThrow(/with 32 vCPUs is more than the largest Fargate task/);
        const sized = (cpu: string, memory: string) => res("aws:ecs/taskDefinition:TaskDefinition", { cpu, memory, containerDefinitions: "[]" });
        expect(await messages([sized("1024", "2048")])).toEqual([]);
        expect((await messages([sized("256", "4096")])).join()).toContain("256 CPU units with 4096 MiB is not a size Fargate runs");
    });
});

describe("the program within AWS's limits", () => {
    for (const stack of ["staging", "prod"]) {
        it(`${stack}: every declared resource passes every limit policy`, async () => {
            const plan = await planStack(stack);
            expect(await evaluate(limitPolicies, plan.resources)).toEqual([]);
        });
    }
});
