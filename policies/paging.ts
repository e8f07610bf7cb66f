/**
 * The paging path, from alarm to topic: a topic policy replaces SNS' default one, so a topic that
 * an alarm or an EventBridge rule publishes to must admit that publisher itself. Nothing here can
 * publish to a real topic (the emulator does not enforce topic policies), so the policy evaluates
 * the topic policy's statements as SNS would for the request each publisher makes: its service
 * principal, with the publisher's ARN as aws:SourceArn and the account as aws:SourceAccount.
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { PolicyStatement, policyStatements } from "../components/iam";

type Statement = PolicyStatement;

/** A request to publish: who asks, on behalf of what. */
export interface PublishRequest {
    service: "cloudwatch.amazonaws.com" | "events.amazonaws.com";
    sourceArn: string;
    sourceAccount: string;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** IAM's wildcard match (`*` any run, `?` one character), as ArnLike, StringLike and Resource use it. */
function wildcard(pattern: string, value: string): boolean {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
    return re.test(value);
}

const statementsOf = policyStatements;

function principalMatches(principal: unknown, service: string): boolean {
    if (principal === "*") return true;
    const p = principal as { Service?: string | string[]; AWS?: string | string[] } | undefined;
    return list(p?.Service).includes(service) || list(p?.AWS).includes("*");
}

/** The condition operators a topic policy of ours may use; any other makes the statement not apply (safe side). */
function conditionsHold(condition: Statement["Condition"], req: PublishRequest): boolean {
    const context: Record<string, string> = { "aws:sourcearn": req.sourceArn, "aws:sourceaccount": req.sourceAccount };
    for (const [op, keys] of Object.entries(condition ?? {})) {
        for (const [key, want] of Object.entries(keys)) {
            const got = context[key.toLowerCase()];
            if (got === undefined) return false;
            const values = list(want);
            const ok =
                op === "ArnEquals" || op === "StringEquals" ? values.includes(got) : op === "ArnLike" || op === "StringLike" ? values.some((v) => wildcard(v, got)) : false;
            if (!ok) return false;
        }
    }
    return true;
}

function applies(s: Statement, topicArn: string, req: PublishRequest): boolean {
    return (
        principalMatches(s.Principal, req.service) &&
        list(s.Action).some((a) => wildcard(a.toLowerCase(), "sns:publish")) &&
        list(s.Resource).some((r) => wildcard(r, topicArn)) &&
        conditionsHold(s.Condition, req)
    );
}

/** Whether SNS would let the request publish to the topic under this policy: an Allow applies and no Deny does. */
export function admits(policy: unknown, topicArn: string, req: PublishRequest): boolean {
    const statements = statementsOf(policy);
    return statements.some((s) => s.Effect === "Allow" && applies(s, topicArn, req)) && !statements.some((s) => s.Effect === "Deny" && applies(s, topicArn, req));
}

/** What an Allow statement lets in beyond the publishers given, or undefined when nothing. */
function beyond(s: Statement, publishers: PublishRequest[]): string | undefined {
    const p = s.Principal as { Service?: string | string[] } | string | undefined;
    const services = typeof p === "object" && p && Object.keys(p).every((k) => k === "Service") ? list(p.Service) : undefined;
    if (!services) return `principal ${JSON.stringify(p)} (only service principals publish here)`;
    const sources = [...list(s.Condition?.ArnEquals?.["aws:SourceArn"]), ...list(s.Condition?.StringEquals?.["aws:SourceArn"])];
    if (!sources.length) return `${services.join(", ")} on behalf of anything (no exact aws:SourceArn condition)`;
    if (!s.Condition?.StringEquals?.["aws:SourceAccount"]) return `${services.join(", ")} without an aws:SourceAccount condition`;
    const strangers = sources.filter((src) => !publishers.some((q) => q.sourceArn === src && services.includes(q.service)));
    return strangers.length ? `${strangers.join(", ")}, which do not publish to it` : undefined;
}

const SNS_ARN = /^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):(.+)$/;

