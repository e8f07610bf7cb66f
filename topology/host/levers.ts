/**
 * The runbook's emergency levers as this stack pulls them: what the hand-written runbook did, and
 * the setting or host command that does it now. RUNBOOK.md and the README's table are generated
 * from this list (npm run docs).
 */
export interface Lever {
    /** When to pull it. */
    when: string;
    /** What the hand-written runbook did. */
    runbook: string;
    /** What does it now: a setting and `pulumi up`, or a command on the host. */
    now: string;
}

export const EMERGENCY_LEVERS: readonly Lever[] = [
    {
        when: "The equities primary source fails",
        runbook: "`export EQUITY_PRIMARY=yahoo; systemctl restart sofia-equity-service`",
        now: "`pulumi config set equityPrimary yahoo && pulumi up` (replaces only the equities container)",
    },
    { when: "The crypto feed hangs", runbook: "`pkill -f crypto_ws.py; python ingestors/crypto_ws.py &`", now: "the watchdog, or `docker restart sofia-crypto-ws` on the host" },
    { when: "The crypto feed lags (soft restart)", runbook: "`kill -USR1 $(cat pids/crypto_ws.pid)`", now: "`docker kill --signal USR1 sofia-crypto-ws` (the container's init forwards it)" },
    { when: "API or pools need tuning", runbook: "`.env` tuning (`WORKERS=4`, ...)", now: "catalog defaults; override with `serviceEnv`, e.g. `pulumi config set --path 'serviceEnv.api.WORKERS' 8 && pulumi up`" },
    { when: "System down: everything at once", runbook: "`./scripts/emergency_restart.sh`", now: "`sofia-services restart` on the host (stop in reverse, start in catalog order, each stage healthy before the next)" },
    { when: "A release is bad", runbook: "(none)", now: "`npm run promote -- --rollback ...` to an earlier verified release, then its pull request (no soak; runs no migration)" },
    { when: "The data is bad", runbook: "restore by hand from S3", now: "`pulumi config set restore.from <backup id or latest>` (prod also `restore.confirm prod`) and `pulumi up`" },
    { when: "Clients must be held off", runbook: "(none)", now: "`sofia-maintenance page on <minutes>` on the host: the proxy answers 503 with Retry-After, pages are suppressed; `page off` to end" },
    { when: "UI theme broken", runbook: "`git restore --source=origin/main -- sofia_ui/`", now: "roll back the release (the deploy's verification and the canary name the marker); or `restore.from` for the UI's extensions volume" },
];

/** The levers as a Markdown table. */
export function leversTable(levers: readonly Lever[] = EMERGENCY_LEVERS): string {
    return ["| when | runbook | now |", "| --- | --- | --- |", ...levers.map((l) => `| ${l.when} | ${l.runbook} | ${l.now} |`)].join("\n");
}
