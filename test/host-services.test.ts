import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { sofiaCatalog } from "../model/catalog";
import { freePort } from "../drill/moto";
import { contractsTable, flowsTable, servicesTable, sofiaHostLayout, tuningTable } from "../topology/host/services-files";
import { questdbServerConf } from "../topology/host/store-config";
import { QuestDbDouble, startQuestDbDouble } from "../drill/doubles/questdb-http";
import { mountPointOf, RunResult, runAsync } from "../drill/run";
import { hostEnv } from "../topology/host/layout";
import { themeTable } from "../topology/host/synthetics";
import { ecsThemeTable } from "../topology/ecs/theme";
import { browserPath } from "./helpers/browser";

const ROOT = path.join(__dirname, "..");
const SCRIPT = path.join(ROOT, "host", "sofia-services.sh");
const DOUBLES = path.join(__dirname, "..", "drill", "doubles");
const catalog = sofiaCatalog("questdb");

let dir: string;
const state = () => path.join(dir, "state");
const log = () => (fs.existsSync(path.join(dir, "docker.log")) ? fs.readFileSync(path.join(dir, "docker.log"), "utf8").trim().split("\n") : []);

/** Sets what the docker double will answer for a container: health statuses in order, and whether it runs. */
function container(name: string, health: string[], running = false): void {
    fs.writeFileSync(path.join(state(), `sofia-${name}.health`), health.join("\n") + "\n");
    fs.writeFileSync(path.join(state(), `sofia-${name}.running`), running ? "true\n" : "false\n");
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
        ...process.env,
        PATH: `${DOUBLES}:${process.env.PATH}`,
        DOCKER_LOG: path.join(dir, "docker.log"),
        DOCKER_STATE: state(),
        SOFIA_CATALOG: path.join(dir, "services.tsv"),
        SOFIA_CONTRACTS: path.join(dir, "contracts.tsv"),
        SOFIA_FLOWS: path.join(dir, "flows.tsv"),
        SOFIA_THEMES: path.join(dir, "themes.tsv"),
        SOFIA_THEME_RUNNER: path.join(ROOT, "components", "synthetics", "run-local.js"),
        SOFIA_STATE_DIR: path.join(dir, "var"),
        SOFIA_OPS_LIB: path.join(ROOT, "host", "sofia-ops.sh"),
        SOFIA_OPS_LOCK: path.join(dir, "lock"),
        SOFIA_JOURNAL: path.join(dir, "data", "sofia-ops.journal"),
        SOFIA_STAGING_DIR: path.join(dir, "data", "backup-staging"),
        SOFIA_SERVICES: SCRIPT,
        SOFIA_DATA_MOUNT: mountPointOf(dir),
        SOFIA_HOST_ENV: path.join(dir, "host.env"),
        SOFIA_POLL_SECONDS: "0",
        SOFIA_HEALTH_TIMEOUT: "5",
        ...extra,
    };
}

function run(args: string[], extra: Record<string, string> = {}) {
    return spawnSync("bash", [SCRIPT, ...args], { env: env(extra), encoding: "utf8" });
}

beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-services-"));
    fs.mkdirSync(state());
    fs.writeFileSync(path.join(dir, "services.tsv"), servicesTable(catalog));
    // No contract unless a test declares one (the contract tests below).
    fs.writeFileSync(path.join(dir, "contracts.tsv"), "# name\turl\tline\n");
    // No flow either, unless a test declares one (the data-flow tests below).
    fs.writeFileSync(path.join(dir, "flows.tsv"), "# writer\tcontainer\tsource_containers\tstore\ttarget\tseconds\ttable\tsql\n");
    // Nor a theme (the browser tests below).
    fs.writeFileSync(path.join(dir, "themes.tsv"), "# service\tnetwork\timage\tchecks\n");
    fs.writeFileSync(path.join(dir, "host.env"), hostEnv(sofiaHostLayout(path.join(dir, "data"))));
    for (const e of catalog) container(e.name, ["healthy"]);
});

