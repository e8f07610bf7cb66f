/**
 * The Sofia V2 service catalog: the single source of truth for what Sofia is made of.
 *
 * Every other list in this repository (containers and their start order, the security group's
 * published ports, the host scripts' service lists, backups, alarms) is derived from here.
 * Adding a service is one entry in `entries` below.
 */

import { LogFormat } from "./log-formats";
import { APP_METRICS } from "./metrics";

/** Where a container port may be reached from. */
export type Publish =
    /** Only other containers on Sofia's private Docker network. */
    | "private"
    /** The host's loopback too (host scripts, the CloudWatch agent); never beyond the host. */
    | "loopback"
    /**
     * The configured client CIDRs, through the host's security group and the front proxy: the
     * proxy owns the port for clients (maintenance page, TLS); the service itself listens on it
     * on the host's loopback only, for the host's own checks.
     */
    | "clients"
    /**
     * Like "clients", but for the operators only (`staffCidrs`): a tool's UI (Grafana). Never the
     * whole internet: staffCidrs are held to trusted networks, and empty by default (then the port
     * is reached through an SSM port-forwarding session to the host).
     */
    | "staff";

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

/**
 * How Docker decides a container is healthy (an argv run inside the container), and how long a
 * fresh container may take before failures count.
 */
export interface ContainerCheck {
    test: string[];
    startPeriodSeconds: number;
}

/**
 * What a backup takes of an entry: a Redis snapshot, a QuestDB checkpointed copy of its root, a
 * pg_dump, or the files of one of its volumes.
 */
export type BackupSpec = { kind: "redis" } | { kind: "questdb" } | { kind: "pg-dump" } | { kind: "files"; volume: string };

/** Which time-series store a stack runs: the runbook allows either ("If using TimescaleDB"). */
export type TimeseriesStore = "questdb" | "timescaledb";

export interface CatalogEntry {
    /** Stable name: container name, settings key under `images`, alarm and log-group suffix. */
    name: string;
    /** One line for the plan and the generated docs. */
    description: string;
    /**
     * Data stores hold state that backups and restores care about; apps are stateless and their
     * images are the release; the edge is the front proxy between clients and the apps; a tool is
     * an upstream program beside the apps (Grafana): pinned like a store, stateless like an app,
     * and not part of the release (a new dashboard is no release deploy).
     */
    kind: "store" | "app" | "edge" | "tool";
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
    /** Docker's health check; `dependsOn` waits for it, so it gates the next start stage. */
    check: ContainerCheck;
    /** Plain environment defaults (the runbook's values); stack settings may override them. */
    env?: Record<string, string>;
    /** Named Docker volumes (on the data volume) and where they are mounted. */
    volumes?: { name: string; path: string }[];
    /** What of it goes into every backup (the runbook's "Backup Procedures"). */
    backup?: BackupSpec;
    /** Stores: the env var prefix apps use to reach it (`REDIS` gives REDIS_HOST, REDIS_PORT, REDIS_PASSWORD). */
    connectionEnv?: string;
    /**
     * A tool takes a generated password of its own (its admin's), as a secret file its configuration
     * names (stores always get one). @default false
     */
    adminPassword?: boolean;
    /** Names of the entries that must be healthy before this one starts. */
    startsAfter: string[];
    /**
     * The entries it connects to (stores, or an app it calls): it shares a Docker network with each
     * of them and with nothing else, and gets only their connection env and password files. An
     * assumed contract of the image (README, "Contracts"). The front proxy's are its client ports'
     * services. @default none
     */
    talksTo?: string[];
    /**
     * It writes to the stores on its own, with no client asking (an ingestor, a writer): a release
     * deploy stops it before its backup and migrations, so both see data nobody is changing, and
     * starts it again before verifying. @default false
     */
    quiesce?: boolean;
    /** Seconds between SIGTERM and SIGKILL when the service is stopped. */
    stopGraceSeconds: number;
    /** Hard memory limit for the container, in MiB. */
    memoryMb: number;
    /**
     * vCPUs one task of it needs at least on ECS (its worker processes): the smallest Fargate size
     * with these and its memory. The host topology shares its cores among every container.
     * @default the least Fargate gives its memory (0.25 vCPU up to 2 GiB)
     */
    vcpus?: number;
    /** Only present in the catalog when the stack's `timeseriesStore` setting selects it. */
    onlyWith?: TimeseriesStore;
    /** How its log lines mark an error (model/log-formats.ts): its ERROR alarm counts those. */
    logFormat: LogFormat;
    /**
     * What Sofia's alarms assume of the image beyond the catalog, in one sentence each (README,
     * "Contracts"): an alarm that reads such a signal says so, and its silence for a day alarms.
     */
    contracts?: string[];
    /**
     * The contracts that can be checked on the host: lines the image must serve on its loopback
     * port (exactly, each on its own line). A deploy's verification fails naming the one missing.
     */
    serves?: { port: number; path: string; lines: string[] }[];
    /**
     * The one-shot command of this entry's image that migrates the stores' schema. A deploy that
     * changes the release runs it from the new image, to completion, before any app starts.
     */
    migration?: string[];
    /**
     * What it writes, which a deploy checks is arriving once everything runs (README, "Contracts"):
     * rows newer than a minute in `table` of the time-series store, by `timeColumn`, within
     * `withinSeconds` of the verification's start. The apps it starts after are the ones whose data
     * it writes: a failure names them too.
     */
    writes?: { table: string; timeColumn: string; withinSeconds: number };
    /**
     * How a browser tells that its theme is intact (README, "Contracts"; the runbook's "UI Theme
     * Broken"): on `path`, each marker's element exists and its computed style `property` has
     * `value`. The synthetic check loads the page through the front proxy and names the first marker
     * that differs; markers are the theme's own, never live data, so prices moving raise nothing.
     */
    theme?: { path: string; markers: ThemeMarker[] };
    /** Paths its clients need answered with 2xx, each within `maxMs` (the synthetic check, through the front proxy). */
    criticalPaths?: { path: string; maxMs: number }[];
}

