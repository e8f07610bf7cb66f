/**
 * The Sofia V2 service catalog: the single source of truth for what Sofia is made of.
 *
 * Every other list in this repository (containers and their start order, the security group's
 * published ports, the host scripts' service lists, backups, alarms) is derived from here.
 * Adding a service is one entry in `entries` below.
 */

/** Where a container port may be reached from. */
export type Publish =
    /** Only other containers on Sofia's private Docker network. */
    | "private"
    /** The host's loopback too (host scripts, the CloudWatch agent); never beyond the host. */
    | "loopback"
    /** The configured client CIDRs, through the host's security group. */
    | "clients";

export interface PortSpec {
    /** What the port carries, e.g. "http", "pg-wire". */
    name: string;
    /** The port inside the container (also used on the host: names and ports are fixed). */
    port: number;
    publish: Publish;
}

/** An HTTP endpoint the host can call to ask a service whether it is healthy. */
export interface HttpProbe {
    port: number;
    path: string;
}

/** Which time-series store a stack runs: the runbook allows either ("If using TimescaleDB"). */
export type TimeseriesStore = "questdb" | "timescaledb";

export interface CatalogEntry {
    /** Stable name: container name, settings key under `images`, alarm and log-group suffix. */
    name: string;
    /** One line for the plan and the generated docs. */
    description: string;
    /** Data stores hold state that backups and restores care about; apps are stateless. */
    kind: "store" | "app";
    /**
     * A pinned upstream image for stores, so a stack needs no setting for them. Apps have no
     * default: their image references are the release and come from stack settings.
     */
    defaultImage?: string;
    /** The process the container runs, as the runbook starts it. */
    command?: string[];
    ports: PortSpec[];
    /** The `/health` endpoint the host verifies after every start, if the service has one. */
    health?: HttpProbe;
    /** Names of the entries that must be healthy before this one starts. */
    startsAfter: string[];
    /** Seconds between SIGTERM and SIGKILL when the service is stopped. */
    stopGraceSeconds: number;
    /** Hard memory limit for the container, in MiB. */
    memoryMb: number;
    /** Only present in the catalog when the stack's `timeseriesStore` setting selects it. */
    onlyWith?: TimeseriesStore;
}

/** The time-series store's name, whichever one the stack chose: what later stages wait for. */
const TS = "$timeseries";