describe("sofia-services quiesce and resume (a release deploy's writers)", () => {
    const running = (name: string) => fs.readFileSync(path.join(state(), `sofia-${name}.running`), "utf8").trim() === "true";
    const writers = ["crypto-ws", "equities", "ts-writer", "news", "whale-alerts"];
    beforeEach(() => {
        for (const e of catalog) container(e.name, ["healthy"], true);
    });

    it("stops the writers alone, later stages first, with their grace, and records when the watchdog may start them again", () => {
        const before = Math.floor(Date.now() / 1000);
        const r = run(["quiesce", "60"]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(catalog.filter((e) => !running(e.name)).map((e) => e.name)).toEqual(writers);
        const stops = log().filter((c) => c.startsWith("stop ")).map((c) => c.replace(/^stop -t \d+ sofia-/, ""));
        expect(stops.indexOf("ts-writer")).toBeLessThan(stops.indexOf("crypto-ws"));
        expect(stops.indexOf("news")).toBeLessThan(stops.indexOf("ts-writer"));
        const deadline = Number(fs.readFileSync(path.join(dir, "var", "quiesced"), "utf8"));
        expect(deadline).toBeGreaterThanOrEqual(before + 3600);
        expect(r.stdout).toContain("the watchdog starts them after 60 minutes");
        // Twice is harmless.
        expect(run(["quiesce", "60"]).status).toBe(0);
    });

    it("resume starts them again in catalog order and clears the record; the deploy's verify then passes", () => {
        run(["quiesce", "60"]);
        const r = run(["resume"]);
        expect(r.status).toBe(0);
        expect(catalog.every((e) => running(e.name))).toBe(true);
        expect(log().filter((c) => c.startsWith("start ")).map((c) => c.replace("start sofia-", ""))).toEqual(writers);
        expect(fs.existsSync(path.join(dir, "var", "quiesced"))).toBe(false);
    });

    it("a plain start (the boot) runs them again and clears the record", () => {
        run(["quiesce", "60"]);
        expect(run(["start"]).status).toBe(0);
        expect(catalog.every((e) => running(e.name))).toBe(true);
        expect(fs.existsSync(path.join(dir, "var", "quiesced"))).toBe(false);
    });

    it("past the deadline the watchdog starts the writers even when another container is unhealthy, and goes on watching", () => {
        run(["quiesce", "60"]);
        fs.writeFileSync(path.join(dir, "var", "quiesced"), `${Math.floor(Date.now() / 1000) - 1}\n`);
        container("api", ["unhealthy"], true);
        const r = run(["watchdog"]);
        expect(r.status).toBe(0);
        expect(writers.every((w) => running(w))).toBe(true);
        expect(r.stdout).toContain("watchdog: api unhealthy (1/3)");
        expect(fs.existsSync(path.join(dir, "var", "quiesced"))).toBe(false);
    });

    it("the watchdog leaves quiesced writers alone until their deadline, then starts them (a deploy that died)", () => {
        run(["quiesce", "60"]);
        for (const w of writers) container(w, ["unhealthy"], false);
        const early = run(["watchdog"]);
        expect(early.status).toBe(0);
        expect(writers.some((w) => running(w))).toBe(false);
        fs.writeFileSync(path.join(dir, "var", "quiesced"), `${Math.floor(Date.now() / 1000) - 1}\n`);
        for (const w of writers) container(w, ["healthy"], false);
        const late = run(["watchdog"]);
        expect(late.status).toBe(0);
        expect(late.stdout).toContain("quiesced past their deadline");
        expect(writers.every((w) => running(w))).toBe(true);
        expect(fs.existsSync(path.join(dir, "var", "quiesced"))).toBe(false);
    });

    it("refuses a quiesce without its deadline, naming what to give", () => {
        const r = run(["quiesce"]);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("quiesce: give the minutes after which the watchdog starts the writers again");
        expect(catalog.every((e) => running(e.name))).toBe(true);
    });
});

describe("sofia-services start (the ordered boot)", () => {
    it("starts stage by stage, in catalog order, checking health before the next stage", () => {
        const r = run(["start"]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        const calls = log();
        const starts = calls.filter((c) => c.startsWith("start ")).map((c) => c.replace("start sofia-", ""));
        expect(starts).toEqual(["redis", "questdb", "proxy", "metrics", "grafana", "crypto-ws", "equities", "ts-writer", "news", "whale-alerts", "api", "ui"]);
        // Every container is health-checked after its own start and before any later stage starts.
        const at = (call: string) => calls.indexOf(call);
        const stages = [["redis", "questdb"], ["metrics", "grafana"], ["crypto-ws", "equities"], ["ts-writer"], ["news", "whale-alerts"], ["api"], ["ui"]];
        for (let i = 0; i + 1 < stages.length; i++) {
            for (const earlier of stages[i]) {
                const healthCheck = calls.findIndex((c, k) => k > at(`start sofia-${earlier}`) && c.includes("Health") && c.endsWith(`sofia-${earlier}`));
                expect(healthCheck, `${earlier} health checked`).toBeGreaterThan(-1);
                for (const later of stages[i + 1]) expect(healthCheck, `${earlier} before ${later}`).toBeLessThan(at(`start sofia-${later}`));
            }
        }
    });

    it("starts an operators' tool (Grafana) in its stage but never waits for it: unhealthy or stopped, it fails neither a start (a boot, a restore's) nor a verification, and is said", () => {
        expect(servicesTable(catalog).split("\n").filter((l) => l.endsWith("\tyes") && !l.startsWith("#")).map((l) => l.split("\t")[1])).toEqual(["grafana"]);
        container("grafana", ["unhealthy"]);
        const start = run(["start"]);
        expect(start.status, start.stderr).toBe(0);
        expect(start.stdout).toMatch(/stage 1: grafana is unhealthy \(an operators' tool: nothing waits for it; its health alarm watches it\)/);
        expect(log()).toContain("start sofia-ui");
        // A store that is not healthy still stops the start.
        container("questdb", ["unhealthy"]);
        expect(run(["start"]).status).not.toBe(0);
        // Stopped, it is said and not counted by a verification.
        fs.writeFileSync(path.join(dir, "services.tsv"), servicesTable(catalog).replace(/http:\/\/127\.0\.0\.1:\d+\S*/g, "-"));
        for (const e of catalog) container(e.name, ["healthy"], e.name !== "grafana");
        const verify = run(["verify", "--without-flows"]);
        expect(verify.status, verify.stderr).toBe(0);
        expect(verify.stdout).toContain("verify: grafana is not running (an operators' tool: not counted; its health alarm watches it)");
        container("api", ["healthy"], false);
        expect(run(["verify", "--without-flows"]).stderr).toContain("verify: not running: api");
    });

    it("waits while a container is starting, and moves on once it is healthy", () => {
        container("redis", ["starting", "starting", "starting", "healthy"]);
        const r = run(["start"]);
        expect(r.status).toBe(0);
        const calls = log();
        const redisChecks = calls.filter((c) => c.includes("Health") && c.endsWith("sofia-redis")).length;
        expect(redisChecks).toBeGreaterThanOrEqual(4);
        const lastRedisCheck = calls.map((c, i) => (c.includes("Health") && c.endsWith("sofia-redis") ? i : -1)).filter((i) => i >= 0).at(-1)!;
        expect(calls.indexOf("start sofia-metrics")).toBeGreaterThan(lastRedisCheck);
    });

    it("stops at an unhealthy container, naming it, and starts nothing after it", () => {
        container("ts-writer", ["starting", "unhealthy"]);
        const r = run(["start"]);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/ts-writer \(sofia-ts-writer\) is unhealthy; see: docker logs --tail 50 sofia-ts-writer; later stages were not started/);
        const starts = log().filter((c) => c.startsWith("start "));
        expect(starts).not.toContain("start sofia-news");
        expect(starts).not.toContain("start sofia-api");
    });

    it("gives up on a stage that stays starting, after the timeout, naming what it waited for", () => {
        container("metrics", ["starting"]);
        const r = run(["start"], { SOFIA_HEALTH_TIMEOUT: "0" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/stage 1: metrics not healthy after 0s/);
    });

    it("leaves running containers alone (safe to run again)", () => {
        for (const e of catalog) container(e.name, ["healthy"], true);
        const r = run(["start"]);
        expect(r.status).toBe(0);
        expect(log().filter((c) => c.startsWith("start "))).toEqual([]);
        expect(r.stdout).toContain("redis already running");
    });
});

describe("sofia-services stop", () => {
    it("stops in reverse stage order, a stage's containers together, each with its catalog grace period", () => {
        const r = run(["stop"]);
        expect(r.status).toBe(0);
        const stops = log().filter((c) => c.startsWith("stop "));
        // One stage after another; within a stage the stops run at once, in any order.
        const stages = [["stop -t 10 sofia-ui"], ["stop -t 20 sofia-api"], ["stop -t 10 sofia-news", "stop -t 10 sofia-whale-alerts"], ["stop -t 30 sofia-ts-writer"], ["stop -t 15 sofia-crypto-ws", "stop -t 15 sofia-equities"], ["stop -t 10 sofia-grafana", "stop -t 10 sofia-metrics"], ["stop -t 10 sofia-proxy", "stop -t 30 sofia-redis", "stop -t 60 sofia-questdb"]];
        let at = 0;
        const grouped = stages.map((g) => stops.slice(at, (at += g.length)).sort());
        expect(grouped).toEqual(stages);
        expect(stops).toHaveLength(at);
    });
});

describe("sofia-services watchdog", () => {
    it("restarts a container only after it stays unhealthy for the configured strikes, with its grace", () => {
        container("api", ["unhealthy"], true);
        for (let i = 1; i <= 2; i++) {
            const r = run(["watchdog"]);
            expect(r.status).toBe(0);
            expect(r.stdout).toContain(`api unhealthy (${i}/3)`);
        }
        expect(log().filter((c) => c.startsWith("restart"))).toEqual([]);
        const r = run(["watchdog"]);
        expect(r.stdout).toContain("api unhealthy 3 times in a row, restarting");
        expect(log().filter((c) => c.startsWith("restart"))).toEqual(["restart -t 20 sofia-api"]);
    });

    it("forgets the strikes once the container is healthy again", () => {
        container("api", ["unhealthy", "unhealthy", "healthy", "unhealthy"], true);
        run(["watchdog"]);
        run(["watchdog"]);
        run(["watchdog"]); // healthy: strikes reset
        const r = run(["watchdog"]);
        expect(r.stdout).toContain("api unhealthy (1/3)");
        expect(log().filter((c) => c.startsWith("restart"))).toEqual([]);
    });

    it("skips its round while an operation (an ordered start, a restore) holds the host lock, naming it", async () => {
        container("api", ["unhealthy"], true);
        fs.writeFileSync(path.join(dir, "lock.holder"), "sofia-restore 20261130T010000Z (pid 4242) since 2026-12-02T03:00:00Z\n");
        const holder = spawn("flock", [path.join(dir, "lock"), "sleep", "5"]);
        try {
            await new Promise((r) => setTimeout(r, 300));
            const r = run(["watchdog"], { SOFIA_WATCHDOG_STRIKES: "1" });
            expect(r.status).toBe(0);
            expect(r.stdout).toContain("watchdog: sofia-restore 20261130T010000Z (pid 4242) since 2026-12-02T03:00:00Z holds the host lock, skipping");
            expect(log().filter((c) => c.startsWith("restart"))).toEqual([]);
        } finally {
            holder.kill();
        }
    });
});

describe("the host lock and the recovery of interrupted operations (sofia-ops.sh)", () => {
    const journal = () => path.join(dir, "data", "sofia-ops.journal");
    const vol = () => path.join(dir, "data", "volumes", "redis-data");
    /** A restore killed after it swapped: the restored data in place, the data from before beside it. */
    function swappedRestore(): void {
        fs.mkdirSync(vol(), { recursive: true });
        fs.writeFileSync(path.join(vol(), "dump"), "restored");
        fs.mkdirSync(`${vol()}.before-restore`);
        fs.writeFileSync(path.join(`${vol()}.before-restore`, "precious"), "the data from before");
        fs.writeFileSync(journal(), `op=restore\nid=20261201T010000Z\nphase=swapped\ndir=${vol()}\n`);
    }

    it("stop fails, naming it, when a container still runs after docker stop (a restore must not rename under it)", () => {
        container("redis", ["healthy"], true);
        fs.writeFileSync(path.join(state(), "sofia-redis.stuck"), "");
        const r = run(["stop"]);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("stop: sofia-redis still running after docker stop");
    });

    it("refuses SOFIA_OPS_HELD_BY from a process that does not hold the lock: the variable alone walks past nothing", () => {
        const r = run(["start"], { SOFIA_OPS_HELD_BY: "sofia-restore 20261201T010000Z" });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("SOFIA_OPS_HELD_BY is set (sofia-restore 20261201T010000Z), but this process does not hold the host lock");
        expect(log().filter((c) => c.startsWith("start "))).toEqual([]);
    });

    it("does nothing while the data volume is not mounted (an absent journal would read as nothing to recover)", () => {
        fs.mkdirSync(path.join(dir, "data"), { recursive: true });
        const r = run(["start"], { SOFIA_DATA_MOUNT: path.join(dir, "data") });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`the data volume is not mounted at ${path.join(dir, "data")}; nothing was done`);
        expect(log()).toEqual([]);
    });

    it("keeps an interrupted restore's journal, naming the directory, when neither it nor its safety copy is there (its file system, EFS, not mounted yet)", () => {
        swappedRestore();
        const efs = path.join(dir, "efs-not-mounted", "models");
        fs.appendFileSync(journal(), `dir=${efs}\n`);
        const r = run(["start"]);
        expect(r.status).toBe(1);
        expect(r.stdout + r.stderr).toContain(`neither ${efs} nor its safety copy is there: is the file system that holds it mounted (findmnt ${path.dirname(efs)})? The journal stays until it is`);
        expect(fs.existsSync(journal())).toBe(true);
        // Mounted, it holds the swapped directories: the next command puts the data from before back.
        fs.mkdirSync(efs, { recursive: true });
        fs.writeFileSync(path.join(efs, "model.bin"), "restored");
        fs.mkdirSync(`${efs}.before-restore`);
        fs.writeFileSync(path.join(`${efs}.before-restore`, "model.bin"), "trained before");
        const again = run(["start"]);
        expect(again.status, again.stderr).toBe(0);
        expect(fs.readFileSync(path.join(efs, "model.bin"), "utf8")).toBe("trained before");
        expect(fs.readFileSync(path.join(vol(), "precious"), "utf8")).toBe("the data from before");
        expect(fs.existsSync(journal())).toBe(false);
    });

    it("puts an interrupted restore's data back, and keeps the journal until the services start", () => {
        swappedRestore();
        container("api", ["unhealthy"]);
        const failed = run(["start"]);
        expect(failed.status).toBe(1);
        expect(fs.readFileSync(path.join(vol(), "precious"), "utf8")).toBe("the data from before");
        expect(fs.existsSync(`${vol()}.before-restore`)).toBe(false);
        expect(fs.readFileSync(journal(), "utf8")).toContain("phase=rolled-back");
        expect(failed.stdout).toContain("the journal stays, and the next Sofia command (or boot) starts them again");
        container("api", ["healthy"]);
        const next = run(["start"]);
        expect(next.status).toBe(0);
        expect(next.stdout).toContain("is back: services running");
        expect(fs.existsSync(journal())).toBe(false);
        // The rolled-back data is not rolled back twice.
        expect(fs.readFileSync(path.join(vol(), "precious"), "utf8")).toBe("the data from before");
    });

    it("never moves the safety copy into a directory it could not remove; the journal stays", () => {
        swappedRestore();
        const busy = path.join(vol(), "busy");
        fs.mkdirSync(busy);
        fs.writeFileSync(path.join(busy, "held"), "x");
        // What rm -rf cannot remove: a mount point (as root), or a directory without write permission.
        const asRoot = process.getuid?.() === 0;
        if (!asRoot) fs.chmodSync(busy, 0o555);
        try {
            const r = asRoot
                ? spawnSync("unshare", ["--mount", "--propagation", "private", "bash", "-c", 'mount -t tmpfs busy "$1" && exec bash "$2" start', "_", busy, SCRIPT], { env: env(), encoding: "utf8" })
                : run(["start"]);
            expect(r.status).toBe(1);
            expect(fs.readFileSync(path.join(`${vol()}.before-restore`, "precious"), "utf8")).toBe("the data from before");
            expect(fs.existsSync(path.join(vol(), "redis-data.before-restore"))).toBe(false);
            expect(fs.readFileSync(journal(), "utf8")).toContain("phase=swapped");
            expect(r.stdout).toContain("putting the data from before 20261201T010000Z back did not finish; the journal stays");
            expect(log().filter((c) => c.startsWith("start "))).toEqual([]);
        } finally {
            if (!asRoot) fs.chmodSync(busy, 0o755);
        }
    });

    it("the watchdog recovers what a dead operation left, within its minute", () => {
        swappedRestore();
        const r = run(["watchdog"]);
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("the restore of 20261201T010000Z was interrupted (swapped): putting the data from before it back");
        expect(fs.readFileSync(path.join(vol(), "precious"), "utf8")).toBe("the data from before");
        expect(fs.existsSync(journal())).toBe(false);
    });
});

describe("sofia-services verify, against real HTTP endpoints", () => {
    let healthy: http.Server;
    let failing: http.Server;
    let hanging: net.Server;
    const ports: Record<string, number> = {};

    beforeAll(async () => {
        healthy = http.createServer((_q, res) => res.end("ok"));
        failing = http.createServer((_q, res) => ((res.statusCode = 503), res.end("down")));
        hanging = net.createServer(() => undefined); // accepts, never answers
        for (const [name, srv] of [["healthy", healthy], ["failing", failing], ["hanging", hanging]] as const) {
            await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
            ports[name] = (srv.address() as net.AddressInfo).port;
        }
    });
    afterAll(() => {
        healthy.close();
        failing.close();
        hanging.close();
    });

    /** A catalog table of these services, each one's container running (verify checks that first). */
    function table(rows: [string, number | null][]): void {
        const lines = rows.map(([name, port], i) => [i, name, `sofia-${name}`, 10, port ? `http://127.0.0.1:${port}/health` : "-", "-"].join("\t"));
        fs.writeFileSync(path.join(dir, "services.tsv"), lines.join("\n") + "\n");
        for (const [name] of rows) container(name, ["healthy"], true);
    }

    const verify = () => runAsync("bash", [SCRIPT, "verify"], env());

    it("passes when every service with a /health answers 200 (services without one are skipped)", async () => {
        table([["api", ports.healthy], ["crypto-ws", null]]);
        const r = await verify();
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("verify: api healthy");
        expect(r.stdout).not.toContain("crypto-ws");
    });

    it("fails when a container is not running, also one without /health (a stopped ingestor is no deploy)", async () => {
        table([["api", ports.healthy], ["crypto-ws", null]]);
        container("crypto-ws", ["healthy"], false);
        const r = await verify();
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("verify: not running: crypto-ws; start them in order: sofia-services start");
    });

    it("fails naming every service that errors or hangs", async () => {
        table([["api", ports.healthy], ["metrics", ports.failing], ["ui", ports.hanging]]);
        const r = await verify();
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/verify: not healthy: metrics ui; their last log lines are above/);
    });

    it("checks what the images must serve: the metrics server's typed gauge and counter, exactly, else fails naming the contract", async () => {
        const metrics = http.createServer((q, res) => res.end(q.url === "/typed" ? "# HELP stale_ratio x\r\n# TYPE stale_ratio gauge\r\nstale_ratio 0.01\r\n# TYPE ws_reconnects_total counter\r\nws_reconnects_total 3\r\n# TYPE news_newest_item_age_seconds gauge\r\nnews_newest_item_age_seconds 420\r\n# TYPE equities_fallback_up gauge\r\nequities_fallback_up 1\r\n" : "# TYPE stale_ratio untyped\nstale_ratio 0.01\n# TYPE ws_reconnects_total counter\n"));
        await new Promise<void>((r) => metrics.listen(0, "127.0.0.1", r));
        const port = (metrics.address() as net.AddressInfo).port;
        try {
            table([["api", ports.healthy]]);
            const contracts = (p: string) => fs.writeFileSync(path.join(dir, "contracts.tsv"), contractsTable(catalog).replaceAll("http://127.0.0.1:8000/metrics", `http://127.0.0.1:${port}${p}`));
            contracts("/typed");
            const good = await verify();
            expect(good.status, good.stderr).toBe(0);
            expect(good.stdout).toContain("verify: metrics serves '# TYPE stale_ratio gauge'");
            contracts("/untyped");
            const bad = await verify();
            expect(bad.status).toBe(1);
            const at = `metrics: http://127.0.0.1:${port}/untyped has no line`;
            // Every missing line is named, the one served untyped first; the counter it does serve is not.
            expect(bad.stderr).toContain(`verify: an image breaks what the alarms assume of it (README, Contracts): ${at} '# TYPE stale_ratio gauge'; ${at} '# TYPE news_newest_item_age_seconds gauge'; ${at} '# TYPE equities_fallback_up gauge'; fix the image or the catalog`);
            expect(bad.stderr).not.toContain("ws_reconnects_total counter'");
            fs.rmSync(path.join(dir, "contracts.tsv"));
            expect((await verify()).stderr).toContain("no contracts table at");
        } finally {
            metrics.close();
        }
    });

    it("prints the last log lines of every failing service, for the failed deploy's output", async () => {
        table([["api", ports.healthy], ["metrics", ports.failing]]);
        container("metrics", ["unhealthy"], true);
        container("api", ["healthy"], true);
        const lines = Array.from({ length: 40 }, (_, i) => `metrics line ${i + 1}`);
        fs.writeFileSync(path.join(state(), "sofia-metrics.logs"), lines.join("\n") + "\n");
        fs.writeFileSync(path.join(state(), "sofia-api.logs"), "api says nothing is wrong\n");
        const r = await runAsync("bash", [SCRIPT, "verify"], env({ SOFIA_LOG_TAIL_LINES: "5" }));
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("--- last 5 log lines of sofia-metrics ---\nmetrics line 36\nmetrics line 37\nmetrics line 38\nmetrics line 39\nmetrics line 40\n---");
        expect(r.stderr).not.toContain("metrics line 35\n");
        expect(r.stderr).not.toContain("api says");
    });
});

describe("sofia-services migrated (a deploy's one-shot migration container)", () => {
    const migrated = () => runAsync("bash", [SCRIPT, "migrated", "sofia-api-migrate"], env());

    it("passes when the container exited 0", async () => {
        container("api-migrate", ["none"]);
        fs.writeFileSync(path.join(state(), "sofia-api-migrate.state"), "exited 0\n");
        const r = await migrated();
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("migrated: sofia-api-migrate finished (exit 0)");
    });

    it("fails with the exit code and the container's last log lines; the previous release keeps running", async () => {
        container("api-migrate", ["none"]);
        fs.writeFileSync(path.join(state(), "sofia-api-migrate.state"), "exited 3\n");
        fs.writeFileSync(path.join(state(), "sofia-api-migrate.logs"), "applying 0042_positions\nERROR: column already exists\n");
        const r = await migrated();
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("ERROR: column already exists");
        expect(r.stderr).toMatch(/migrated: sofia-api-migrate exited 3; the previous release keeps running/);
    });

    it("fails when the container is still running or was never created, saying which", async () => {
        container("api-migrate", ["none"]);
        fs.writeFileSync(path.join(state(), "sofia-api-migrate.state"), "running 0\n");
        expect((await migrated()).stderr).toMatch(/migrated: sofia-api-migrate is running, not finished/);
        fs.rmSync(path.join(state(), "sofia-api-migrate.health"));
        const gone = await migrated();
        expect(gone.status).toBe(1);
        expect(gone.stderr).toMatch(/migrated: no container sofia-api-migrate; did the deploy create it\?/);
    });
});

describe("sofia-services retire (the move to the ECS topology)", () => {
    it("stops what the host no longer runs, in the order given with each grace, and keeps it from restarting; never one of its own services", async () => {
        fs.writeFileSync(path.join(dir, "services.tsv"), servicesTable(catalog.filter((e) => e.name === "questdb")));
        container("questdb", ["healthy"], true);
        container("api", ["healthy"], true);
        container("redis", ["healthy"], true);
        // Grafana is not on this host.
        for (const f of fs.readdirSync(state()).filter((f) => f.startsWith("sofia-grafana."))) fs.rmSync(path.join(state(), f));
        const r = await runAsync("bash", [SCRIPT, "retire", "sofia-api:20", "sofia-redis:30", "sofia-grafana:10"], env());
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("retire: sofia-grafana is not on this host");
        const calls = log();
        expect(calls.filter((l) => /^(update|stop)/.test(l))).toEqual(["update --restart=no sofia-api", "stop -t 20 sofia-api", "update --restart=no sofia-redis", "stop -t 30 sofia-redis"]);
        expect(fs.readFileSync(path.join(state(), "sofia-api.running"), "utf8").trim()).toBe("false");
        // Again: idempotent.
        expect((await runAsync("bash", [SCRIPT, "retire", "sofia-api:20"], env())).status).toBe(0);
        const own = await runAsync("bash", [SCRIPT, "retire", "sofia-api:20", "sofia-questdb:60"], env());
        expect(own.status).toBe(1);
        expect(own.stderr).toContain("retire: sofia-questdb is one of this host's services");
        expect(fs.readFileSync(path.join(state(), "sofia-questdb.running"), "utf8").trim()).toBe("true");
        expect((await runAsync("bash", [SCRIPT, "retire", "api; rm -rf /"], env())).stderr).toContain("is not <sofia container>:<grace seconds>");
    });
});

describe("sofia-services verify: data flows (the catalog's writes)", () => {
    let questdb: QuestDbDouble;
    beforeAll(async () => {
        questdb = await startQuestDbDouble();
    });
    afterAll(() => questdb.close());

    /** Every container running and healthy, no /health to ask; the flows table as the stack writes it, its store here and its wait `seconds`. */
    function stack(store: "questdb" | "timescaledb", seconds?: number): void {
        fs.writeFileSync(path.join(dir, "services.tsv"), servicesTable(catalog).replace(/http:\/\/127\.0\.0\.1:\d+\S*/g, "-"));
        for (const e of catalog) container(e.name, ["healthy"], true);
        let flows = flowsTable(sofiaCatalog(store), { timeseriesStore: store }).replaceAll("http://127.0.0.1:9000", questdb.url);
        if (seconds !== undefined) flows = flows.replace(/\t180\t/g, `\t${seconds}\t`);
        fs.writeFileSync(path.join(dir, "flows.tsv"), flows);
    }
    const verify = () => runAsync("bash", [SCRIPT, "verify"], env({ SOFIA_POLL_SECONDS: "0.2" }));

    it("passes once rows newer than a minute arrive in ticks, asking the runbook's query until they do", async () => {
        stack("questdb");
        Object.assign(questdb, { queries: [], recentRows: [0, 0, 7] });
        const r = await verify();
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("verify: data flows: 7 rows in ticks newer than a minute (ts-writer)");
        expect(questdb.queries).toEqual(Array(3).fill("SELECT count() FROM ticks WHERE timestamp > dateadd('m', -1, now())"));
        expect(r.stdout.indexOf("data flows")).toBeLessThan(r.stdout.indexOf("verified-at"));
    });

    it("flows --wait: the data-flow check alone (the ECS topology's store host, whose writers run elsewhere)", async () => {
        // The writer's own time (180 s) to pass: a loaded machine must not fail a flow that arrives on the second look.
        stack("questdb");
        // No container of the writers here: only the store answers.
        fs.writeFileSync(path.join(dir, "services.tsv"), servicesTable(catalog.filter((e) => e.name === "questdb")).replace(/http:\/\/127\.0\.0\.1:\d+\S*/g, "-"));
        Object.assign(questdb, { queries: [], recentRows: [0, 4] });
        const ok = await runAsync("bash", [SCRIPT, "flows", "--wait"], env({ SOFIA_POLL_SECONDS: "0.2" }));
        expect(ok.stderr).toBe("");
        expect(ok.status).toBe(0);
        expect(ok.stdout).toContain("verify: data flows: 4 rows in ticks newer than a minute (ts-writer)");
        expect(ok.stdout).toMatch(/^verified-at \d{4}-\d\d-\d\dT/m);
        stack("questdb", 1);
        fs.writeFileSync(path.join(dir, "services.tsv"), servicesTable(catalog.filter((e) => e.name === "questdb")).replace(/http:\/\/127\.0\.0\.1:\d+\S*/g, "-"));
        Object.assign(questdb, { queries: [], recentRows: [0] });
        const none = await runAsync("bash", [SCRIPT, "flows", "--wait"], env({ SOFIA_POLL_SECONDS: "0.2" }));
        expect(none.status).toBe(1);
        expect(none.stdout).not.toContain("verified-at");
        expect(none.stderr).toContain("verify: no data flowing: no row in ticks newer than a minute after 1s; ts-writer (sofia-ts-writer) writes them");
        expect((await runAsync("bash", [SCRIPT, "flows", "--later"], env())).stderr).toContain("usage: sofia-services flows [--wait]");
    });

    it("fails after the writer's time when nothing arrives, naming the writer and the ingestors, with their logs", async () => {
        stack("questdb", 1);
        Object.assign(questdb, { queries: [], recentRows: [0] });
        fs.writeFileSync(path.join(state(), "sofia-crypto-ws.logs"), "ERROR websocket closed: 1006\n");
        const r = await verify();
        expect(r.status).toBe(1);
        expect(r.stdout).not.toContain("verified-at");
        expect(r.stderr).toContain("verify: no data flowing: no row in ticks newer than a minute after 1s; ts-writer (sofia-ts-writer) writes them from what sofia-crypto-ws and sofia-equities publish; their last log lines are above");
        for (const c of ["sofia-ts-writer", "sofia-crypto-ws", "sofia-equities"]) expect(r.stderr).toContain(`--- last 30 log lines of ${c} ---`);
        expect(r.stderr).toContain("ERROR websocket closed: 1006");
    });

    it("says why when the store does not answer", async () => {
        stack("questdb", 1);
        const closed = await freePort();
        fs.writeFileSync(path.join(dir, "flows.tsv"), fs.readFileSync(path.join(dir, "flows.tsv"), "utf8").replaceAll(questdb.url, `http://127.0.0.1:${closed}`));
        const r = await verify();
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`no data flowing: no row in ticks newer than a minute after 1s \\(questdb: .*QuestDB at http://127\\.0\\.0\\.1:${closed} did not answer`));
    });

    it("asks TimescaleDB with psql in its container", async () => {
        stack("timescaledb", 1);
        fs.writeFileSync(path.join(state(), "sofia-timescaledb.rows"), "12\n");
        const r = await verify();
        expect(r.stderr).toBe("");
        expect(r.stdout).toContain("verify: data flows: 12 rows in ticks newer than a minute (ts-writer)");
        expect(log()).toContain(`exec sofia-timescaledb psql -X -U postgres -tAc SELECT count(*) FROM ticks WHERE "timestamp" > now() - INTERVAL '1 minute'`);
        // A warning on stderr (a collation mismatch after a glibc update) is not the count.
        fs.writeFileSync(path.join(state(), "sofia-timescaledb.warn"), 'WARNING:  database "sofia" has a collation version mismatch\n');
        const warned = await verify();
        expect(warned.status).toBe(0);
        expect(warned.stdout).toContain("verify: data flows: 12 rows in ticks newer than a minute (ts-writer)");
        fs.writeFileSync(path.join(state(), "sofia-timescaledb.rows"), "0\n");
        expect((await verify()).status).toBe(1);
    });

    it("leaves the flows out when asked (a restore: a feed that is down says nothing of the restored data), and refuses other options", async () => {
        stack("questdb", 1);
        Object.assign(questdb, { queries: [], recentRows: [0] });
        const r = await runAsync("bash", [SCRIPT, "verify", "--without-flows"], env({ SOFIA_POLL_SECONDS: "0.2" }));
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("verify: data flow and theme not checked (--without-flows)");
        expect(questdb.queries).toEqual([]);
        const bad = await runAsync("bash", [SCRIPT, "verify", "--quick"], env());
        expect(bad.status).toBe(1);
        expect(bad.stderr).toContain("usage: sofia-services verify [--without-flows]");
        // The restore, the one caller that must not depend on live feeds, asks for exactly this.
        expect(fs.readFileSync(path.join(ROOT, "host", "sofia-restore.sh"), "utf8")).toMatch(/^"\$SERVICES" verify --without-flows$/m);
    });

    it("never waits on a hung store past the writer's time", async () => {
        stack("questdb", 3);
        const hung = net.createServer(() => undefined); // accepts, never answers
        await new Promise<void>((r) => hung.listen(0, "127.0.0.1", r));
        try {
            const url = `http://127.0.0.1:${(hung.address() as net.AddressInfo).port}`;
            fs.writeFileSync(path.join(dir, "flows.tsv"), fs.readFileSync(path.join(dir, "flows.tsv"), "utf8").replaceAll(questdb.url, url));
            const started = Date.now();
            const r = await verify();
            expect(r.status).toBe(1);
            expect(Date.now() - started).toBeLessThan(9000);
            expect(r.stderr).toContain("no data flowing: no row in ticks newer than a minute after 3s (questdb: ");
        } finally {
            hung.close();
        }
    });

    it("refuses a table whose wait is not a plain number of seconds, before waiting at all", async () => {
        stack("questdb", 1);
        fs.writeFileSync(path.join(dir, "flows.tsv"), fs.readFileSync(path.join(dir, "flows.tsv"), "utf8").replace(/\t1\t/, "\t08\t"));
        const r = await verify();
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("verify: '08' seconds for ts-writer in");
    });
});