export interface ThemeMarker {
    /** A CSS selector the page must have an element for. */
    selector: string;
    /** A CSS property of that element, as getComputedStyle reads it. */
    property: string;
    /** Its value, exactly as the browser computes it (colours as rgb(...)). */
    value: string;
}

/** The table of ticks: what the writer fills, the tuning keeps and a deploy checks is growing. */
export const TICKS_TABLE = "ticks";

/**
 * A Python worker that serves no HTTP: its command, and a check that its script is still in the
 * process table (the `[x]` keeps grep from matching its own command line). Whether its data flows
 * is the freshness alarm's job (stale_ratio), not Docker's.
 */
function pythonWorker(script: string): Pick<CatalogEntry, "command" | "check" | "logFormat" | "contracts"> {
    const pattern = `[${script[0]}]${script.slice(1)}`;
    return { command: ["python", script], check: { test: ["CMD-SHELL", `grep -qs '${pattern}' /proc/[0-9]*/cmdline`], startPeriodSeconds: 20 }, logFormat: "python", contracts: [PYTHON_LOG_CONTRACT] };
}

/** Sofia's own Python services log in one layout: their ERROR alarms read the level from it. */
const PYTHON_LOG_CONTRACT = "logs to stdout/stderr with Python logging in the layout its error lines are read in";

/** A service with an HTTP health endpoint on `port`, checked from inside a Python image (no curl needed). */
function pythonHttpService(port: number, path: string, publish: Publish, startPeriodSeconds = 30): Pick<CatalogEntry, "ports" | "health" | "check" | "logFormat" | "contracts"> {
    return {
        logFormat: "python",
        contracts: [PYTHON_LOG_CONTRACT],
        ports: [{ name: "http", port, publish }],
        health: { port, path },
        check: { test: ["CMD", "python", "-c", `import urllib.request; urllib.request.urlopen('http://127.0.0.1:${port}${path}', timeout=3)`], startPeriodSeconds },
    };
}

/** A check for images without an HTTP client: healthy once something listens on `port` (IPv4 or IPv6). */
function listening(port: number, startPeriodSeconds: number): ContainerCheck {
    const hex = port.toString(16).toUpperCase().padStart(4, "0");
    return { test: ["CMD-SHELL", `grep -q ':${hex} 0\\{8,32\\}:0000 0A' /proc/net/tcp /proc/net/tcp6`], startPeriodSeconds };
}

const API_PORT = 8013;
/** Grafana's own default port, kept: its docs and operators' muscle memory say 3000. */
const GRAFANA_PORT = 3000;
/** The proxy's own health listener, inside its container only. */
const PROXY_HEALTH_PORT = 8099;
const QUESTDB_HEALTH_PORT = 9003;
const UI_PORT = 8080;

/** The time-series store's name, whichever one the stack chose: what later stages wait for. */
const TIMESERIES_STORE = "$timeseries";