const entries: CatalogEntry[] = [
    {
        name: "redis",
        description: "Cache and live state (quotes, order books, paper-trading positions)",
        kind: "store",
        defaultImage: "redis:7.4.2",
        ports: [{ name: "redis", port: 6379, publish: "loopback" }],
        startsAfter: [],
        stopGraceSeconds: 30,
        memoryMb: 2048,
    },
    {
        name: "questdb",
        description: "Time-series store (ticks table)",
        kind: "store",
        onlyWith: "questdb",
        defaultImage: "questdb/questdb:9.0.3",
        ports: [
            { name: "http", port: 9000, publish: "loopback" },
            { name: "pg-wire", port: 8812, publish: "loopback" },
            { name: "ilp", port: 9009, publish: "private" },
            { name: "health", port: 9003, publish: "loopback" },
        ],
        health: { port: 9003, path: "/" },
        startsAfter: [],
        stopGraceSeconds: 60,
        memoryMb: 4096,
    },
    {
        name: "timescaledb",
        description: "Time-series store on PostgreSQL (ticks hypertable), the alternative to QuestDB",
        kind: "store",
        onlyWith: "timescaledb",
        defaultImage: "timescale/timescaledb:2.17.2-pg16",
        ports: [{ name: "postgres", port: 5432, publish: "loopback" }],
        startsAfter: [],
        stopGraceSeconds: 60,
        memoryMb: 4096,
    },
    {
        name: "metrics",
        description: "Metrics server (/metrics for Prometheus scrapes, /health)",
        kind: "app",
        command: ["python", "monitoring/metrics_server.py"],
        ports: [{ name: "http", port: 8000, publish: "loopback" }],
        health: { port: 8000, path: "/health" },
        startsAfter: ["redis", TS],
        stopGraceSeconds: 10,
        memoryMb: 256,
    },
    {
        name: "crypto-ws",
        description: "Crypto websocket ingestor (soft restart on SIGUSR1)",
        kind: "app",
        command: ["python", "ingestors/crypto_ws.py"],
        ports: [],
        startsAfter: ["metrics"],
        stopGraceSeconds: 15,
        memoryMb: 512,
    },
    {
        name: "equities",
        description: "Equities puller (EQUITY_PRIMARY, yahoo as the fallback)",
        kind: "app",
        command: ["python", "ingestors/equities_pull.py"],
        ports: [],
        startsAfter: ["metrics"],
        stopGraceSeconds: 15,
        memoryMb: 512,
    },
    {
        name: "ts-writer",
        description: "Time-series writer (ticks into the time-series store)",
        kind: "app",
        command: ["python", "writers/ts_writer.py"],
        ports: [],
        startsAfter: ["crypto-ws", "equities"],
        stopGraceSeconds: 30,
        memoryMb: 512,
    },
    {
        name: "news",
        description: "News RSS aggregator",
        kind: "app",
        command: ["python", "news/rss_agg.py"],
        ports: [],
        startsAfter: ["ts-writer"],
        stopGraceSeconds: 10,
        memoryMb: 256,
    },
    {
        name: "whale-alerts",
        description: "Whale-trade alerts",
        kind: "app",
        command: ["python", "alerts/whale_trade.py"],
        ports: [],
        startsAfter: ["ts-writer"],
        stopGraceSeconds: 10,
        memoryMb: 256,
    },
    {
        // The runbook's health checks name both 8013 and 8009; uvicorn is started on 8013, so
        // 8013 it is, everywhere, from here.
        name: "api",
        description: "Sofia API (uvicorn src.api.main:app)",
        kind: "app",
        command: ["uvicorn", "src.api.main:app", "--host", "0.0.0.0", "--port", "8013"],
        ports: [{ name: "http", port: 8013, publish: "clients" }],
        health: { port: 8013, path: "/health" },
        startsAfter: ["news", "whale-alerts"],
        stopGraceSeconds: 20,
        memoryMb: 1024,
    },
    {
        name: "ui",
        description: "Sofia UI (sofia_ui), served to the client CIDRs",
        kind: "app",
        ports: [{ name: "http", port: 8080, publish: "clients" }],
        health: { port: 8080, path: "/" },
        startsAfter: ["api"],
        stopGraceSeconds: 10,
        memoryMb: 256,
    },
];

/** Every name the catalog can contain, whichever store is chosen (for settings validation). */
export const allServiceNames: readonly string[] = entries.map((e) => e.name);

/** Names of entries that need an image reference from stack settings (no pinned default). */
export const releaseServiceNames: readonly string[] = entries.filter((e) => !e.defaultImage).map((e) => e.name);

/** Stores' pinned upstream images, by name. */
export const defaultImages: Readonly<Record<string, string>> = Object.fromEntries(
    entries.filter((e) => e.defaultImage).map((e) => [e.name, e.defaultImage as string]),
);

/** The catalog of one stack: the chosen time-series store, and `startsAfter` resolved to it. */
export function sofiaCatalog(store: TimeseriesStore): CatalogEntry[] {
    return entries
        .filter((e) => e.onlyWith === undefined || e.onlyWith === store)
        .map((e) => ({ ...e, startsAfter: e.startsAfter.map((n) => (n === TS ? store : n)) }));
}

/** Ports that the host's security group opens to the client CIDRs. */
export function clientPorts(catalog: readonly CatalogEntry[]): { service: string; port: PortSpec }[] {
    return catalog.flatMap((e) => e.ports.filter((p) => p.publish === "clients").map((port) => ({ service: e.name, port })));
}
