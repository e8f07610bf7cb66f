/**
 * Sofia's Grafana dashboard, built with Grafana's own foundation SDK from the alarm table and the
 * catalog: a panel per alarmed metric (its alarms' series, and the threshold drawn where they
 * fire), a row per family of metrics, the paper-trading PnL where the metrics server exports it,
 * and the catalog's data flow read from the time-series store. A new alarm is a new panel, with no
 * edit here.
 */
import { createHash } from "crypto";
import * as cog from "@grafana/grafana-foundation-sdk/cog";
import { CloudWatchMetricsQueryBuilder, MetricEditorMode, MetricQueryType } from "@grafana/grafana-foundation-sdk/cloudwatch";
import { GraphThresholdsStyleConfigBuilder, GraphThresholdsStyleMode } from "@grafana/grafana-foundation-sdk/common";
import { DashboardBuilder, DataSourceRef, RowBuilder, ThresholdsConfigBuilder, ThresholdsMode } from "@grafana/grafana-foundation-sdk/dashboard";
import { PanelBuilder } from "@grafana/grafana-foundation-sdk/timeseries";
import { AlarmSpec } from "../../components/escalation";
import { CatalogEntry } from "../../model/catalog";
import { APP_METRICS, BACKUP_METRICS, CERT_METRICS, HOST_METRICS, LOG_METRICS, metricsNamespace, PROBE_METRICS, STACK_DIMENSION } from "../../model/metrics";
import { Settings } from "../../model/settings";
import { sofiaAlarms } from "./alarms";
import { DATA_PATH } from "./layout";

/** The data sources the provisioning declares (topology/host/grafana.ts), by the uid panels name. */
export const DATASOURCES = {
    cloudwatch: { uid: "sofia-cloudwatch", type: "cloudwatch" },
    timeseries: { uid: "sofia-timeseries", type: "grafana-postgresql-datasource" },
} as const satisfies Record<string, DataSourceRef>;

export const DASHBOARD_UID = "sofia-overview";

/** Grafana refuses a uid over 40 characters (the dashboard would silently not load): a long stack name is shortened with its hash. */
export function dashboardUid(stack: string): string {
    const uid = `${DASHBOARD_UID}-${stack}`;
    return uid.length <= 40 ? uid : `${uid.slice(0, 31)}-${createHash("sha256").update(stack).digest("hex").slice(0, 8)}`;
}

/** A metric as a row tells it: its namespace and name. */
type Metric = { namespace: string; name: string };

/** Rows, in order: the first whose test holds takes a metric; the rest go to "Other". The ECS topology's own signals are AWS's. */
const ROWS: { title: string; has: (m: Metric) => boolean }[] = [
    { title: "Tasks (ECS)", has: (m) => m.namespace === "ECS/ContainerInsights" },
    { title: "Load balancer", has: (m) => m.namespace === "AWS/ApplicationELB" },
    { title: "Cache (ElastiCache)", has: (m) => m.namespace === "AWS/ElastiCache" },
    { title: "Services and Redis (host probe)", has: ({ name: m }) => (Object.values(PROBE_METRICS) as string[]).includes(m) },
    { title: "Market data, news and feeds (metrics server)", has: ({ name: m }) => (Object.values(APP_METRICS) as string[]).includes(m) },
    { title: "API latency and errors (logs)", has: ({ name: m }) => m === LOG_METRICS.apiLatency || m.startsWith(LOG_METRICS.errorLines("")) },
    { title: "Host", has: ({ name: m }) => (Object.values(HOST_METRICS) as string[]).includes(m) },
    { title: "Backups and DR test", has: ({ name: m }) => (Object.values(BACKUP_METRICS) as string[]).includes(m) },
    { title: "Certificate", has: ({ name: m }) => (Object.values(CERT_METRICS) as string[]).includes(m) },
];

/** Stands in for the instance id, which is known only once the host exists: its alarms are AWS's (EC2 status checks), not drawn. */
export const NOT_YET = "<instance>";

/** A, B, ... Z, A1, B1, ...: unique within a panel. */
const refId = (i: number) => String.fromCharCode(65 + (i % 26)) + (i >= 26 ? String(Math.floor(i / 26)) : "");

/** One series of an alarm: what its CloudWatch query reads. */
interface Series {
    alarm: AlarmSpec;
    namespace: string;
    name: string;
    dimensions: Record<string, string>;
    statistic: string;
}

/** Dimensions a query can name: every value known and not the instance's stand-in. */
const plain = (d: Record<string, unknown>) => Object.values(d).every((v) => typeof v === "string" && v !== NOT_YET);