describe("sofia-services tune (retention and compression)", () => {
    let questdb: QuestDbDouble;
    beforeAll(async () => {
        questdb = await startQuestDbDouble();
    });
    afterAll(() => questdb.close());

    function tune(store: "questdb" | "timescaledb"): Promise<RunResult> {
        const table = tuningTable(sofiaCatalog(store), { timeseriesStore: store, questdb: { retentionDays: 30 } }).replaceAll("http://127.0.0.1:9000", questdb.url);
        fs.writeFileSync(path.join(dir, "tuning.tsv"), table);
        return runAsync("bash", [SCRIPT, "tune"], env({ SOFIA_TUNING: path.join(dir, "tuning.tsv") }));
    }

    it("drops QuestDB partitions older than the retention setting", async () => {
        Object.assign(questdb, { queries: [], tableExists: true, alter: "ok" });
        const r = await tune("questdb");
        expect(r.status).toBe(0);
        expect(questdb.queries.filter((q) => !q.startsWith("SELECT count()"))).toEqual(["ALTER TABLE ticks DROP PARTITION WHERE timestamp < dateadd('d', -30, now())", "VACUUM TABLE ticks"]);
    });

    it("treats 'no partitions matched' as nothing to do, and a missing table as not yet", async () => {
        Object.assign(questdb, { queries: [], tableExists: true, alter: "no-partitions" });
        const young = await tune("questdb");
        expect(young.status).toBe(0);
        expect(young.stdout).toContain("no partition of ticks is old enough to drop");
        Object.assign(questdb, { queries: [], tableExists: false });
        const empty = await tune("questdb");
        expect(empty.status).toBe(0);
        expect(empty.stdout).toContain("ticks does not exist yet");
        expect(questdb.queries.every((q) => q.startsWith("SELECT count()"))).toBe(true);
    });

    it("fails with QuestDB's own words when it refuses", async () => {
        Object.assign(questdb, { queries: [], tableExists: true, alter: "error" });
        const r = await tune("questdb");
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/tune: questdb refused 'ALTER TABLE ticks DROP PARTITION.*table busy/);
    });

    it("sets TimescaleDB compression after 7 days, segmented by symbol, once the table exists", async () => {
        fs.writeFileSync(path.join(state(), "sofia-timescaledb.table"), "t\n");
        const r = await tune("timescaledb");
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        const statements = log().filter((c) => c.startsWith("exec sofia-timescaledb") && !c.includes("to_regclass"));
        expect(statements).toHaveLength(2);
        expect(statements[0]).toContain("ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol')");
        expect(statements[1]).toContain("SELECT add_compression_policy('ticks', INTERVAL '7 days', if_not_exists => true)");
        fs.writeFileSync(path.join(state(), "sofia-timescaledb.sqlfail"), "");
        const refused = await tune("timescaledb");
        expect(refused.status).toBe(1);
        expect(refused.stderr).toContain("tune: timescaledb refused 'ALTER TABLE ticks SET");
    });
});

