/**
 * AWS's size and count limits as policies (components/aws-limits.ts has the figures). Nothing
 * here can run the engine, so a resource over a limit would otherwise be found by the first real
 * `pulumi up`, which stops there half-way. Each is mandatory everywhere: AWS refuses, whatever the
 * stack.
 */
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { bytesOf, iamChars, isFargateSize, LimitName, overLimit, ruleChildren } from "../components/aws-limits";

type Report = (message: string, urn?: string) => void;

const TYPES = {
    document: "aws:ssm/document:Document",
    instance: "aws:ec2/instance:Instance",
    role: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    policy: "aws:iam/policy:Policy",
    attachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    metricAlarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
    composite: "aws:cloudwatch/compositeAlarm:CompositeAlarm",
    dashboard: "aws:cloudwatch/dashboard:Dashboard",
    window: "aws:ssm/maintenanceWindow:MaintenanceWindow",
    windowTask: "aws:ssm/maintenanceWindowTask:MaintenanceWindowTask",
    ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    canary: "aws:synthetics/canary:Canary",
    eventRule: "aws:cloudwatch/eventRule:EventRule",
    loadBalancer: "aws:lb/loadBalancer:LoadBalancer",
    targetGroup: "aws:lb/targetGroup:TargetGroup",
    replicationGroup: "aws:elasticache/replicationGroup:ReplicationGroup",
    taskDefinition: "aws:ecs/taskDefinition:TaskDefinition",
} as const;

/** A task definition's containers, parsed; none when they are not (yet) known. */
export function containersOf(defs: unknown): Record<string, unknown>[] {
    if (typeof defs !== "string") return [];
    try {
        const parsed = JSON.parse(defs) as unknown;
        return Array.isArray(parsed) ? (parsed as Record<string, unknown>[]) : [];
    } catch {
        return [];
    }
}