function seriesOf(a: AlarmSpec): Series[] {
    if (a.metric && plain(a.metric.dimensions)) {
        return [{ alarm: a, namespace: a.metric.namespace, name: a.metric.name, dimensions: a.metric.dimensions as Record<string, string>, statistic: a.metric.statistic ?? a.metric.extendedStatistic! }];
    }
    return (a.expression?.metrics ?? []).filter((m) => plain(m.dimensions)).map((m) => ({ alarm: a, namespace: m.namespace, name: m.name, dimensions: m.dimensions as Record<string, string>, statistic: m.statistic }));
}

/** Queries read the data source's region, the stack's (topology/host/grafana.ts). */
const REGION = "default";

function cloudwatchQuery(x: Series, refId: string) {
    return new CloudWatchMetricsQueryBuilder()
        .refId(refId)
        .datasource(DATASOURCES.cloudwatch)
        .region(REGION)
        .namespace(x.namespace)
        .metricName(x.name)
        .dimensions(x.dimensions)
        .matchExact(true)
        .statistic(x.statistic)
        .period(String(x.alarm.period))
        .label(x.alarm.id)
        .metricQueryType(MetricQueryType.Search)
        .metricEditorMode(MetricEditorMode.Builder);
}

/**
 * A panel of every alarm on one metric and statistic: their series, and the first one's threshold
 * as a line, red on the side where it fires (below it for "less than" alarms such as health).
 */
function alarmPanel(title: string, series: Series[]): PanelBuilder {
    const alarms = [...new Map(series.map((x) => [x.alarm.id, x.alarm])).values()];
    return thresholdPanel(title, alarms).targets(series.map((x, i) => cloudwatchQuery(x, refId(i))));
}

/** The math query's id: no alarm's metric may take it. */
const MATH_ID = "alarm";

/**
 * An alarm on a math expression, as the alarm reads it: its metrics (hidden, by their ids) and the
 * expression over them, with its threshold (a threshold drawn over a raw count would mislead: a
 * singleton's "1 - running" fires at 1, where a running count of 1 is healthy).
 */
function expressionPanel(a: AlarmSpec): PanelBuilder {
    const { expression, label, metrics } = a.expression!;
    if (metrics.some((m) => m.id === MATH_ID)) throw new Error(`alarm ${a.id}: its metric id '${MATH_ID}' is the dashboard's math query's`);
    const hidden = metrics.map((m, i) => cloudwatchQuery({ alarm: a, namespace: m.namespace, name: m.name, dimensions: m.dimensions as Record<string, string>, statistic: m.statistic }, refId(i)).id(m.id).hide(true));
    const math = new CloudWatchMetricsQueryBuilder()
        .refId(refId(metrics.length))
        .datasource(DATASOURCES.cloudwatch)
        .region(REGION)
        .id(MATH_ID)
        .expression(expression)
        // Grafana refuses a metrics query without a statistic, a math one too (it is not used there).
        .statistic(metrics[0].statistic)
        .period(String(a.period))
        .label(label)
        .metricQueryType(MetricQueryType.Search)
        .metricEditorMode(MetricEditorMode.Code);
    return thresholdPanel(label, [a]).targets([...hidden, math]);
}

/** A panel with the first alarm's threshold as a line, red on the side where it fires. */
function thresholdPanel(title: string, alarms: AlarmSpec[]): PanelBuilder {
    const { threshold, comparison } = alarms[0];
    const firesBelow = comparison.startsWith("Less");
    return new PanelBuilder()
        .title(title)
        .description(alarms.map((a) => `${a.id} (level ${a.level}): ${a.description}`).join("\n\n"))
        .datasource(DATASOURCES.cloudwatch)
        .thresholds(
            new ThresholdsConfigBuilder()
                .mode(ThresholdsMode.Absolute)
                .steps(firesBelow ? [{ value: null, color: "red" }, { value: threshold, color: "green" }] : [{ value: null, color: "green" }, { value: threshold, color: "red" }]),
        )
        .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Line));
}