describe("the catalog table", () => {
    it("has one row per entry that sofia-services reads, stages as the catalog orders them", () => {
        const rows = servicesTable(catalog).split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split("\t"));
        expect(rows.map((r) => `${r[0]}:${r[1]}`)).toEqual(["0:redis", "0:questdb", "0:proxy", "1:metrics", "1:grafana", "2:crypto-ws", "2:equities", "3:ts-writer", "4:news", "4:whale-alerts", "5:api", "6:ui"]);
        expect(rows.find((r) => r[1] === "api")!.slice(2)).toEqual(["sofia-api", "20", "http://127.0.0.1:8013/health", "-", "-"]);
        // What nothing waits for: the operators' tools.
        expect(rows.filter((r) => r[6] === "yes").map((r) => r[1])).toEqual(["grafana"]);
        // The writers a release deploy quiesces: the catalog's `quiesce` entries.
        expect(rows.filter((r) => r[5] === "yes").map((r) => r[1])).toEqual(["crypto-ws", "equities", "ts-writer", "news", "whale-alerts"]);
        expect(rows.find((r) => r[1] === "crypto-ws")![4]).toBe("-");
    });
});

describe("host scripts", () => {
    it("are bash with set -euo pipefail and shellcheck-clean", () => {
        const all = fs.readdirSync(path.join(ROOT, "host"));
        // One tool is Python (the key-by-key Redis copy: binary-safe RESP that bash cannot be): it must compile.
        expect(all.filter((f) => !f.endsWith(".sh"))).toEqual(["sofia-redis-copy.py"]);
        const compiled = spawnSync("python3", ["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())", path.join(ROOT, "host", "sofia-redis-copy.py")], { encoding: "utf8" });
        expect(compiled.stderr).toBe("");
        const scripts = [...all.filter((f) => f.endsWith(".sh")).map((f) => path.join(ROOT, "host", f)), path.join(ROOT, "scripts", "ssm-run.sh"), path.join(ROOT, "scripts", "ecs-run-task.sh"), path.join(ROOT, "scripts", "ecs-rollout-check.sh"), path.join(ROOT, "scripts", "ecs-scale.sh"), path.join(ROOT, "scripts", "ecs-cache-snapshot.sh"), path.join(ROOT, "drill", "doubles", "ecs", "aws"), path.join(ROOT, ".ci", "run")];
        for (const s of scripts) {
            const text = fs.readFileSync(s, "utf8");
            expect(text.startsWith("#!/usr/bin/env bash\n"), s).toBe(true);
            expect(text, s).toMatch(/^set -euo pipefail$/m);
        }
        const r = spawnSync("shellcheck", scripts, { encoding: "utf8" });
        expect(r.stdout).toBe("");
        expect(r.status).toBe(0);
    });

    it("sofia-services explains a missing catalog and a wrong subcommand", () => {
        const missing = run(["start"], { SOFIA_CATALOG: path.join(dir, "nope.tsv") });
        expect(missing.status).toBe(1);
        expect(missing.stderr).toMatch(/no catalog at .*nope\.tsv; it is installed by the stack/);
        const wrong = run(["launch"]);
        expect(wrong.status).toBe(1);
        expect(wrong.stderr).toContain("usage: sofia-services start|stop|restart|verify [--without-flows]|watchdog|tune|patch|quiesce <minutes>|resume|status");
    });
});

