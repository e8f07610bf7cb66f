/**
 * Names of Sofia's own CloudWatch metrics: alarms read them, host scripts publish them (the names
 * reach the scripts through their generated configuration, never retyped there).
 */
/**
 * Every metric of a stack, from its host, its agent and its log filters, is in a namespace of its
 * own: the host role may publish there and nowhere else (components/host.ts hostAgentPolicy), so a
 * staging host cannot publish prod's metrics. The Stack dimension stays on what carried it.
 */
export function metricsNamespace(stack: string): string {
    return `Sofia/${stack}`;
}

/** Every Sofia metric carries the stack as this dimension. */
export const STACK_DIMENSION = "Stack";

export const BACKUP_METRICS = {
    /** 1 for a complete, verified backup; 0 for a failed one (dimension Kind: full, redis). */
    success: "BackupSuccess",
    bytes: "BackupBytes",
    duration: "BackupDurationSeconds",
    /** Hours since the newest complete backup of a kind (dimension Kind: full, redis), every 15 minutes and 0 after a backup. */
    age: "BackupAgeHours",
    /** 1 when the weekly verification of the latest backup passed, else 0. */
    verified: "BackupVerified",
    /** The monthly disaster-recovery test: 1 or 0, and how long the restore into scratch took. */
    drSuccess: "DrTestSuccess",
    drSeconds: "DrTestSeconds",
} as const;

/** The second dimension of the backup age: which kind of backup (topology/host/backups.ts BACKUP_KINDS). */
export const KIND_DIMENSION = "Kind";

/** Published every minute by host/sofia-probe.sh. */
export const PROBE_METRICS = {
    /** 1 when a service's /health answered 200 within the timeout, else 0; dimension Service. */
    healthy: "ServiceHealthy",
    /** Redis used memory as a percentage of its maxmemory. */
    redisMemory: "RedisMemoryPercent",
    /** 1 for every run of the probe: its heartbeat, so that the health alarms may read silence as "no news". */
    runs: "ProbeRuns",
} as const;

/**
 * Where capacity is heading (host/sofia-probe.sh, every minute, from its hourly samples of the last
 * week): days until the data volume is full, and until Redis reaches its maxmemory, at the growth
 * of the oldest sample at least six hours old to now. Capped at CAPACITY_DAYS_CAP (not growing).
 */
export const CAPACITY_METRICS = { dataDaysLeft: "DataVolumeDaysLeft", redisDaysLeft: "RedisMemoryDaysLeft" } as const;
export const CAPACITY_DAYS_CAP = 3650;

/** Published by maintenance windows and deploys while they run: 1, else absent or 0. */
export const MAINTENANCE_METRIC = "MaintenanceActive";

/**
 * What Sofia's metrics server exposes at /metrics (the contract with the app), scraped into the
 * namespace by the CloudWatch agent.
 */
export const APP_METRICS = {
    /** Share of instruments whose last tick is older than the freshness limit (runbook: < 0.1). */
    staleRatio: "stale_ratio",
    /**
     * Websocket reconnects since the ingestor started (a counter). The CloudWatch agent publishes a
     * Prometheus counter as its increase since the previous scrape (one a minute): each data point
     * is already reconnects per minute, so its Sum per minute is the rate.
     */
    reconnects: "ws_reconnects_total",
    /** Seconds since the newest item the news aggregator stored was published (runbook daily: "Verify news feed updates"). */
    newsAge: "news_newest_item_age_seconds",
    /**
     * 1 when the equities puller's fallback source answered its last check, else 0; checked every
     * hour (runbook hourly: "Test fallback data sources").
     */
    fallbackUp: "equities_fallback_up",
    /**
     * Paper trading's profit and loss in USD (runbook daily: "Check paper trading PnL"): drawn on the
     * Grafana dashboard where the image exports it; not required, so neither checked nor alarmed.
     */
    pnl: "paper_trading_pnl_usd",
} as const;

/** Host metrics from the CloudWatch agent. */
export const HOST_METRICS = { memory: "mem_used_percent", disk: "disk_used_percent" } as const;

/** Published by host/sofia-cert.sh on every run: days the proxy's certificate has left (a placeholder: 0). */
export const CERT_METRICS = { daysLeft: "TlsCertificateDaysLeft" } as const;

export const LOG_METRICS = {
    /** ERROR lines per service: `ErrorLines-<service>`. */
    errorLines: (service: string) => `ErrorLines-${service}`,
    /** The API's request latency from its JSON access log's duration_ms: one data point per request. */
    apiLatency: "ApiLatencyMs",
} as const;
