/**
 * Alarms and who they reach, by escalation level (the runbook's "Escalation"):
 *   level 1: automatic (EC2 recover or reboot); pages nobody
 *   level 2: pages on-call (an SNS topic, e.g. a PagerDuty HTTPS endpoint)
 *   level 3: also notifies the senior and security contacts
 * Each paging alarm is a raw metric alarm without actions plus a composite alarm that pages, with
 * an actions suppressor: while the maintenance alarm is in ALARM, nobody is paged, and only then.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { repeated } from "./formats";
import { allOf, Gate } from "./gate";

export type Level = 1 | 2 | 3;

interface MetricRef {
    namespace: string;
    name: string;
    dimensions: Record<string, pulumi.Input<string>>;
}

/** What sends an alarm's metric: the README's alarm table names it, and a test checks each one. */
export type Publisher =
    /** A Sofia host script (its command), on the host. */
    | { by: "host"; script: string }
    /** The CloudWatch agent's own host metrics. */
    | { by: "agent" }
    /** The CloudWatch agent's Prometheus scrape of a catalog service (an assumed contract of its image). */
    | { by: "scrape"; service: string }
    /** A metric filter on a catalog service's log group. */
    | { by: "log-filter"; service: string }
    /** AWS itself. */
    | { by: "aws"; service: "EC2" | "SNS" | "Synthetics" | "EventBridge" | "ECS" | "ELB" | "ElastiCache" };

export interface AlarmSpec {
    /** Short, unique; the alarm is named `<prefix>-<id>`. */
    id: string;
    level: Level;
    /** What it means and what to do first; shown in every notification. */
    description: string;
    /** One metric with a statistic (or a percentile, which needs raw data points)... */
    metric?: MetricRef & ({ statistic: string; extendedStatistic?: never } | { extendedStatistic: string; statistic?: never });
    /** ...or a metric-math expression over metrics. */
    expression?: { expression: string; label: string; metrics: (MetricRef & { id: string; statistic: string })[] };
    comparison: "GreaterThanOrEqualToThreshold" | "GreaterThanThreshold" | "LessThanThreshold" | "LessThanOrEqualToThreshold";
    threshold: number;
    period: number;
    evaluationPeriods: number;
    datapointsToAlarm?: number;
    /** Deliberate per alarm: does silence mean trouble? */
    treatMissingData: "breaching" | "notBreaching" | "missing" | "ignore";
    /** Who sends the metric. */
    publisher: Publisher;
    /** What a period without data means here, in words (the README's alarm table). */
    silence: string;
    /**
     * Level 3 only: whether its page also goes to on-call's topic. @default true. An alarm about
     * on-call's own deliveries does not: each failed delivery of its page would count as another
     * failure, and its state would flap for as long as the endpoint is broken.
     */
    pagesOncall?: boolean;
    /** Whether promotion's soak counts it (an alarm that is in ALARM by design, until someone acts, does not). @default true */
    soaks?: boolean;
    /** Level 1 only: what AWS does by itself. */
    automatic?: "recover" | "reboot";
}

export interface EscalationArgs {
    /** The system's name, in the topics' display names ("<title> level 2: on-call"). */
    title: string;
    /** Alarm and topic names start with this (e.g. "sofia-prod"). */
    prefix: string;
    /** The region the alarms live in (the dashboard links to it). */
    region: string;
    /** Every alarm, as data: its level decides where it goes. */
    alarms: AlarmSpec[];
    /** Level 2: an HTTPS endpoint that pages on-call (secret). @default none: the topic has no subscriber, which is itself a level 3 alarm */
    oncallEndpoint?: pulumi.Input<string>;
    /**
     * The EventBridge rules (names) that publish to the on-call topic besides the alarms, e.g. a
     * failed maintenance task. The topic's policy admits exactly these and this stack's alarms.
     * @default none
     */
    level2Rules?: string[];
    /** Level 3: e-mail addresses of senior engineers and security contacts. */
    level3Emails: string[];
    /** The metric that says a maintenance window or deploy is running (>= 1). */
    maintenanceMetric: { namespace: string; name: string; dimensions: Record<string, string> };
    /**
     * What the paging composites are created after: while it runs (a first deploy's maintenance
     * signal) a host that is still starting pages nobody. @default nothing
     */
    pagesAfter?: Gate;
    /** Level 3 composites: name and rule over the raw alarms' names (e.g. several systems failing). @default none */
    level3Rules?: { id: string; description: string; rule: (rawNames: Record<string, string>) => string }[];
    /** Tags for every taggable child. @default none */
    tags?: Record<string, string>;
}

/** The level 2 topic: on-call's pager subscribes to it (SNS reports its failed deliveries by this name). */
export function oncallTopicName(prefix: string): string {
    return `${prefix}-level2-oncall`;
}

/** The paging composite of an alarm (or level 3 rule) id. */
export function pageName(prefix: string, id: string): string {
    return `${prefix}-${id}-page`;
}