const entries: CatalogEntry[] = [
    {
        name: "redis",
        description: "Cache and live state (quotes, order books, paper-trading positions)",
        kind: "store",
        // Tag for the version, digest for the bytes (a moved tag cannot change what runs).
        defaultImage: "redis:7.4.2@sha256:fbdbaea47b9ae4ecc2082ecdb4e1cea81e32176ffb1dcf643d422ad07427e5d9",
        ports: [{ name: "redis", port: 6379, publish: "loopback" }],
        // REDISCLI_AUTH carries the password, so it never sits on a command line. PING answers
        // LOADING until the dataset is in memory, which takes minutes for a large one: a long start
        // period only delays counting failures, it does not delay "healthy".
        check: { test: ["CMD-SHELL", "redis-cli ping | grep -q PONG"], startPeriodSeconds: 300 },
        volumes: [{ name: "redis-data", path: "/data" }],
        connectionEnv: "REDIS",
        logFormat: "redis",
        backup: { kind: "redis" },
        startsAfter: [],
        stopGraceSeconds: 30,
        memoryMb: 2048,
    },
    {
        name: "questdb",
        description: "Time-series store (ticks table)",
        kind: "store",
        onlyWith: "questdb",
        defaultImage: "questdb/questdb:9.3.5@sha256:22ad030544f45a396c743124c928ce33de11666c104f63f69ce4e66e07e7b968",
        ports: [
            { name: "http", port: 9000, publish: "loopback" },
            { name: "pg-wire", port: 8812, publish: "loopback" },
            { name: "ilp", port: 9009, publish: "private" },
            { name: "health", port: QUESTDB_HEALTH_PORT, publish: "loopback" },
        ],
        health: { port: QUESTDB_HEALTH_PORT, path: "/" },
        // The QuestDB image has no curl or wget: healthy once its health server listens.
        check: listening(QUESTDB_HEALTH_PORT, 30),
        volumes: [{ name: "questdb-data", path: "/var/lib/questdb" }],
        connectionEnv: "QUESTDB",
        logFormat: "questdb",
        backup: { kind: "questdb" },
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
        check: { test: ["CMD", "pg_isready", "-U", "postgres"], startPeriodSeconds: 30 },
        volumes: [{ name: "timescaledb-data", path: "/var/lib/postgresql/data" }],
        connectionEnv: "TIMESCALEDB",
        logFormat: "postgres",
        backup: { kind: "pg-dump" },
        startsAfter: [],
        stopGraceSeconds: 60,
        memoryMb: 4096,
    },
    {
        name: "metrics",
        description: "Metrics server (/metrics for Prometheus scrapes, /health)",
        kind: "app",
        command: ["python", "monitoring/metrics_server.py"],
        ...pythonHttpService(8000, "/health", "loopback"),
        contracts: [
            PYTHON_LOG_CONTRACT,
            `exposes at /metrics, in the Prometheus text format, \`${APP_METRICS.staleRatio}\` typed gauge (share of instruments whose last tick is stale), \`${APP_METRICS.reconnects}\` typed counter, \`${APP_METRICS.newsAge}\` typed gauge (seconds since the newest stored news item was published) and \`${APP_METRICS.fallbackUp}\` typed gauge (1 when the equities fallback source answered its hourly check, else 0): the CloudWatch agent drops untyped metrics (checked by every deploy's verification)`,
            `may expose \`${APP_METRICS.pnl}\` typed gauge (paper trading's profit and loss in USD): the Grafana dashboard draws it where it is exported; nothing checks or alarms on it`,
        ],
        serves: [{ port: 8000, path: "/metrics", lines: [`# TYPE ${APP_METRICS.staleRatio} gauge`, `# TYPE ${APP_METRICS.reconnects} counter`, `# TYPE ${APP_METRICS.newsAge} gauge`, `# TYPE ${APP_METRICS.fallbackUp} gauge`] }],
        startsAfter: ["redis", TIMESERIES_STORE],
        talksTo: ["redis", TIMESERIES_STORE],
        stopGraceSeconds: 10,
        memoryMb: 256,
    },
    {
        name: "crypto-ws",
        ...pythonWorker("ingestors/crypto_ws.py"),
        description: "Crypto websocket ingestor (soft restart on SIGUSR1)",
        kind: "app",
        ports: [],
        startsAfter: ["metrics"],
        talksTo: ["redis"],
        quiesce: true,
        stopGraceSeconds: 15,
        memoryMb: 512,
    },
    {
        name: "equities",
        ...pythonWorker("ingestors/equities_pull.py"),
        description: "Equities puller (EQUITY_PRIMARY, yahoo as the fallback)",
        kind: "app",
        ports: [],
        startsAfter: ["metrics"],
        talksTo: ["redis"],
        quiesce: true,
        stopGraceSeconds: 15,
        memoryMb: 512,
    },
    {
        name: "ts-writer",
        ...pythonWorker("writers/ts_writer.py"),
        description: "Time-series writer (ticks into the time-series store)",
        kind: "app",
        ports: [],
        startsAfter: ["crypto-ws", "equities"],
        talksTo: ["redis", TIMESERIES_STORE],
        quiesce: true,
        stopGraceSeconds: 30,
        memoryMb: 512,
        // The runbook's own check after a deploy ("Verify data flow"): rows in ticks in the last minute.
        // Crypto trades around the clock: a minute without ticks is a broken feed, not a quiet market.
        writes: { table: TICKS_TABLE, timeColumn: "timestamp", withinSeconds: 180 },
    },
    {
        name: "news",
        ...pythonWorker("news/rss_agg.py"),
        description: "News RSS aggregator",
        kind: "app",
        ports: [],
        startsAfter: ["ts-writer"],
        talksTo: ["redis"],
        quiesce: true,
        stopGraceSeconds: 10,
        memoryMb: 256,
    },
    {
        name: "whale-alerts",
        ...pythonWorker("alerts/whale_trade.py"),
        description: "Whale-trade alerts",
        kind: "app",
        ports: [],
        startsAfter: ["ts-writer"],
        talksTo: ["redis", TIMESERIES_STORE],
        quiesce: true,
        stopGraceSeconds: 10,
        memoryMb: 256,
    },
    {
        // The runbook's health checks name both 8013 and 8009; uvicorn is started on 8013, so
        // 8013 it is, everywhere, from here.
        name: "api",
        description: "Sofia API (uvicorn src.api.main:app)",
        kind: "app",
        command: ["uvicorn", "src.api.main:app", "--host", "0.0.0.0", "--port", String(API_PORT)],
        ...pythonHttpService(API_PORT, "/health", "clients", 45),
        logFormat: "uvicorn",
        contracts: [
            PYTHON_LOG_CONTRACT,
            "writes one JSON line per request to stdout with `duration_ms` (milliseconds, a number): the latency alarm's only input",
        ],
        // The read endpoints the UI needs belong here too, as the API image names them.
        criticalPaths: [{ path: "/health", maxMs: 1000 }],
        // The runbook's "API Performance" values.
        env: { WORKERS: "4", REDIS_POOL_SIZE: "20", DB_POOL_SIZE: "10", API_CACHE_TTL: "5" },
        // The runbook backs up models/ ("AI models"); the API loads them.
        volumes: [{ name: "models", path: "/app/models" }],
        backup: { kind: "files", volume: "models" },
        // Assumed contract of the API image: an idempotent schema migration (see README, Release).
        migration: ["python", "-m", "src.db.migrate"],
        startsAfter: ["news", "whale-alerts"],
        talksTo: ["redis", TIMESERIES_STORE],
        stopGraceSeconds: 20,
        memoryMb: 1024,
        // Its four uvicorn workers (WORKERS) on one vCPU: the host's two cores carried the API and
        // everything else; the load balancer's autoscaling adds tasks beyond.
        vcpus: 1,
    },
    {
        name: "ui",
        description: "Sofia UI (sofia_ui), served to the client CIDRs",
        kind: "app",
        ports: [{ name: "http", port: UI_PORT, publish: "clients" }],
        health: { port: UI_PORT, path: "/" },
        check: { test: ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${UI_PORT}/`], startPeriodSeconds: 15 },
        logFormat: "python",
        contracts: [PYTHON_LOG_CONTRACT],
        // The sofia-dark theme (the UI's own extensions hold it): a dark page, marked on its root element.
        theme: {
            path: "/",
            markers: [
                { selector: 'html[data-theme="sofia-dark"]', property: "color-scheme", value: "dark" },
                { selector: "body", property: "background-color", value: "rgb(13, 17, 23)" },
            ],
        },
        criticalPaths: [{ path: "/", maxMs: 3000 }],
        // The runbook backs up sofia_ui/extensions: the UI's installed extensions.
        volumes: [{ name: "ui-extensions", path: "/app/sofia_ui/extensions" }],
        backup: { kind: "files", volume: "ui-extensions" },
        startsAfter: ["api"],
        talksTo: ["api"],
        stopGraceSeconds: 10,
        memoryMb: 256,
    },
    {
        // The runbook's hourly "Review Grafana dashboard": provisioned from the catalog and the alarm
        // table (topology/host/grafana.ts), behind the proxy like the API and UI. The image is
        // Alpine-based: busybox wget is there.
        name: "grafana",
        description: "Grafana: Sofia's dashboard (CloudWatch and the time-series store), for the operators (staffCidrs, or an SSM tunnel)",
        kind: "tool",
        defaultImage: "grafana/grafana:11.6.0@sha256:62d2b9d20a19714ebfe48d1bb405086081bc602aa053e28cf6d73c7537640dfb",
        ports: [{ name: "http", port: GRAFANA_PORT, publish: "staff" }],
        health: { port: GRAFANA_PORT, path: "/api/health" },
        check: { test: ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${GRAFANA_PORT}/api/health`], startPeriodSeconds: 60 },
        logFormat: "grafana",
        adminPassword: true,
        // It reads the time-series store for the data-flow panel; nothing writes through it.
        startsAfter: [TIMESERIES_STORE],
        talksTo: [TIMESERIES_STORE],
        stopGraceSeconds: 10,
        memoryMb: 512,
    },
    {
        // Up with the stores, before any app: while apps restart it answers clients with the
        // maintenance page instead of refused connections. Its client ports are the "clients"
        // ports of the entries above (see proxiedPorts); topology/host/proxy-config.ts is its nginx.conf.
        name: "proxy",
        description: "Front proxy (nginx): clients' way in to the API and UI; 503 maintenance page during deploys; TLS when a certificate is set",
        kind: "edge",
        defaultImage: "nginx:1.27.3-alpine@sha256:41523187cf7d7a2f2677a80609d9caa14388bf5c1fbca9c410ba3de602aaaab4",
        ports: [{ name: "health", port: PROXY_HEALTH_PORT, publish: "private" }],
        check: listening(PROXY_HEALTH_PORT, 10),
        logFormat: "nginx",
        startsAfter: [],
        stopGraceSeconds: 10,
        memoryMb: 128,
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

/** The memory limit of an entry, in MiB (settings check Redis' maxmemory against it). */
export function memoryOf(name: string): number {
    const e = entries.find((x) => x.name === name);
    if (!e) throw new Error(`catalog has no entry "${name}"`);
    return e.memoryMb;
}

/** The catalog of one stack: the chosen time-series store, and `startsAfter` resolved to it. */
export function sofiaCatalog(store: TimeseriesStore): CatalogEntry[] {
    return entries
        .filter((e) => e.onlyWith === undefined || e.onlyWith === store)
        .map((e) => ({ ...e, startsAfter: e.startsAfter.map((n) => (n === TIMESERIES_STORE ? store : n)), ...(e.talksTo ? { talksTo: e.talksTo.map((n) => (n === TIMESERIES_STORE ? store : n)) } : {}) }));
}

/** The operators' tools (Grafana): no part of a release, and nothing waits for them. */
export function toolNames(catalog: readonly CatalogEntry[]): string[] {
    return catalog.filter((e) => e.kind === "tool").map((e) => e.name);
}

/** Whether an entry gets a generated password of its own: every store, and a tool that takes one. */
export function ownsPassword(e: Pick<CatalogEntry, "kind" | "adminPassword">): boolean {
    return e.kind === "store" || e.adminPassword === true;
}

/** The front proxy's entry in a catalog. */
export function proxyEntry(catalog: readonly CatalogEntry[]): CatalogEntry {
    const proxy = catalog.find((e) => e.kind === "edge");
    if (!proxy) throw new Error("catalog has no edge entry (the front proxy)");
    return proxy;
}

/** The entry whose image migrates the stores, if any. */
export function migrationEntry(catalog: readonly CatalogEntry[]): CatalogEntry | undefined {
    return catalog.find((e) => e.migration);
}

/**
 * Ports the front proxy takes for someone outside the host, and the security group opens: to the
 * client CIDRs ("clients") or the operators' ("staff", per `port.publish`).
 */
export function clientPorts(catalog: readonly CatalogEntry[]): { service: string; port: PortSpec }[] {
    return catalog.flatMap((e) => e.ports.filter((p) => p.publish === "clients" || p.publish === "staff").map((port) => ({ service: e.name, port })));
}
