/**
 * Diagnostics collected when a page fires (the runbook's "Debugging Procedures"): one SSM document
 * per procedure, run on the host by an EventBridge rule the moment one of its alarms enters ALARM
 * (components/alarm-commands.ts), collecting what host/sofia-diagnose.sh collects into a bundle in
 * the backup bucket and a summary in the maintenance log group. Outside maintenance windows and
 * deploys only: the script looks at the maintenance signal first.
 */
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { AlarmCommand } from "../../components/alarm-commands";
import { HostFilesPart } from "../../components/host-files";
import { hostScript } from "../../components/project-root";
import { CatalogEntry } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { diagnosticsPrefix, PROCEDURES, Procedure, procedureOf } from "./alarm-actions";
import { alarmPrefix, sofiaAlarms } from "./alarms";
import { DATA_PATH, DIAGNOSE_BIN, DIAGNOSE_ENV, shellDefaults } from "./layout";
import { hostEnvFile } from "./services-files";
import { containerName, logGroupName, passwordFile } from "./store-config";

/** Seconds one section of a bundle may take; the whole run stays within the document's timeout. */
const SECTION_SECONDS = 60;
/** Container memory sampled this many times, this many seconds apart (the runbook's "Monitor memory over time"). */
const MEMORY_SAMPLES = 4;
const MEMORY_INTERVAL = 20;
/** Seconds of `redis-cli --latency` samples (the runbook runs it until interrupted). */
const LATENCY_SECONDS = 10;
/** One bundle per procedure in this time: an outage fires most of its alarms within a minute. */
export const COOLDOWN_SECONDS = 600;
/** What SSM lets a run take: every section at its limit, and the upload. */
export const DIAGNOSE_TIMEOUT_SECONDS = 900;

/** diagnose.env: where bundles and summaries go, and what the procedures look at, from the catalog. */
export function diagnoseEnv(catalog: readonly CatalogEntry[], s: Pick<Settings, "stack" | "region">, bucket: string): string {
    const entry = (name: string) => {
        const e = catalog.find((x) => x.name === name);
        if (!e) throw new Error(`catalog: the diagnostics read ${name}, which the catalog does not have`);
        return e;
    };
    const metrics = entry("metrics").health;
    if (!metrics) throw new Error("catalog: the metrics server has no HTTP port for the diagnostics to read /metrics on");
    // The feeds: what the writers write from (the catalog's `writes` and the apps they start after).
    const writers = catalog.filter((e) => e.writes);
    const feeds = writers.flatMap((w) => w.startsAfter.filter((n) => catalog.find((x) => x.name === n)?.kind === "app"));
    const values: Record<string, string> = {
        DIAG_BUCKET: bucket,
        DIAG_PREFIX: diagnosticsPrefix(s.stack),
        DIAG_LOG_GROUP: logGroupName(s.stack, "maintenance"),
        AWS_REGION_NAME: s.region,
        REDIS_CONTAINER: containerName(entry("redis")),
        REDIS_PASSWORD_FILE: passwordFile("redis"),
        METRICS_URL: `http://127.0.0.1:${metrics.port}/metrics`,
        API_CONTAINER: containerName(entry("api")),
        FEED_CONTAINERS: [...new Set(feeds)].map((n) => containerName({ name: n })).join(","),
        MEMORY_SAMPLES: String(MEMORY_SAMPLES),
        MEMORY_INTERVAL: String(MEMORY_INTERVAL),
        LATENCY_SECONDS: String(LATENCY_SECONDS),
        COOLDOWN_SECONDS: String(COOLDOWN_SECONDS),
        SECTION_SECONDS: String(SECTION_SECONDS),
    };
    return shellDefaults("diagnose.env", "topology/host/diagnostics.ts", values, /^[A-Za-z0-9@._:/,+-]+$/);
}

/** The host files part: the script and its configuration. */
export function diagnosticsHostFiles(catalog: readonly CatalogEntry[], s: Pick<Settings, "stack" | "region">, bucket: pulumi.Input<string>): HostFilesPart {
    return {
        name: "diagnostics",
        files: [
            hostEnvFile(),
            { path: DIAGNOSE_ENV, content: pulumi.output(bucket).apply((b) => diagnoseEnv(catalog, s, b)) },
            { path: DIAGNOSE_BIN, content: fs.readFileSync(hostScript("sofia-diagnose.sh"), "utf8"), mode: "0755" },
        ],
        afterInstall: [],
    };
}

/** One command per procedure some alarm collects, with the alarms (full names) that run it. */
export function diagnosticsCommands(catalog: CatalogEntry[], s: Settings): AlarmCommand[] {
    const alarms = sofiaAlarms(catalog, s, "<instance>", DATA_PATH);
    return (Object.keys(PROCEDURES) as Procedure[])
        .map((procedure) => ({
            id: `diagnose-${procedure}`,
            description: `Sofia: collect the ${PROCEDURES[procedure]} bundle when one of its alarms fires`,
            command: `${DIAGNOSE_BIN} ${procedure}`,
            alarmNames: alarms.filter((a) => procedureOf(a.id) === procedure).map((a) => `${alarmPrefix(s.stack)}-${a.id}`),
            timeoutSeconds: DIAGNOSE_TIMEOUT_SECONDS,
        }))
        .filter((c) => c.alarmNames.length > 0);
}
