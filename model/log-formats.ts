/**
 * How each piece of software in the catalog marks an error in its log lines, as CloudWatch Logs
 * metric filter patterns. A filter term is case-sensitive and matches text anywhere, so a bare
 * "ERROR" misses nginx's `[error]`, QuestDB's `E` and Redis' `#`, and counts an INFO line that
 * merely mentions an error. Each pattern here reads the level from its field in that software's own
 * line layout (space-delimited: `[...]` and `"..."` are one field each, without their brackets or
 * quotes) and nothing else. test/log-formats.test.ts runs them on real lines of each.
 */

export type LogFormat = "python" | "uvicorn" | "nginx" | "questdb" | "redis" | "elasticache" | "postgres" | "grafana";

export interface LogFormatSpec {
    /** What writes these lines, and the layout the pattern assumes. */
    layout: string;
    /** One metric filter each; every matching line counts one error. */
    errorPatterns: string[];
}

/** `[f1, ..., level = "a" || level = "b", ...]`: the level is field `position` (1-based). */
function levelField(position: number, levels: string[], names: string[] = []): string {
    const before = Array.from({ length: position - 1 }, (_, i) => names[i] ?? `f${i + 1}`);
    return `[${[...before, levels.map((l) => `level = "${l}"`).join(" || "), "..."].join(", ")}]`;
}

/** Python's logging in the layout Sofia's apps are assumed to use (README, "Contracts"). */
const PYTHON_LOGGING = levelField(3, ["ERROR", "CRITICAL"], ["date", "time"]);

export const LOG_FORMATS: Record<LogFormat, LogFormatSpec> = {
    python: {
        layout: "Python logging, `%(asctime)s %(levelname)s %(name)s: %(message)s` (e.g. `2026-12-03 08:15:02,123 ERROR ingestors.crypto_ws: ...`)",
        errorPatterns: [PYTHON_LOGGING],
    },
    uvicorn: {
        layout: "the app's Python logging as above, and uvicorn's own `LEVEL:    message` lines (its tracebacks start `ERROR:    Exception in ASGI application`)",
        errorPatterns: [PYTHON_LOGGING, levelField(1, ["ERROR:", "CRITICAL:"])],
    },
    nginx: {
        layout: "nginx's error log, `2026/12/03 08:15:02 [error] 29#29: *1 ...`; its access lines never match (their third field is the remote user)",
        errorPatterns: [levelField(3, ["error", "crit", "alert", "emerg"], ["date", "time"])],
    },
    questdb: {
        layout: "QuestDB's log, `2026-12-03T08:15:02.123456Z E i.q.c.l.t.LineTcpConnectionContext ...`: one letter per level (D, I, A advisory, E error, C critical)",
        errorPatterns: [levelField(2, ["E", "C"], ["timestamp"])],
    },
    redis: {
        layout: "Redis' log, `1:M 03 Dec 2026 08:15:02.123 # ...`: `#` is its highest level (warning), which its errors use; a start writes one or two `#` lines, well below the alarm's threshold",
        errorPatterns: [levelField(6, ["#"], ["pid", "day", "month", "year", "time"])],
    },
    elasticache: {
        // AWS's "Log delivery" page ("Contents of an engine log entry") shows one: Redis' own layout
        // with the cluster and node where the pid was and the zone after the time, so the level is one
        // field later than on a host's Redis (whose pattern would count nothing here).
        layout: "ElastiCache's engine log as TEXT, `sofia-cache-001/0001:M 03 Dec 2026 08:15:02.123 UTC # ...`: Redis' own layout with the cluster and node for the pid and the zone after the time; `#` is its warning level",
        errorPatterns: [levelField(7, ["#"], ["node", "day", "month", "year", "time", "zone"])],
    },
    grafana: {
        // Its default logfmt puts request fields (userId, orgId, ...) before the level, so the level
        // has no fixed position; the container sets GF_LOG_CONSOLE_FORMAT=json (topology/host/grafana.ts).
        layout: 'Grafana\'s console log as JSON, `{"logger":"context","t":"2026-12-03T08:15:02.123Z","level":"error","msg":"..."}`',
        errorPatterns: ['{ $.level = "error" || $.level = "crit" }'],
    },
    postgres: {
        layout: "PostgreSQL's log with its default prefix `%m [%p] `: `2026-12-03 08:15:02.123 UTC [1] ERROR:  ...`",
        errorPatterns: [levelField(5, ["ERROR:", "FATAL:", "PANIC:"], ["date", "time", "zone", "pid"])],
    },
};