describe("sofia-backup-lib redis_tool", () => {
    it("gives the pinned image's tool this shell's stdin only when asked (--stdin), so loops keep their input", () => {
        const script = [
            `source "$SOFIA_HOST_ENV"; source ${path.join(ROOT, "host", "sofia-backup-lib.sh")}`,
            "REDIS_IMAGE=redis:pinned",
            "redis_tool --stdin /stage redis-check-rdb /dev/stdin || true",
            "redis_tool /stage redis-cli PING || true",
        ].join("\n");
        const r = spawnSync("bash", ["-c", script], { env: env(), encoding: "utf8" });
        expect(r.status).toBe(0);
        expect(log()).toEqual([
            "run --rm -i --network host -v /stage:/stage redis:pinned redis-check-rdb /dev/stdin",
            "run --rm --network host -v /stage:/stage redis:pinned redis-cli PING",
        ]);
    });

    it("passes the Redis password as a root-only file in the run's directory, never as a container env or argument", () => {
        const stage = fs.mkdtempSync(path.join(dir, "stage-"));
        const secret = "s3cr3t-redis-pass";
        const script = [`source "$SOFIA_HOST_ENV"; source ${path.join(ROOT, "host", "sofia-backup-lib.sh")}`, "REDIS_IMAGE=redis:pinned", `export REDISCLI_AUTH=${secret}`, `redis_tool ${stage} redis-cli PING || true`].join("\n");
        const r = spawnSync("bash", ["-c", script], { env: env(), encoding: "utf8" });
        expect(r.status).toBe(0);
        const calls = log();
        expect(calls).toEqual([`run --rm --network host -v ${stage}:${stage} --entrypoint sh redis:pinned -c REDISCLI_AUTH=$(cat "$0") exec "$@" ${stage}/.redis-auth redis-cli PING`]);
        expect(calls.join("\n")).not.toContain(secret);
        expect(calls.join("\n")).not.toMatch(/-e REDISCLI_AUTH|--env/);
        const auth = path.join(stage, ".redis-auth");
        expect(fs.readFileSync(auth, "utf8")).toBe(secret);
        expect(fs.statSync(auth).mode & 0o777).toBe(0o600);
    });
});

