/**
 * RUNBOOK.md, the operators' document, generated from the code (`npm run docs`; a test fails when
 * it differs): every alarm with its level, threshold, meaning, evidence and first actions, the
 * emergency levers, start and stop order, backup, restore and the DR test, the maintenance
 * windows, and escalation per stack. The README stays the engineers'.
 */
import { AlarmSpec } from "../../components/escalation";
import { sofiaCatalog } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { startStages, stopStages } from "../../model/start-order";
import { actionsFor, DIAGNOSTICS_DAYS, diagnosticsPrefix, PROCEDURES, Procedure } from "../../topology/host/alarm-actions";
import { alarmPrefix, sofiaAlarms } from "../../topology/host/alarms";
import { DATA_PATH } from "../../topology/host/layout";
import { leversTable } from "../../topology/host/levers";
import { maintenanceTable } from "../../topology/host/maintenance";
import { containerName } from "../../topology/host/store-config";

const COMPARISON: Record<AlarmSpec["comparison"], string> = {
    GreaterThanOrEqualToThreshold: ">=",
    GreaterThanThreshold: ">",
    LessThanThreshold: "<",
    LessThanOrEqualToThreshold: "<=",
};

/** When an alarm fires, in one line: the statistic, the comparison, the threshold, over how long. */
function firesWhen(a: AlarmSpec): string {
    const stat = a.metric ? (a.metric.statistic ?? a.metric.extendedStatistic) : a.expression!.label;
    const name = a.metric ? a.metric.name : a.expression!.label;
    const of = a.datapointsToAlarm && a.datapointsToAlarm !== a.evaluationPeriods ? `${a.datapointsToAlarm} of ${a.evaluationPeriods}` : `${a.evaluationPeriods}`;
    return `${stat} of \`${name}\` ${COMPARISON[a.comparison]} ${a.threshold}, ${of} period(s) of ${a.period} s`;
}

/** The alarms of a stack, the per-service ones as one row each with `<service>` (in the words of the first service's page). */
function alarmRows(s: Settings): { shown: string; spec: AlarmSpec; perService: boolean }[] {
    const catalog = sofiaCatalog(s.timeseriesStore);
    const rows = new Map<string, { spec: AlarmSpec; perService: boolean }>();
    for (const a of sofiaAlarms(catalog, s, "<instance>", DATA_PATH)) {
        const service = catalog.find((e) => a.id.endsWith(`-${e.name}`) && /^(health|errors)-/.test(a.id));
        const shown = service ? a.id.replace(service.name, "<service>") : a.id;
        const general = (t: string) => (service ? t.replaceAll(service.name, "<service>") : t);
        if (!rows.has(shown)) rows.set(shown, { spec: service ? { ...a, description: general(a.description), metric: a.metric && { ...a.metric, name: general(a.metric.name) } } : a, perService: !!service });
    }
    return [...rows].map(([shown, r]) => ({ shown, ...r }));
}

function alarmSection(prod: Settings, staging: Settings): string {
    const other = new Map(alarmRows(staging).map((r) => [r.shown, r.spec]));
    const blocks = alarmRows(prod).map(({ shown, spec, perService }) => {
        const actions = actionsFor(spec.id);
        const st = other.get(shown);
        const stagingLine = !st ? "not in staging" : firesWhen(st) === firesWhen(spec) ? "the same in staging" : `staging: ${firesWhen(st)}`;
        return [
            `### \`${shown}\` (level ${spec.level})`,
            "",
            `- **Fires when** ${firesWhen(spec)} (prod; ${stagingLine}).`,
            // The page's own text, less its evidence sentence (the next line says it for every stack).
            `- **Means** ${spec.description.replace(/ Evidence: the \w+ bundle, .*$/, "")}${perService ? " (In the words of one service's page: each names its own service, log group and check.)" : ""}`,
            `- **Evidence** ${actions.procedure ? `the ${actions.procedure} bundle (${PROCEDURES[actions.procedure]}), collected when it fired: \`${diagnosticsPrefix("<stack>")}/${actions.procedure}/\` in the backup bucket, its summary in \`/sofia/<stack>/maintenance\`.` : "no bundle: the alarm's own metric and the command below."}`,
            `- **First** ${actions.first.map((f, i) => `${i + 1}. ${f}`).join(" ")}`,
            "",
        ].join("\n");
    });
    return blocks.join("\n");
}

function escalation(s: Settings): string {
    const level3 = alarmRows(s).filter((r) => r.spec.level === 3).map((r) => `\`${r.shown}\``);
    const paging = s.secrets.oncallEndpoint ? "its endpoint (the `oncallEndpoint` secret)" : "nobody yet: `oncallEndpoint` is not set, which is itself a level 3 alarm";
    return [
        `**${s.stack}**: level 1 is AWS acting by itself (EC2 recovery and reboot) and is only recorded;`,
        `level 2 pages on-call through \`${alarmPrefix(s.stack)}-level2-oncall\`, which reaches ${paging};`,
        `level 3 (${[...level3, "`several-systems-failing`, two services down at once"].join(", ")}) e-mails ${[...s.escalation.seniorEmails, ...s.escalation.securityEmails].map((e) => `\`${e}\``).join(", ") || "nobody (set `escalation.seniorEmails`)"}.`,
        "Pages are suppressed while a maintenance window, deploy or restore holds the maintenance signal.",
    ].join(" ");
}

function procedures(): string {
    const what: Record<Procedure, string> = {
        latency: "load, memory, disk; `redis-cli --latency` for 10 s and `INFO stats`; ticks written in the last minute; connection counts; the API's last errors",
        memory: "load, memory, disk; every container's memory sampled four times over a minute; Redis `INFO memory`; the biggest processes",
        websocket: "the metrics server's reconnect, websocket and staleness lines; the feeds' last ERROR, disconnect and reconnect lines; ticks written in the last minute",
        outage: "every service's state, Docker's view, every container's last 50 lines, ticks written in the last minute",
    };
    return [
        "| procedure (runbook) | collects | by hand |",
        "| --- | --- | --- |",
        ...(Object.keys(PROCEDURES) as Procedure[]).map((p) => `| \`${p}\` (${PROCEDURES[p]}) | ${what[p]} | \`sofia-diagnose ${p} --force\` on the host |`),
    ].join("\n");
}