/** Throws on alarm specs CloudWatch would reject or that could never page the right people. */
export function validateAlarmSpecs(specs: AlarmSpec[]): void {
    const dup = repeated(specs.map((s) => s.id));
    if (dup.length) throw new Error(`alarms: ids used twice: ${dup.join(", ")}`);
    for (const s of specs) {
        if (!s.metric === !s.expression) throw new Error(`alarm ${s.id}: give either metric or expression`);
        if ((s.level === 1) !== (s.automatic !== undefined)) throw new Error(`alarm ${s.id}: level 1 alarms, and only they, act automatically`);
        if (s.datapointsToAlarm !== undefined && s.datapointsToAlarm > s.evaluationPeriods) throw new Error(`alarm ${s.id}: datapointsToAlarm ${s.datapointsToAlarm} > evaluationPeriods ${s.evaluationPeriods}`);
        if (![10, 30].includes(s.period) && s.period % 60 !== 0) throw new Error(`alarm ${s.id}: period ${s.period} must be 10, 30 or a multiple of 60`);
        if (s.period * s.evaluationPeriods > 86400) throw new Error(`alarm ${s.id}: period x evaluationPeriods exceeds one day`);
        if (!s.silence.trim()) throw new Error(`alarm ${s.id}: say what silence means`);
        if (s.pagesOncall === false && s.level !== 3) throw new Error(`alarm ${s.id}: only a level 3 alarm can leave on-call out (level 2 pages nobody else)`);
    }
}

/** The ARN AWS gives a resource of this account and region: known at preview, before it exists. */
export function arnOf(service: "sns" | "cloudwatch" | "events", region: string, account: string, resource: string): string {
    return `arn:aws:${service}:${region}:${account}:${resource}`;
}

/**
 * A topic policy replaces SNS' default one, so it must admit every publisher itself: the alarms
 * that name the topic in their actions (CloudWatch's service principal) and the EventBridge rules
 * that target it, each by its exact ARN and only from this account (the confused-deputy
 * conditions AWS documents for both services). Anyone else is refused.
 */
export function topicPolicyDocument(topicArn: string, account: string, publishers: { alarms: string[]; rules: string[] }): string {
    const statement = (sid: string, service: string, sources: string[]) => ({
        Sid: sid,
        Effect: "Allow",
        Principal: { Service: service },
        Action: "sns:Publish",
        Resource: topicArn,
        Condition: { ArnEquals: { "aws:SourceArn": sources }, StringEquals: { "aws:SourceAccount": account } },
    });
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            ...(publishers.alarms.length ? [statement("AlarmsOfThisStack", "cloudwatch.amazonaws.com", publishers.alarms)] : []),
            ...(publishers.rules.length ? [statement("EventRulesOfThisStack", "events.amazonaws.com", publishers.rules)] : []),
        ],
    });
}

export class Escalation extends pulumi.ComponentResource {
    readonly topics: Record<2 | 3, aws.sns.Topic>;
    /** The topics' ARNs, built from the account and region so that they are known at preview. */
    readonly topicArns: Record<2 | 3, pulumi.Output<string>>;
    /** Raw metric alarms by spec id. */
    readonly alarms: Record<string, aws.cloudwatch.MetricAlarm> = {};
    readonly maintenance: aws.cloudwatch.MetricAlarm;
    /** One policy per topic: two would overwrite each other (SNS keeps one). */
    private readonly policies: aws.sns.TopicPolicy[];