/** Every publisher of every topic in the stack: alarms through their actions, rules through their targets. */
export function publishersOf(resources: PolicyResource[]): Map<string, { what: string; req: PublishRequest; urn: string }[]> {
    const byTopic = new Map<string, { what: string; req: PublishRequest; urn: string }[]>();
    const add = (topic: unknown, what: string, service: PublishRequest["service"], source: (region: string, account: string) => string, urn: string) => {
        const m = typeof topic === "string" ? SNS_ARN.exec(topic) : null;
        if (!m) return;
        const [, region, account] = m;
        byTopic.set(topic as string, [...(byTopic.get(topic as string) ?? []), { what, req: { service, sourceArn: source(region, account), sourceAccount: account }, urn }]);
    };
    for (const r of resources) {
        if (r.type === "aws:cloudwatch/metricAlarm:MetricAlarm" || r.type === "aws:cloudwatch/compositeAlarm:CompositeAlarm") {
            const name = String(r.props.name ?? r.props.alarmName);
            const actions = new Set([...list(r.props.alarmActions as string[]), ...list(r.props.okActions as string[]), ...list(r.props.insufficientDataActions as string[])]);
            for (const t of actions) add(t, `alarm ${name}`, "cloudwatch.amazonaws.com", (reg, acct) => `arn:aws:cloudwatch:${reg}:${acct}:alarm:${name}`, r.urn);
        }
        if (r.type === "aws:cloudwatch/eventTarget:EventTarget") {
            const rule = String(r.props.rule);
            add(r.props.arn, `rule ${rule}`, "events.amazonaws.com", (reg, acct) => `arn:aws:events:${reg}:${acct}:rule/${rule}`, r.urn);
        }
    }
    return byTopic;
}

export const pagingPolicies: StackValidationPolicy[] = [
    {
        name: "alarm-topics-admit-publishers",
        description:
            "Every topic an alarm or rule publishes to has one policy of its own that admits exactly those publishers (CloudWatch for the alarms, EventBridge for the rules, each by ARN and account) and nobody else: a policy that shuts CloudWatch out silences every page.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const topicPolicies = args.resources.filter((r) => r.type === "aws:sns/topicPolicy:TopicPolicy");
            for (const [topic, publishers] of publishersOf(args.resources)) {
                const own = topicPolicies.filter((p) => p.props.arn === topic);
                const topicResource = args.resources.find((r) => r.type === "aws:sns/topic:Topic" && r.props.name !== undefined && topic.endsWith(`:${r.props.name}`));
                if (topicResource?.props.kmsMasterKeyId === "alias/aws/sns") {
                    report(`topic ${topic} is encrypted with the AWS managed key alias/aws/sns, whose key policy CloudWatch and EventBridge cannot use: every publish fails. Use a customer managed key that admits them, or none.`, topicResource.urn);
                }
                if (own.length === 0) {
                    report(`topic ${topic} has no policy of its own: SNS' default admits every principal of the account, not only its ${publishers.length} publishers.`, topicResource?.urn);
                    continue;
                }
                if (own.length > 1) {
                    report(`topic ${topic} has ${own.length} topic policies (${own.map((p) => p.name).join(", ")}): SNS keeps the last one written, so the publishers only the others admit are refused. Merge them into one.`, own[1].urn);
                    continue;
                }
                const policy = own[0];
                for (const p of publishers) {
                    if (!admits(policy.props.policy, topic, p.req)) {
                        report(`${p.what} publishes to ${topic}, but its topic policy ${policy.name} refuses ${p.req.service} on behalf of ${p.req.sourceArn}: that page never arrives ("not authorized to perform: SNS:Publish").`, p.urn);
                    }
                }
                for (const s of statementsOf(policy.props.policy).filter((x) => x.Effect === "Allow")) {
                    const extra = beyond(s, publishers.map((p) => p.req));
                    if (extra) report(`topic policy ${policy.name}${s.Sid ? ` (${s.Sid})` : ""} admits ${extra}.`, policy.urn);
                }
            }
        },
    },
];