/** The whole of RUNBOOK.md for the shipped stacks. */
export function runbook(prod: Settings, staging: Settings): string {
    const catalog = sofiaCatalog(prod.timeseriesStore);
    const stages = (list: string[][]) => list.map((st, i) => `${i + 1}. ${st.map((n) => `\`${containerName({ name: n })}\``).join(", ")}`).join("\n");
    return [
        "# Sofia V2 runbook",
        "",
        "<!-- Generated by npm run docs from the code (scripts/docs/runbook-doc.ts); do not edit: a test fails when it differs. -->",
        "",
        "The operators' document: what each page means and what to do first, the levers, the order of things,",
        "and the scheduled care. Everything here is generated from the stack's own code and settings; the",
        "README is the engineers' document.",
        "",
        "## Escalation",
        "",
        escalation(prod),
        "",
        escalation(staging),
        "",
        "## Alarms",
        "",
        "Each alarm with its level, when it fires, what it means, the evidence collected for it, and what",
        "to do first. `<service>` stands for each service of the catalog; `<stack>` for prod or staging.",
        "",
        alarmSection(prod, staging),
        "## Diagnostics bundles",
        "",
        `Collected on the host by \`sofia-diagnose\` the moment an alarm of its procedure enters ALARM (an EventBridge rule runs its SSM document), never during a maintenance window or deploy. Each is one \`.tar.gz\` under \`${diagnosticsPrefix("<stack>")}/<procedure>/<time>-<alarm>.tar.gz\` in the backup bucket (the \`backups\` output's bucket), kept ${DIAGNOSTICS_DAYS} days; its summary line is in the log group \`/sofia/<stack>/maintenance\`.`,
        "",
        procedures(),
        "",
        "## Emergency levers",
        "",
        leversTable(),
        "",
        "## Start and stop order",
        "",
        "Start (boot, `sofia-services start`, a deploy): each stage only once the one before is healthy.",
        "",
        stages(startStages(catalog)),
        "",
        "Stop (`sofia-services stop`, destroy): the reverse, each container with its grace period.",
        "",
        stages(stopStages(catalog)),
        "",
        "## Backup, restore, disaster-recovery test",
        "",
        ...[prod, staging].map(
            (s) =>
                `- **${s.stack}**: full backups \`${s.backup.schedule}\`, kept ${s.backup.retentionDays} days; ${s.backup.redisSchedule ? `Redis alone \`${s.backup.redisSchedule}\`, kept ${s.backup.redisRetentionDays} days` : "no Redis-only backups"}${s.backup.objectLock ? "; Object Lock on (nobody deletes a backup early)" : ""}.`,
        ),
        "- On the host: `sofia-backup list`, `sofia-backup run` (a backup now), `sofia-restore --verify-only latest` (check without restoring).",
        "- Restore is a stack update: `pulumi config set restore.from <backup id or latest>` (prod also `pulumi config set restore.confirm prod`), then `pulumi up`. The live data is kept beside the restored data until the restore verifies; a restore that fails puts it back.",
        "- The disaster-recovery test restores the latest backup into scratch space every month (the monthly window below) and alarms when it fails or is slower than the recovery-time objective.",
        "",
        "## Maintenance windows",
        "",
        "prod:",
        "",
        maintenanceTable(prod),
        "",
        "staging:",
        "",
        maintenanceTable(staging),
        "",
    ].join("\n");
}
