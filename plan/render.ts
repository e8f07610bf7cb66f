/**
 * The offline plan as an operator reads it: resources grouped under the component that owns them,
 * each with the few inputs that matter for review, then the stack outputs.
 */
import { Plan, PlannedResource } from "./offline";
import { DEPLOY_STEPS, DeployKind } from "../model/deploy-steps";
import { renderStartOrder } from "./start-graph";
import { ReadOutputs } from "../release/outputs";

/** Inputs worth showing per type (dotted paths). Types not listed show their short scalar inputs. */
const KEY_FIELDS: Record<string, string[]> = {
    "aws:ec2/instance:Instance": ["instanceType", "ami", "monitoring", "metadataOptions.httpTokens", "rootBlockDevice.volumeSize", "rootBlockDevice.encrypted"],
    "aws:ebs/volume:Volume": ["size", "type", "encrypted", "availabilityZone"],
    "aws:ec2/securityGroup:SecurityGroup": ["description"],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ["ipProtocol", "fromPort", "cidrIpv4", "cidrIpv6", "description"],
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ["ipProtocol", "cidrIpv4", "cidrIpv6"],
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["policyArn"],
    "aws:iam/role:Role": ["description"],
    "aws:ec2/volumeAttachment:VolumeAttachment": ["deviceName"],
    "pulumi:providers:docker": ["host"],
    "docker:index/remoteImage:RemoteImage": ["name"],
    "docker:index/container:Container": ["name", "command", "memory", "restart", "attach", "stopTimeout", "ports", "healthcheck.startPeriod", "wait"],
    "docker:index/volume:Volume": ["name"],
    "docker:index/network:Network": ["name", "driver"],
    "aws:ssm/association:Association": ["name", "documentVersion", "scheduleExpression", "parameters.commands", "waitForSuccessTimeoutSeconds"],
    "aws:ssm/document:Document": ["documentType"],
    "command:local:Command": ["create"],
    "aws:s3/bucket:Bucket": ["bucketPrefix", "objectLockEnabled", "forceDestroy"],
    "aws:s3/bucketVersioning:BucketVersioning": ["versioningConfiguration.status"],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ["rules"],
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"],
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ["rules"],
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": ["rule.defaultRetention"],
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ["rule.objectOwnership"],
    "aws:ssm/maintenanceWindow:MaintenanceWindow": ["schedule", "scheduleTimezone", "duration", "cutoff"],
    "aws:ssm/maintenanceWindowTask:MaintenanceWindowTask": ["priority", "taskArn", "taskInvocationParameters.runCommandParameters.parameters"],
    "aws:cloudwatch/metricAlarm:MetricAlarm": ["metricName", "statistic", "comparisonOperator", "threshold", "period", "evaluationPeriods", "treatMissingData", "tags.Level"],
};

function get(obj: unknown, path: string): unknown {
    return path.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), obj);
}

function short(v: unknown): string {
    const s = typeof v === "string" ? v : JSON.stringify(v);
    // Wide enough for an image reference with its digest or a lifecycle rule: reviewers must see them whole.
    return s.length > 240 ? `${s.slice(0, 237)}...` : s;
}

function keySettings(r: PlannedResource): string {
    const fields = KEY_FIELDS[r.type];
    const pairs = fields
        ? fields.map((f) => [f, get(r.inputs, f)] as const)
        : Object.entries(r.inputs).filter(([, v]) => v !== null && typeof v !== "object" && String(v).length <= 60).slice(0, 4);
    return pairs
        .filter(([, v]) => v !== undefined && v !== "")
        .map(([k, v]) => `${k}=${short(v)}`)
        .join("  ");
}

function flatten(prefix: string, v: unknown, out: string[]): void {
    if (v && typeof v === "object" && !Array.isArray(v)) {
        for (const [k, x] of Object.entries(v)) flatten(prefix ? `${prefix}.${k}` : k, x, out);
    } else {
        out.push(`  ${prefix} = ${short(v)}`);
    }
}

/** The resource options that decide what the engine may delete or replace, as a reviewer reads them. */
function guards(r: PlannedResource): string {
    const o = r.options ?? {};
    return [
        o.protect ? "protect (no delete or replace until unprotected)" : "",
        o.retainOnDelete ? "retainOnDelete (outlives the stack)" : "",
        o.deleteBeforeReplace ? "deleteBeforeReplace" : "",
        o.replaceOnChanges?.length ? `replaceOnChanges: ${o.replaceOnChanges.join(", ")}` : "",
        o.ignoreChanges?.length ? `ignoreChanges: ${o.ignoreChanges.join(", ")}` : "",
    ]
        .filter(Boolean)
        .join("; ");
}

/** The deployment checklist this update runs (model/deploy-steps.ts), or why it runs none. */
function renderDeploy(plan: Plan): string[] {
    const d = (plan.outputs as ReadOutputs).deploy;
    if (!d) return [];
    if (d.steps.length === 0) return ["Deploy checklist: none (the release is unchanged: no backup, maintenance page, migrations or verification)", ""];
    const kinds: Record<DeployKind, string> = { first: "the stack's first release", release: "the release changes", config: "the containers' configuration or the code changes, not the release", none: "nothing changes" };
    const what = kinds[d.kind] ?? d.kind;
    return [
        `Deploy checklist (${what}), in this order:`,
        ...d.changes.map((c) => `    ${c}`),
        ...d.steps.map((id, i) => `  ${i + 1}. ${id}: ${DEPLOY_STEPS.find((s) => s.id === id)?.title ?? ""}`),
        "",
    ];
}

export function renderPlan(plan: Plan): string {
    const children = new Map<string | undefined, PlannedResource[]>();
    for (const r of plan.resources) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
    const byUrn = new Map(plan.resources.map((r) => [r.urn, r]));

    const lines: string[] = [];
    const custom = plan.resources.filter((r) => r.custom).length;
    lines.push(`Offline plan of stack "${plan.stack}" (project ${plan.project}): ${custom} cloud resources in ${plan.resources.length - custom} components.`);
    lines.push("Computed by the real program under Pulumi's mock runtime: ids and addresses are placeholders; secrets show as [secret].");
    lines.push("");

    const walk = (r: PlannedResource, depth: number) => {
        const pad = "  ".repeat(depth);
        const settings = keySettings(r);
        const deps = r.dependsOn.map((u) => byUrn.get(u)?.name ?? u);
        const guard = guards(r);
        lines.push(`${pad}${r.custom ? "+" : "▸"} ${r.name}  (${r.type})${settings ? `\n${pad}    ${settings}` : ""}${guard ? `\n${pad}    guards: ${guard}` : ""}${deps.length ? `\n${pad}    after: ${deps.join(", ")}` : ""}`);
        // Tasks and the like run by priority: list them in that order.
        const kids = [...(children.get(r.urn) ?? [])].sort((a, b) => Number(a.inputs.priority ?? 0) - Number(b.inputs.priority ?? 0));
        for (const c of kids) walk(c, depth + 1);
    };
    for (const root of children.get(undefined) ?? []) {
        // The stack itself is implied; start with what it contains.
        for (const c of root.type === "pulumi:pulumi:Stack" ? children.get(root.urn) ?? [] : [root]) walk(c, 0);
    }

    const messages = plan.messages.length ? ["Messages from the program (shown during the update too):", ...plan.messages.map((m) => `  ${m}`), ""] : [];
    lines.push("", ...renderDeploy(plan), ...messages, ...renderStartOrder(plan), "Outputs:");
    flatten("", plan.outputs, lines);
    return lines.join("\n") + "\n";
}