    constructor(name: string, args: EscalationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:monitoring:Escalation", name, {}, opts);
        validateAlarmSpecs(args.alarms);
        const child = { parent: this };
        const tags = args.tags ?? {};

        const account = aws.getCallerIdentityOutput({}, child).accountId;
        const topicNames = { 2: oncallTopicName(args.prefix), 3: `${args.prefix}-level3-senior` } as const;
        this.topics = {
            2: new aws.sns.Topic(`${name}-level2`, { name: topicNames[2], displayName: `${args.title} level 2: on-call`, tags }, child),
            3: new aws.sns.Topic(`${name}-level3`, { name: topicNames[3], displayName: `${args.title} level 3: senior and security`, tags }, child),
        };
        this.topicArns = {
            2: account.apply((a) => arnOf("sns", args.region, a, topicNames[2])),
            3: account.apply((a) => arnOf("sns", args.region, a, topicNames[3])),
        };
        if (args.oncallEndpoint) {
            // The provider waits until the endpoint confirms (PagerDuty and the like do at once):
            // an update that cannot reach on-call fails instead of leaving a pending subscription.
            new aws.sns.TopicSubscription(
                `${name}-oncall`,
                { topic: this.topics[2].arn, protocol: "https", endpoint: args.oncallEndpoint, endpointAutoConfirms: true, confirmationTimeoutInMinutes: 5 },
                child,
            );
        }
        args.level3Emails.forEach((email, i) => {
            new aws.sns.TopicSubscription(`${name}-level3-email-${i}`, { topic: this.topics[3].arn, protocol: "email", endpoint: email }, child);
        });

        // Who publishes to each topic: every paging composite of its level (level 3 pages both),
        // and the rules given. Their names are fixed here, so the policies exist before any of them.
        const pages = [
            ...args.alarms.filter((s) => s.level >= 2).map((s) => ({ id: s.id, level: s.level as 2 | 3, oncall: s.pagesOncall !== false })),
            ...(args.level3Rules ?? []).map((r) => ({ id: r.id, level: 3 as const, oncall: true })),
        ];
        this.policies = ([2, 3] as const).map(
            (level) =>
                new aws.sns.TopicPolicy(
                    `${name}-level${level}-publishers`,
                    {
                        arn: this.topics[level].arn,
                        policy: pulumi.all([this.topicArns[level], account]).apply(([topic, a]) =>
                            topicPolicyDocument(topic, a, {
                                alarms: pages.filter((p) => p.level >= level && (level === 3 || p.oncall)).map((p) => arnOf("cloudwatch", args.region, a, `alarm:${pageName(args.prefix, p.id)}`)),
                                rules: level === 2 ? (args.level2Rules ?? []).map((r) => arnOf("events", args.region, a, `rule/${r}`)) : [],
                            }),
                        ),
                    },
                    { parent: this.topics[level] },
                ),
        );

        const m = args.maintenanceMetric;
        this.maintenance = new aws.cloudwatch.MetricAlarm(
            `${name}-maintenance`,
            {
                name: `${args.prefix}-maintenance-active`,
                alarmDescription: "Not a problem: a maintenance window or deploy is running. While this is in ALARM, nobody is paged.",
                namespace: m.namespace,
                metricName: m.name,
                dimensions: m.dimensions,
                statistic: "Maximum",
                period: 60,
                evaluationPeriods: 1,
                threshold: 1,
                comparisonOperator: "GreaterThanOrEqualToThreshold",
                treatMissingData: "notBreaching",
                tags,
            },
            child,
        );

        const rawNames: Record<string, string> = {};
        for (const spec of args.alarms) {
            const alarmName = `${args.prefix}-${spec.id}`;
            rawNames[spec.id] = alarmName;
            const automatic = spec.automatic ? [`arn:aws:automate:${args.region}:ec2:${spec.automatic}`] : [];
            this.alarms[spec.id] = new aws.cloudwatch.MetricAlarm(`${name}-${spec.id}`, { name: alarmName, ...this.metricArgs(spec), alarmActions: automatic, tags: { ...tags, Level: String(spec.level) } }, child);
            if (spec.level >= 2) this.page(name, args, spec.id, spec.level as 2 | 3, spec.description, `ALARM("${alarmName}")`, [this.alarms[spec.id]], spec.pagesOncall !== false);
        }
        for (const rule of args.level3Rules ?? []) {
            this.page(name, args, rule.id, 3, rule.description, rule.rule(rawNames), Object.values(this.alarms));
        }
        this.registerOutputs({ level2: this.topics[2].arn, level3: this.topics[3].arn });
    }

    private metricArgs(spec: AlarmSpec): Partial<aws.cloudwatch.MetricAlarmArgs> {
        const common = {
            alarmDescription: `Level ${spec.level}: ${spec.description}`,
            comparisonOperator: spec.comparison,
            threshold: spec.threshold,
            evaluationPeriods: spec.evaluationPeriods,
            datapointsToAlarm: spec.datapointsToAlarm,
            treatMissingData: spec.treatMissingData,
        };
        if (spec.metric) {
            const { namespace, name, dimensions, statistic, extendedStatistic } = spec.metric;
            return { ...common, namespace, metricName: name, dimensions, period: spec.period, statistic, extendedStatistic };
        }
        const e = spec.expression!;
        return {
            ...common,
            metricQueries: [
                ...e.metrics.map((q) => ({ id: q.id, returnData: false, metric: { namespace: q.namespace, metricName: q.name, dimensions: q.dimensions, period: spec.period, stat: q.statistic } })),
                { id: "e1", expression: e.expression, label: e.label, returnData: true },
            ],
        };
    }

    /** The composite that pages: level 2 reaches on-call, level 3 also the senior and security contacts. */
    private page(name: string, args: EscalationArgs, id: string, level: 2 | 3, description: string, rule: string, after: pulumi.Resource[], oncall = true): aws.cloudwatch.CompositeAlarm {
        const topics = level === 3 ? (oncall ? [this.topicArns[2], this.topicArns[3]] : [this.topicArns[3]]) : [this.topicArns[2]];
        return new aws.cloudwatch.CompositeAlarm(
            `${name}-${id}-page`,
            {
                alarmName: pageName(args.prefix, id),
                alarmDescription: `Level ${level}: ${description}`,
                alarmRule: rule,
                alarmActions: topics,
                okActions: topics,
                actionsSuppressor: { alarm: this.maintenance.name, waitPeriod: 120, extensionPeriod: 600 },
                tags: { ...(args.tags ?? {}), Level: String(level) },
            },
            // The rule names alarms that must exist first; the topics must admit it before it pages.
            { parent: this, dependsOn: allOf(after, this.policies, args.pagesAfter) },
        );
    }
}