/** The catalog's writers' rows per minute, straight from the store (the runbook's "Verify data flow"). */
function dataFlowPanel(catalog: readonly CatalogEntry[], store: Settings["timeseriesStore"]): PanelBuilder | undefined {
    const writers = catalog.filter((e) => e.writes);
    if (!writers.length) return undefined;
    const sql = (w: CatalogEntry) => {
        const { table, timeColumn } = w.writes!;
        return store === "questdb"
            ? // FILL(0): a minute nobody wrote is a zero on the panel, not a line drawn across the gap.
              `SELECT ${timeColumn} AS time, count() AS "${w.name}" FROM ${table} WHERE $__timeFilter(${timeColumn}) SAMPLE BY 1m FILL(0) ALIGN TO CALENDAR`
            : `SELECT time_bucket_gapfill('1 minute', ${timeColumn}) AS time, COALESCE(count(*), 0) AS "${w.name}" FROM ${table} WHERE $__timeFilter(${timeColumn}) GROUP BY 1 ORDER BY 1`;
    };
    const queries = writers.map((w, i) => new SqlQuery(refId(i), sql(w)));
    return new PanelBuilder()
        .title("Rows written per minute")
        .description(`What the catalog's writers put into the ${store} store, per minute: ${writers.map((w) => `${w.name} into ${w.writes!.table}`).join(", ")}. A flat zero is the deploy's data-flow check failing.`)
        .datasource(DATASOURCES.timeseries)
        .targets(queries);
}

/**
 * A raw SQL query of Grafana's PostgreSQL data source (QuestDB speaks its wire protocol): the SDK
 * ships no builder for that data source, so this is the one query written by hand, as its type.
 */
class SqlQuery implements cog.Builder<cog.Dataquery> {
    constructor(
        private readonly refId: string,
        private readonly rawSql: string,
    ) {}
    build(): cog.Dataquery {
        return { refId: this.refId, datasource: DATASOURCES.timeseries, rawSql: this.rawSql, rawQuery: true, editorMode: "code", format: "time_series", _implementsDataqueryVariant() {} } as cog.Dataquery;
    }
}

/**
 * Sofia's overview dashboard of a stack, as Grafana's dashboard JSON model, from its alarm table:
 * the host topology's by default; the ECS topology gives its own, dimensions resolved.
 */
export function sofiaDashboard(catalog: CatalogEntry[], s: Settings, alarms: readonly AlarmSpec[] = sofiaAlarms(catalog, s, NOT_YET, DATA_PATH)) {
    // One panel per metric and statistic (a ratio beside a count of its samples would flatten it),
    // and one per math alarm, drawn as it reads.
    const panels = new Map<string, { metric: Metric; series: Series[]; math?: AlarmSpec }>();
    for (const a of alarms) {
        if (a.expression) {
            if (a.expression.metrics.every((m) => plain(m.dimensions))) panels.set(a.expression.label, { metric: a.expression.metrics[0], series: [], math: a });
            continue;
        }
        for (const x of seriesOf(a)) {
            const key = `${x.name} (${x.statistic})`;
            if (!panels.has(key)) panels.set(key, { metric: x, series: [] });
            panels.get(key)!.series.push(x);
        }
    }
    const rows = [...ROWS, { title: "Other", has: () => true }];
    const builder = new DashboardBuilder(`Sofia ${s.stack}`).uid(dashboardUid(s.stack)).tags(["sofia", s.stack]).refresh("1m").time({ from: "now-6h", to: "now" }).timezone("utc").readonly();
    const taken = new Set<string>();
    for (const row of rows) {
        const names = [...panels.keys()].filter((m) => !taken.has(m) && row.has(panels.get(m)!.metric));
        const extra = row.title.startsWith("Market data") ? [pnlPanel(s), dataFlowPanel(catalog, s.timeseriesStore)].filter((p) => p !== undefined) : [];
        if (!names.length && !extra.length) continue;
        builder.withRow(new RowBuilder(row.title));
        for (const m of names) {
            taken.add(m);
            const p = panels.get(m)!;
            builder.withPanel(p.math ? expressionPanel(p.math) : alarmPanel(m, p.series));
        }
        for (const p of extra) builder.withPanel(p);
    }
    return builder.build();
}

/** Paper-trading PnL, where the metrics server exports it (README, "Contracts": not required, so not alarmed). */
function pnlPanel(s: Settings): PanelBuilder {
    const query = new CloudWatchMetricsQueryBuilder()
        .refId("A")
        .datasource(DATASOURCES.cloudwatch)
        .region(REGION)
        .namespace(metricsNamespace(s.stack))
        .metricName(APP_METRICS.pnl)
        .dimensions({ [STACK_DIMENSION]: s.stack })
        .matchExact(true)
        .statistic("Average")
        .period("60")
        .label("PnL")
        .metricQueryType(MetricQueryType.Search)
        .metricEditorMode(MetricEditorMode.Builder);
    return new PanelBuilder()
        .title("Paper-trading PnL")
        .description(`${APP_METRICS.pnl} from the metrics server (the runbook's daily "Check paper trading PnL"); empty when the image does not export it.`)
        .datasource(DATASOURCES.cloudwatch)
        .unit("currencyUSD")
        .targets([query]);
}