describe("sofia-ops questdb_curl", () => {
    it("sends QuestDB's credentials from its server.conf as curl config through a pipe, never as arguments; none without them", () => {
        const bin = fs.mkdtempSync(path.join(dir, "bin-"));
        // A stand-in curl that shows its arguments and the config it was given with -K.
        fs.writeFileSync(path.join(bin, "curl"), '#!/usr/bin/env bash\necho "argv: $*"\nif [[ $1 == -K ]]; then echo "config: $(cat "$2")"; fi\n', { mode: 0o755 });
        const conf = path.join(dir, "server.conf");
        fs.writeFileSync(conf, questdbServerConf("s3cretQuestPass"));
        const call = (confPath: string) =>
            spawnSync("bash", ["-c", `source ${path.join(ROOT, "host", "sofia-ops.sh")}; SOFIA_QUESTDB_CONF=${confPath} questdb_curl -sS -G http://127.0.0.1:9000/exec`], { env: { ...env(), PATH: `${bin}:${process.env.PATH}` }, encoding: "utf8" });
        const withAuth = call(conf);
        expect(withAuth.status).toBe(0);
        expect(withAuth.stdout).toMatch(/^argv: -K \/dev\/fd\/\d+ -sS -G http:\/\/127\.0\.0\.1:9000\/exec$/m);
        expect(withAuth.stdout).toContain('config: user = "sofia:s3cretQuestPass"');
        expect(withAuth.stdout.split("\n").find((l) => l.startsWith("argv:"))).not.toContain("s3cret");
        const without = call(path.join(dir, "no-such.conf"));
        expect(without.stdout.trim()).toBe("argv: -sS -G http://127.0.0.1:9000/exec");
        // Written the other Java way, with spaces, and a password with quotes and backslashes.
        fs.writeFileSync(conf, 'http.user = sofia\nhttp.password = a"b\\c\n');
        expect(call(conf).stdout).toContain('config: user = "sofia:a\\"b\\\\c"');
        // A conf without them would get a 401 reported as something else: said plainly instead.
        fs.writeFileSync(conf, "pg.user=sofia\n");
        const unreadable = call(conf);
        expect(unreadable.status).toBe(1);
        expect(unreadable.stderr).toContain(`QuestDB's credentials (http.user, http.password) could not be read from ${conf}`);
        expect(unreadable.stdout).toBe("");
    });
});

