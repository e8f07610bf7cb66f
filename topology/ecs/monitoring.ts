/**
 * The ECS topology's monitoring, under the host topology's component type and name: the log groups,
 * the escalation (topics, alarms, pages) and the dashboard keep their URNs, so a stack moving from
 * `host` to `ecs` updates them in place instead of creating twins under AWS names that exist (a
 * log group or alarm of the same name fails CreateLogGroup, and the delete at the end would remove
 * the very names the new ones use). The dashboard is drawn from the alarm table itself: one graph
 * per alarm, its threshold on it.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { AlarmSpec, Escalation } from "../../components/escalation";
import { failureRuleName } from "../../components/maintenance-window";
import { CatalogEntry } from "../../model/catalog";
import { MAINTENANCE_METRIC, metricsNamespace, STACK_DIMENSION } from "../../model/metrics";
import { Settings } from "../../model/settings";
import { alarmPrefix } from "../host/alarms";
import { HOST_NAMING } from "../host/layout";
import { logGroupName, serviceLogGroups } from "../host/monitoring";

type Dimensions = Record<string, pulumi.Input<string>>;

/** A CloudWatch dashboard's metric row: namespace, name, dimension pairs, then its options. */
function metricRow(m: { namespace: string; name: string; dimensions?: Dimensions }, options: object): pulumi.Output<unknown[]> {
    return pulumi.all(Object.entries(m.dimensions ?? {}).map(([k, v]) => pulumi.output(v).apply((x) => [k, x]))).apply((pairs) => [m.namespace, m.name, ...pairs.flat(), options]);
}

/** One graph per alarm, as the alarm reads its metric (statistic, period, expression), with its threshold. */
export function alarmDashboard(specs: readonly AlarmSpec[], region: string, prefix: string): pulumi.Output<string> {
    const widgets = specs.map((a) => {
        const rows: pulumi.Output<unknown[]>[] = a.metric
            ? [metricRow(a.metric, { stat: a.metric.statistic ?? a.metric.extendedStatistic })]
            : [pulumi.output([{ expression: a.expression!.expression, label: a.expression!.label, id: "e1" }]), ...a.expression!.metrics.map((m) => metricRow(m, { id: m.id, stat: m.statistic, visible: false }))];
        return pulumi.all(rows).apply((metrics) => ({
            type: "metric",
            width: 8,
            height: 6,
            properties: { title: `${prefix}-${a.id} (level ${a.level})`, region, period: a.period, view: "timeSeries", metrics, annotations: { horizontal: [{ value: a.threshold, label: "alarm" }] } },
        }));
    });
    return pulumi.all(widgets).apply((w) => JSON.stringify({ widgets: w }));
}

export interface EcsMonitoringArgs {
    settings: Settings;
    /** The entries whose containers or tasks log (stores on the store host, the apps on ECS). */
    catalog: readonly CatalogEntry[];
    tags: Record<string, string>;
}

/**
 * Its log groups exist before the tasks that write to them; its alarms (`escalate`) once what
 * they watch exists (the cluster, the load balancer, the cache), under the same component.
 */
export class EcsMonitoring extends pulumi.ComponentResource {
    readonly logGroups: Record<string, pulumi.Output<string>>;
    private readonly name: string;
    private readonly args: EcsMonitoringArgs;

    constructor(name: string, args: EcsMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        // The host topology's type: the same URNs for what both declare.
        super("sofia:monitoring:SofiaMonitoring", name, {}, opts);
        this.name = name;
        this.args = args;
        const { settings: s, tags } = args;
        this.logGroups = serviceLogGroups(name, args.catalog, s, tags, this);
        // Where the metrics server's scrape lands (scrape.ts), as on the host.
        new aws.cloudwatch.LogGroup(`${name}-logs-prometheus`, { name: logGroupName(s.stack, "prometheus"), retentionInDays: s.logRetentionDays, tags }, { parent: this });
        this.registerOutputs({});
    }

    /** The alarms with their escalation, and the dashboard drawn from them. */
    escalate(alarms: AlarmSpec[]): Escalation {
        const { settings: s, tags } = this.args;
        const name = this.name;
        const child = { parent: this };
        const prefix = alarmPrefix(s.stack);
        const escalation = new Escalation(
            `${name}-escalation`,
            {
                title: HOST_NAMING.title,
                prefix,
                region: s.region,
                alarms,
                oncallEndpoint: s.secrets.oncallEndpoint,
                level3Emails: [...s.escalation.seniorEmails, ...s.escalation.securityEmails],
                maintenanceMetric: { namespace: metricsNamespace(s.stack), name: MAINTENANCE_METRIC, dimensions: { [STACK_DIMENSION]: s.stack } },
                level2Rules: [failureRuleName(prefix)],
                tags,
            },
            child,
        );
        new aws.cloudwatch.Dashboard(`${name}-dashboard`, { dashboardName: `sofia-${s.stack}`, dashboardBody: alarmDashboard(alarms, s.region, prefix) }, child);
        return escalation;
    }
}
