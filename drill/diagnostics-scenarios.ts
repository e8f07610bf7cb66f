/**
 * The diagnostics drill: every procedure's bundle collected by host/sofia-diagnose.sh against the
 * drill's Redis, the docker double and moto_server, and what is in it shown section by section.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { sofiaCatalog } from "../model/catalog";
import { PROCEDURES, Procedure } from "../topology/host/alarm-actions";
import { diagnoseEnv } from "../topology/host/diagnostics";
import { Check, Scenario } from "./backup-scenarios";
import { DRILL_BUCKET, DRILL_STACK, DrillEnv } from "./env";

const check = (what: string, ok: boolean, detail?: string): Check => ({ what, ok, detail: ok ? undefined : detail });

/** What each procedure's bundle must hold: its sections, and a line the real thing writes in one of them. */
const EXPECTED: Record<Procedure, { sections: string[]; shows: [string, RegExp] }> = {
    latency: { sections: ["api-errors", "connections", "flows", "host", "redis-info-stats", "redis-latency"], shows: ["redis-info-stats", /total_commands_processed:\d+/] },
    memory: { sections: ["container-memory", "host", "processes", "redis-info-memory"], shows: ["redis-info-memory", /used_memory:\d+/] },
    websocket: { sections: ["feed-lines", "flows", "host", "metrics"], shows: ["feed-lines", /websocket disconnect \(1006\)/] },
    outage: { sections: ["container-logs", "docker-ps", "flows", "host", "services"], shows: ["services", /stage 0\s+redis\s+healthy/] },
};

/** Unpacks a bundle from the bucket: its sections by name. */
function unpack(env: DrillEnv, key: string): Record<string, string> {
    const file = path.join(env.dir, "bundle.tar.gz");
    fs.writeFileSync(file, env.getObject(key));
    const out = fs.mkdtempSync(path.join(env.dir, "bundle-"));
    spawnSync("tar", ["-xzf", file, "-C", out]);
    const [dir] = fs.readdirSync(out);
    return Object.fromEntries(fs.readdirSync(path.join(out, dir)).map((f) => [f.replace(/\.txt$/, ""), fs.readFileSync(path.join(out, dir, f), "utf8")]));
}

export const diagnosticsScenarios: Scenario[] = [
    {
        name: "diagnostics: every procedure's bundle collected when its alarm fires, and what is in it",
        campaignOnly: true,
        async run(env, log) {
            const metrics = http.createServer((_q, res) => res.end("# TYPE ws_reconnects_total counter\nws_reconnects_total 3\n"));
            await new Promise<void>((r) => metrics.listen(0, "127.0.0.1", r));
            const conf = path.join(env.configDir, "diagnose.env");
            fs.writeFileSync(conf, diagnoseEnv(sofiaCatalog("questdb"), { stack: DRILL_STACK, region: "eu-central-1" }, DRILL_BUCKET).replace(/METRICS_URL=[^}]*/, `METRICS_URL=http://127.0.0.1:${(metrics.address() as net.AddressInfo).port}/metrics`).replace("MEMORY_INTERVAL=20", "MEMORY_INTERVAL=2"));
            fs.writeFileSync(path.join(env.state, "sofia-crypto-ws.logs"), "2026-12-03 08:15:02,000 ERROR ingestors.crypto_ws: websocket disconnect (1006)\n2026-12-03 08:15:04,000 INFO ingestors.crypto_ws: reconnect 1\n");
            env.aws(["logs", "create-log-group", "--log-group-name", `/sofia/${DRILL_STACK}/maintenance`]);
            const checks: Check[] = [];
            try {
                for (const procedure of Object.keys(PROCEDURES) as Procedure[]) {
                    const r = await env.runHost("sofia-diagnose", [procedure, `sofia-drill-${procedure}-alarm`], { SOFIA_DIAG_CONFIG: conf });
                    log(`sofia-diagnose ${procedure}: exit ${r.status}, ${r.seconds.toFixed(1)} s`);
                    const key = env.keys(`${DRILL_STACK}/diagnostics/${procedure}/`).at(-1);
                    const bundle = key ? unpack(env, key) : {};
                    for (const [name, text] of Object.entries(bundle)) log(`  ${name}: ${text.split("\n").slice(1, 3).join(" | ").slice(0, 110)}`);
                    const { sections, shows } = EXPECTED[procedure];
                    checks.push(
                        check(`${procedure}: collected and uploaded`, r.status === 0 && key !== undefined, r.stderr.slice(-400)),
                        check(`${procedure}: has ${sections.join(", ")}`, JSON.stringify(Object.keys(bundle).sort()) === JSON.stringify(sections), Object.keys(bundle).join(", ")),
                        check(`${procedure}: ${shows[0]} shows ${shows[1]}`, shows[1].test(bundle[shows[0]] ?? ""), (bundle[shows[0]] ?? "").slice(0, 300)),
                    );
                }
            } finally {
                metrics.close();
            }
            return checks;
        },
    },
];