function check(report: Report, limit: LimitName, value: number, subject: string, urn?: string): void {
    const problem = overLimit(limit, value, subject);
    if (problem) report(problem, urn);
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const ofType = (resources: PolicyResource[], type: string) => resources.filter((r) => r.type === type);

/** Resources grouped by the value of `key` (a role, a window, a security group), else by their parent. */
function groupBy(resources: PolicyResource[], key: string): Map<string, PolicyResource[]> {
    const groups = new Map<string, PolicyResource[]>();
    for (const r of resources) {
        const k = str(r.props[key]) ?? r.parent?.urn ?? r.urn;
        groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    return groups;
}

/** Every metric row of a dashboard's widgets: `[[namespace, name, ...dims], ...]` per widget. */
function dashboardWidgets(body: unknown): { title: string; metrics: number }[] {
    if (typeof body !== "string") return [];
    try {
        const doc = JSON.parse(body) as { widgets?: { properties?: { title?: string; metrics?: unknown[] } }[] };
        return (doc.widgets ?? []).map((w, i) => ({ title: w.properties?.title ?? `widget ${i + 1}`, metrics: Array.isArray(w.properties?.metrics) ? w.properties!.metrics!.length : 0 }));
    } catch {
        return [];
    }
}

export const limitPolicies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
    {
        name: "aws-limit-ssm-document-size",
        description: "SSM documents stay within AWS's 64 KB of content: the host scripts' installer is one, and CreateDocument refuses a larger one (MaxDocumentSizeExceeded).",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== TYPES.document) return;
            const content = str(args.props.content);
            if (content !== undefined) check(report, "ssmDocumentBytes", bytesOf(content), `document ${args.name} content`);
        },
    },
    {
        name: "aws-limit-canary",
        description: "A Synthetics canary's name fits the Lambda function it runs as, and its environment (the checks' configuration) fits Lambda's 4 KB: CreateCanary refuses either.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== TYPES.canary) return;
            const name = str(args.props.name);
            if (name !== undefined) check(report, "canaryNameChars", name.length, `canary ${args.name} name`);
            const env = (args.props.runConfig as { environmentVariables?: Record<string, unknown> } | undefined)?.environmentVariables ?? {};
            const bytes = Object.entries(env).reduce((n, [k, v]) => n + bytesOf(k) + bytesOf(String(v)), 0);
            check(report, "lambdaEnvironmentBytes", bytes, `canary ${args.name} environment`);
        },
    },
    {
        name: "aws-limit-event-pattern",
        description: "An EventBridge rule's event pattern stays within 2,048 characters (the default quota): PutRule refuses a longer one, in the middle of an update.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== TYPES.eventRule) return;
            const pattern = str(args.props.eventPattern);
            if (pattern !== undefined) check(report, "eventPatternChars", pattern.length, `rule ${args.name} eventPattern`);
        },
    },
    {
        name: "aws-limit-ecs",
        description: "The ECS topology within AWS's limits: names of load balancers and target groups (32), replication group ids (40), ElastiCache snapshot retention (35 days), task definitions (64 KB), Fargate's sizes, stop timeouts (120 s) and health-check start periods (300 s).",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            const name = str(args.props.name);
            if (args.type === TYPES.loadBalancer && name !== undefined) check(report, "albNameChars", name.length, `load balancer ${args.name} name`);
            if (args.type === TYPES.targetGroup && name !== undefined) check(report, "targetGroupNameChars", name.length, `target group ${args.name} name`);
            if (args.type === TYPES.replicationGroup) {
                const id = str(args.props.replicationGroupId);
                if (id !== undefined) check(report, "replicationGroupIdChars", id.length, `replication group ${args.name} id`);
                const days = args.props.snapshotRetentionLimit;
                if (typeof days === "number") check(report, "cacheSnapshotRetentionDays", days, `snapshotRetentionLimit of ${args.name}`);
            }
            if (args.type !== TYPES.taskDefinition) return;
            const defs = str(args.props.containerDefinitions);
            if (defs !== undefined) check(report, "taskDefinitionBytes", bytesOf(defs), `container definitions of ${args.name}`);
            const cpu = Number(args.props.cpu);
            const memory = Number(args.props.memory);
            if (args.props.cpu !== undefined && !isFargateSize(cpu, memory)) report(`task definition ${args.name}: ${cpu} CPU units with ${memory} MiB is not a size Fargate runs (RegisterTaskDefinition refuses it); see FARGATE_SIZES in components/aws-limits.ts.`);
            for (const c of containersOf(defs)) {
                if (typeof c.stopTimeout === "number") check(report, "fargateStopTimeoutSeconds", c.stopTimeout, `stopTimeout of container ${String(c.name)}`);
                const start = (c.healthCheck as { startPeriod?: unknown } | undefined)?.startPeriod;
                if (typeof start === "number") check(report, "ecsHealthStartPeriodSeconds", start, `health check startPeriod of container ${String(c.name)}`);
            }
        },
    },
    {
        name: "aws-limit-user-data-size",
        description: "EC2 user data stays within AWS's 16 KB: the host's cloud-config is refused whole, and the host never boots, if it grows past it.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== TYPES.instance) return;
            const data = str(args.props.userData);
            if (data !== undefined) check(report, "userDataBytes", bytesOf(data), `instance ${args.name} userData`);
            const b64 = str(args.props.userDataBase64);
            if (b64 !== undefined) check(report, "userDataBytes", Buffer.from(b64, "base64").length, `instance ${args.name} userDataBase64 (decoded)`);
        },
    },
    {
        name: "aws-limit-iam-policy-size",
        description: "IAM policies stay within AWS's sizes: a role's inline policies together 10,240 characters, a managed policy 6,144, a trust policy 2,048, at most 10 managed policies per role.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            for (const [role, inline] of groupBy(ofType(args.resources, TYPES.rolePolicy), "role")) {
                const total = inline.reduce((n, p) => n + iamChars(str(p.props.policy) ?? ""), 0);
                check(report, "roleInlinePolicyChars", total, `inline policies of role ${role} (${inline.map((p) => p.name).join(", ")})`, inline[0].urn);
            }
            for (const p of ofType(args.resources, TYPES.policy)) check(report, "managedPolicyChars", iamChars(str(p.props.policy) ?? ""), `managed policy ${p.name}`, p.urn);
            for (const r of ofType(args.resources, TYPES.role)) {
                check(report, "trustPolicyChars", iamChars(str(r.props.assumeRolePolicy) ?? ""), `trust policy of role ${r.name}`, r.urn);
            }
            for (const [role, attached] of groupBy(ofType(args.resources, TYPES.attachment), "role")) {
                check(report, "managedPoliciesPerRole", attached.length, `managed policies attached to role ${role}`, attached[0].urn);
            }
        },
    },
    {
        name: "aws-limit-alarms",
        description: "Alarms stay within CloudWatch's limits: names of 255 and descriptions of 1,024 characters, composite rules of 10,240 characters naming at most 100 alarms.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== TYPES.metricAlarm && args.type !== TYPES.composite) return;
            const name = str(args.props.name) ?? str(args.props.alarmName) ?? args.name;
            check(report, "alarmNameChars", name.length, `alarm name ${name.slice(0, 60)}…`);
            check(report, "alarmDescriptionChars", (str(args.props.alarmDescription) ?? "").length, `description of alarm ${name}`);
            const rule = str(args.props.alarmRule);
            if (rule !== undefined) {
                check(report, "compositeRuleChars", rule.length, `rule of composite alarm ${name}`);
                check(report, "compositeRuleChildren", ruleChildren(rule).length, `alarms named in the rule of ${name}`);
            }
        },
    },
    {
        name: "aws-limit-dashboard",
        description: "Dashboards stay within CloudWatch's limits: 500 widgets, 500 metrics in a widget, 2,500 metrics in all.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== TYPES.dashboard) return;
            const widgets = dashboardWidgets(args.props.dashboardBody);
            check(report, "dashboardWidgets", widgets.length, `widgets of dashboard ${args.name}`);
            for (const w of widgets) check(report, "dashboardWidgetMetrics", w.metrics, `metrics of widget "${w.title}"`);
            check(report, "dashboardMetrics", widgets.reduce((n, w) => n + w.metrics, 0), `metrics of dashboard ${args.name}`);
        },
    },
    {
        name: "aws-limit-maintenance-windows",
        description: "Maintenance windows stay within Systems Manager's limits: 20 tasks per window, descriptions of 128 characters, Run Command comments of 100.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            for (const w of ofType(args.resources, TYPES.window)) check(report, "windowDescriptionChars", (str(w.props.description) ?? "").length, `description of window ${w.name}`, w.urn);
            const tasks = ofType(args.resources, TYPES.windowTask);
            for (const [window, list] of groupBy(tasks, "windowId")) check(report, "windowTasks", list.length, `tasks of window ${window}`, list[0].urn);
            for (const t of tasks) {
                check(report, "windowDescriptionChars", (str(t.props.description) ?? "").length, `description of task ${t.name}`, t.urn);
                const comment = (t.props.taskInvocationParameters as { runCommandParameters?: { comment?: string } } | undefined)?.runCommandParameters?.comment ?? "";
                check(report, "runCommandCommentChars", comment.length, `Run Command comment of task ${t.name}`, t.urn);
            }
        },
    },
    {
        name: "aws-limit-tags",
        description: "Tags stay within AWS's limits: 50 per resource, keys of 128 and values of 256 characters.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (!args.type.startsWith("aws:")) return;
            const tags = args.props.tags as Record<string, unknown> | undefined;
            if (!tags || typeof tags !== "object") return;
            check(report, "tagsPerResource", Object.keys(tags).length, `tags of ${args.name}`);
            for (const [k, v] of Object.entries(tags)) {
                check(report, "tagKeyChars", k.length, `tag key ${k.slice(0, 40)}`);
                if (typeof v === "string") check(report, "tagValueChars", v.length, `value of tag ${k}`);
            }
        },
    },
    {
        name: "aws-limit-security-group-rules",
        description: "A security group holds at most 60 inbound rules per IP version (VPC default quota): client CIDRs times client ports must fit.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            for (const [group, rules] of groupBy(ofType(args.resources, TYPES.ingress), "securityGroupId")) {
                for (const family of ["cidrIpv4", "cidrIpv6"] as const) {
                    const n = rules.filter((r) => r.props[family] !== undefined).length;
                    check(report, "securityGroupIngressRules", n, `${family === "cidrIpv4" ? "IPv4" : "IPv6"} inbound rules of security group ${group}`, rules[0].urn);
                }
            }
        },
    },
];