describe("sofia-services verify: the UI's theme, in a real browser (the catalog's theme markers)", () => {
    let server: http.Server;
    let base: string;
    let variant: "good" | "broken" = "good";
    /** A page that also loads from here (a store's port on the store host's address, say). */
    let reaching: string | undefined;
    beforeAll(async () => {
        // A stand-in UI: the catalog's theme, or the page without its stylesheet; a price that moves.
        server = http.createServer((_req, res) => {
            const css = variant === "good" ? "<style>:root { color-scheme: dark; } body { background-color: #0d1117; }</style>" : "";
            const reach = reaching ? `<img src="${reaching}/ilp"><script>fetch("${reaching}/write", { method: "POST", body: "ticks,sym=X price=1" }).catch(() => {})</script>` : "";
            res.setHeader("content-type", "text/html");
            res.end(`<!doctype html><html data-theme="sofia-dark"><head>${css}</head><body><p>BTC ${(60000 + Math.random() * 5000).toFixed(2)}</p>${reach}</body></html>`);
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    // The stack's own table, with the UI's container address pointed here and the browser on this host.
    const table = () => themeTable(sofiaCatalog("questdb"), "-").replace("http://sofia-ui:8080", base);
    const browser = { BROWSER: browserPath() };
    /** Every container running and healthy, no /health to ask, the given themes table. Async: the stand-in page is served from this process. */
    const verify = (themes: string, args: string[], extra: Record<string, string> = {}) => {
        fs.writeFileSync(path.join(dir, "services.tsv"), servicesTable(catalog).replace(/http:\/\/127\.0\.0\.1:\d+\S*/g, "-"));
        for (const e of catalog) container(e.name, ["healthy"], true);
        fs.writeFileSync(path.join(dir, "themes.tsv"), themes);
        return runAsync("bash", [SCRIPT, "verify", ...args], env(extra));
    };

    it("installs a row per themed entry: its own network, the pinned browser image, its container's address", () => {
        const rows = themeTable(sofiaCatalog("questdb")).split("\n").filter((l) => l && !l.startsWith("#"));
        expect(rows.map((r) => r.split("\t").slice(0, 3))).toEqual([["ui", "sofia-net-ui", "ghcr.io/puppeteer/puppeteer:24.10.0"]]);
        expect(JSON.parse(rows[0].split("\t")[3])).toEqual([{ base: "http://sofia-ui:8080", theme: sofiaCatalog("questdb").find((e) => e.name === "ui")!.theme }]);
    });

    it("passes with the theme intact, and fails the verification naming the marker when the stylesheet is gone", async () => {
        variant = "good";
        const ok = await verify(table(), [], browser);
        expect(ok.status, ok.stdout + ok.stderr).toBe(0);
        expect(ok.stdout).toContain(`verify: theme of ui: ${base}: theme intact`);
        variant = "broken";
        const bad = await verify(table(), [], browser);
        expect(bad.status).not.toBe(0);
        expect(bad.stdout).toMatch(/verify: theme of ui: FAILED: body background-color is rgba\(0, 0, 0, 0\), not rgb\(13, 17, 23\)/);
        expect(bad.stderr).toMatch(/verify: theme broken: ui .*roll it back or fix the UI image/);
    }, 60_000);

    it("fails saying the theme could not be checked when the browser does not run, and a restore's verify does not run it", async () => {
        const r = await verify(table(), [], { BROWSER: path.join(dir, "no-such-browser") });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(/verify: the theme could not be checked: ui \(exit 2.*the browser did not run/);
        const restore = await verify(table(), ["--without-flows"], { BROWSER: path.join(dir, "no-such-browser") });
        expect(restore.status, restore.stderr).toBe(0);
        expect(restore.stdout).toContain("data flow and theme not checked (--without-flows)");
    }, 60_000);

    it("runs the browser image in a container on the UI's network, where the stack's table names one", async () => {
        const r = await verify(themeTable(sofiaCatalog("questdb")), []);
        // The docker double runs no image: what matters is the command it was given.
        const calls = fs.readFileSync(path.join(dir, "docker.log"), "utf8").split("\n").filter((l) => l.startsWith("run "));
        expect(calls.at(-1)).toMatch(
            /^run --rm --init --name sofia-theme-\d+ --network sofia-net-ui --memory 1g --pids-limit 512 --shm-size 256m -v .*\/components\/synthetics:\/checks:ro -v \S+:\/checks\.json:ro -e NODE_PATH=\/home\/pptruser\/node_modules --entrypoint node ghcr\.io\/puppeteer\/puppeteer:24\.10\.0 \/checks\/run-local\.js \/checks\.json$/,
        );
        // Its container is removed by name whatever happened to the run.
        const name = /--name (sofia-theme-\d+)/.exec(calls.at(-1)!)![1];
        expect(fs.readFileSync(path.join(dir, "docker.log"), "utf8")).toContain(`rm -f ${name}`);
        expect(r.stderr).toMatch(/the theme could not be checked: ui \(exit 2, browser image ghcr\.io\/puppeteer\/puppeteer:24\.10\.0\)/);
    });

    it("calls a runner that cannot load its checks 'could not check', never 'theme broken' (only exit 3 fails a release)", async () => {
        const runner = path.join(dir, "lonely", "run-local.js");
        fs.mkdirSync(path.dirname(runner));
        fs.copyFileSync(path.join(ROOT, "components", "synthetics", "run-local.js"), runner);
        const r = await verify(table(), [], { ...browser, SOFIA_THEME_RUNNER: runner });
        expect(r.stderr).toMatch(/the theme could not be checked: ui \(exit 2/);
        expect(r.stderr).not.toContain("theme broken");
    });

    it("on the ECS store host (flows --wait): at each running task of the UI, by the address ECS gives it; fails naming the task, or saying ECS runs none or cannot be read", async () => {
        // The stack's ECS table, the UI's port pointed here; the tasks' addresses from a TEST DOUBLE of ECS (drill/doubles/ecs/aws).
        const ecsTable = ecsThemeTable(sofiaCatalog("questdb"), { region: "eu-central-1", stack: "prod" }, "-").replace(`{task}:8080`, `{task}:${new URL(base).port}`);
        fs.writeFileSync(path.join(dir, "themes.tsv"), ecsTable);
        const awsLog = path.join(dir, "aws.log");
        const ecs = (extra: Record<string, string>) => runAsync("bash", [SCRIPT, "flows", "--wait"], env({ ...browser, PATH: `${DOUBLES}/ecs:${DOUBLES}:${process.env.PATH}`, AWS_LOG: awsLog, ...extra }));
        variant = "good";
        const ok = await ecs({ ECS_DOUBLE_TASK_ADDRESSES: "127.0.0.1 127.0.0.1" });
        expect(ok.status, ok.stdout + ok.stderr).toBe(0);
        expect(ok.stdout.split("\n").filter((l) => l.includes(`verify: theme of ui (task 127.0.0.1): http://127.0.0.1:${new URL(base).port}: theme intact`))).toHaveLength(2);
        expect(ok.stdout).toMatch(/^verified-at \S+$/m);
        expect(fs.readFileSync(awsLog, "utf8")).toMatch(/ecs list-tasks --region eu-central-1 --cluster sofia-prod --cli-connect-timeout 10 --cli-read-timeout 30 --output json --service-name ui --desired-status RUNNING/);
        // Confined: the page's own loads and scripts reach nothing but its task (the browser shares the store host's reach).
        const hits: string[] = [];
        const store = http.createServer((req, res) => (hits.push(`${req.method} ${req.url}`), res.end()));
        await new Promise<void>((r) => store.listen(0, "127.0.0.1", r));
        reaching = `http://127.0.0.1:${(store.address() as net.AddressInfo).port}`;
        try {
            const confined = await ecs({ ECS_DOUBLE_TASK_ADDRESSES: "127.0.0.1" });
            expect(confined.status, confined.stdout + confined.stderr).toBe(0);
            expect(confined.stdout).toContain(`refused: ${reaching} (the check is confined to http://127.0.0.1:${new URL(base).port})`);
            expect(hits).toEqual([]);
            // The host's own check is not confined (its browser is on the UI's network alone): the same page reaches the other server there.
            const open = await verify(table(), [], browser);
            expect(open.status, open.stdout + open.stderr).toBe(0);
            expect(hits).toContain("GET /ilp");
        } finally {
            reaching = undefined;
            await new Promise<void>((r) => store.close(() => r()));
            fs.writeFileSync(path.join(dir, "themes.tsv"), ecsTable);
        }
        variant = "broken";
        const bad = await ecs({ ECS_DOUBLE_TASK_ADDRESSES: "127.0.0.1" });
        expect(bad.status).not.toBe(0);
        expect(bad.stderr).toMatch(/verify: theme broken: ui \(task 127\.0\.0\.1\)/);
        expect(bad.stdout).not.toContain("verified-at");
        variant = "good";
        const none = await ecs({ ECS_DOUBLE_TASK_ADDRESSES: "" });
        expect(none.status).not.toBe(0);
        expect(none.stderr).toContain("the theme could not be checked: ui (ECS runs no healthy task of it)");
        // A task not yet healthy is not asked (it may not listen yet).
        fs.rmSync(awsLog, { force: true });
        const starting = await ecs({ ECS_DOUBLE_TASK_ADDRESSES: "127.0.0.1 127.0.0.2", ECS_DOUBLE_TASK_UNHEALTHY: "127.0.0.2" });
        expect(starting.status, starting.stdout + starting.stderr).toBe(0);
        expect(starting.stdout).not.toContain("task 127.0.0.2");
        // A task that cannot be reached counts, unless ECS no longer runs it when asked again (stopped or replaced meanwhile).
        fs.rmSync(awsLog, { force: true });
        const gone = await ecs({ ECS_DOUBLE_TASK_ADDRESSES: "127.0.0.1 127.0.0.2", ECS_DOUBLE_TASK_GONE: "127.0.0.2" });
        expect(gone.status, gone.stdout + gone.stderr).toBe(0);
        expect(gone.stdout).toContain("verify: theme of ui (task 127.0.0.2): ECS no longer runs it healthy; not counted");
        fs.rmSync(awsLog, { force: true });
        const unreachable = await ecs({ ECS_DOUBLE_TASK_ADDRESSES: "127.0.0.1 127.0.0.2" });
        expect(unreachable.status).not.toBe(0);
        expect(unreachable.stderr).toMatch(/the theme could not be checked: ui \(task 127\.0\.0\.2\) \(exit 2/);
        const denied = await ecs({ ECS_DOUBLE_TASK_ADDRESSES: "127.0.0.1", ECS_DOUBLE_LIST_FAILS: "1" });
        expect(denied.status).not.toBe(0);
        expect(denied.stderr).toContain("verify: could not list the tasks of ui in cluster sofia-prod (eu-central-1)");
        expect(denied.stderr).toContain("the theme could not be checked: ui (its tasks' addresses could not be read from ECS");
    }, 90_000);

    it("pull-browser pulls each table's browser image once, and fails before the page with what to do", async () => {
        fs.writeFileSync(path.join(dir, "themes.tsv"), themeTable(sofiaCatalog("questdb")));
        const r = run(["pull-browser"]);
        // The double knows no image: inspect fails, the pull is asked for, and the double refuses it.
        expect(fs.readFileSync(path.join(dir, "docker.log"), "utf8")).toContain("pull --quiet ghcr.io/puppeteer/puppeteer:24.10.0");
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("could not pull ghcr.io/puppeteer/puppeteer:24.10.0");
        expect(r.stderr).toContain("nothing was changed");
    });
});
