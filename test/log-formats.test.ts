/**
 * Each service's error pattern against real lines of its software: Python's logging, uvicorn
 * (Debian's python3-uvicorn), nginx and redis-server are run here and their own output is matched;
 * QuestDB and PostgreSQL cannot run here, so their lines are the documented layouts, marked as such.
 * Matching is done by a named double of CloudWatch's matcher (test/helpers/filter-pattern.ts).
 */
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { sofiaCatalog } from "../model/catalog";
import { LOG_FORMATS, LogFormat } from "../model/log-formats";
import { filterMatches, logFields } from "./helpers/filter-pattern";

/** The lines a format's filters count (a line counts once, whichever filter matches it). */
const counted = (format: LogFormat, lines: string[]) => lines.filter((l) => LOG_FORMATS[format].errorPatterns.some((p) => filterMatches(p, l)));

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "sofia-logs-"));
const freePort = () =>
    new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
    });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const get = (port: number, urlPath: string, headers: Record<string, string> = {}) =>
    new Promise<void>((resolve) => http.get({ host: "127.0.0.1", port, path: urlPath, headers }, (r) => (r.resume(), r.on("end", resolve))).on("error", () => resolve()));
const lines = (file: string) => fs.readFileSync(file, "utf8").split("\n").filter(Boolean);

// Debian's system Python has python3-uvicorn (scripts/prereqs.js); the PATH's may be another one.
const PYTHON = "/usr/bin/python3";

describe("the filter-pattern double reads lines as CloudWatch documents", () => {
    it("splits at spaces, keeps [..] and \"..\" as one field without them, and matches by position", () => {
        expect(logFields('1.2.3.4 - - [03/Dec/2026:08:15:02 +0000] "GET /x HTTP/1.1" 200')).toEqual(["1.2.3.4", "-", "-", "03/Dec/2026:08:15:02 +0000", "GET /x HTTP/1.1", "200"]);
        expect(filterMatches('[a, level = "E" || level = "C", ...]', "t E msg")).toBe(true);
        expect(filterMatches('[a, level = "E" || level = "C", ...]', "t I E")).toBe(false);
        expect(filterMatches('[a, level = "ERR*", ...]', "t ERROR: x")).toBe(true);
        expect(() => filterMatches("ERROR", "ERROR")).toThrow(/only space-delimited/);
    });
});

/** Real lines of redis-server's own log, with a real error among them: a save into a directory that is gone. */
async function redisLog(): Promise<string[]> {
    const dir = tmp();
    const port = await freePort();
    const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--logfile", `${dir}/redis.log`, "--dir", dir, "--maxmemory", "1mb", "--maxmemory-policy", "noeviction"], { stdio: "ignore" });
    try {
        for (let i = 0; i < 100 && !(fs.existsSync(`${dir}/redis.log`) && fs.readFileSync(`${dir}/redis.log`, "utf8").includes("Ready to accept")); i++) await sleep(50);
        // A real error line: a save into a directory that is gone.
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir);
        fs.writeFileSync(`${dir}/redis.log`, "");
        execFileSync("redis-cli", ["-p", String(port), "CONFIG", "SET", "logfile", `${dir}/redis.log`], { stdio: "ignore" });
        execFileSync("redis-cli", ["-p", String(port), "CONFIG", "SET", "dir", dir], { stdio: "ignore" });
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir);
        execFileSync("redis-cli", ["-p", String(port), "SAVE"], { stdio: "ignore" });
        execFileSync("redis-cli", ["-p", String(port), "BGSAVE"], { stdio: "ignore" });
        await sleep(500);
    } catch {
        // A refused SAVE is the point.
    } finally {
        redis.kill();
    }
    await sleep(200);
    const out = fs.existsSync(`${dir}/redis.log`) ? lines(`${dir}/redis.log`) : [];
    return out;
}

describe("every service's errors, in its own software's words", () => {
    it("gives every catalog entry of both stores a format whose patterns CloudWatch accepts (at most 1,024 characters) and the double reads", () => {
        for (const e of [...sofiaCatalog("questdb"), ...sofiaCatalog("timescaledb")]) {
            for (const p of LOG_FORMATS[e.logFormat].errorPatterns) {
                expect(p.length, e.name).toBeLessThanOrEqual(1024);
                expect(() => filterMatches(p, "x"), e.name).not.toThrow();
            }
        }
    });

    it("python: counts ERROR and CRITICAL records of Python's logging, not a record that only mentions them", () => {
        const script = `
import logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("ingestors.crypto_ws")
log.info("connected; last ERROR was an hour ago")
log.warning("ERROR rate rising: 3 reconnects")
log.error("websocket closed: code 1006")
log.debug("CRITICAL section entered")
log.critical("no ticks for 60 s")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("tick handler failed")
`;
        const out = execFileSync(PYTHON, ["-c", script], { encoding: "utf8" }).split("\n").filter(Boolean);
        expect(counted("python", out).map((l) => l.replace(/^\S+ \S+ /, ""))).toEqual([
            "ERROR ingestors.crypto_ws: websocket closed: code 1006",
            "CRITICAL ingestors.crypto_ws: no ticks for 60 s",
            "ERROR ingestors.crypto_ws: tick handler failed",
        ]);
    });

    it("uvicorn: counts the line its exception handler writes, not the access line of the 500 or the traceback", async () => {
        const dir = tmp();
        fs.writeFileSync(
            path.join(dir, "app.py"),
            `async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    raise RuntimeError("ERROR in handler")
`,
        );
        const port = await freePort();
        const log = fs.openSync(path.join(dir, "out.log"), "w");
        const server = spawn(PYTHON, ["-m", "uvicorn", "app:app", "--port", String(port)], { cwd: dir, stdio: ["ignore", log, log] });
        try {
            for (let i = 0; i < 100 && !fs.readFileSync(path.join(dir, "out.log"), "utf8").includes("Uvicorn running"); i++) await sleep(50);
            await get(port, "/ERROR");
            for (let i = 0; i < 100 && !fs.readFileSync(path.join(dir, "out.log"), "utf8").includes('"GET /ERROR'); i++) await sleep(50);
        } finally {
            server.kill();
        }
        const out = lines(path.join(dir, "out.log"));
        expect(out.some((l) => l.startsWith("Traceback"))).toBe(true);
        expect(out.some((l) => /"GET \/ERROR HTTP\/1.1" 500/.test(l))).toBe(true);
        expect(counted("uvicorn", out)).toEqual(["ERROR:    Exception in ASGI application"]);
    });

    it("nginx: counts [error] and worse, not notices, and not an access line whose request or agent says error", async () => {
        const dir = tmp();
        const [port, dead] = [await freePort(), await freePort()];
        const conf = path.join(dir, "nginx.conf");
        fs.writeFileSync(
            conf,
            `error_log ${dir}/all.log notice;
pid ${dir}/nginx.pid;
events {}
http {
    access_log ${dir}/all.log;
    client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
    server { listen 127.0.0.1:${port}; location / { proxy_pass http://127.0.0.1:${dead}; } }
}
`,
        );
        const nginx = spawn("nginx", ["-c", conf, "-e", `${dir}/all.log`, "-g", "daemon off;"], { stdio: "ignore" });
        try {
            for (let i = 0; i < 100 && !fs.existsSync(`${dir}/nginx.pid`); i++) await sleep(50);
            await get(port, "/error?level=[error]", { "user-agent": "error crit" });
            for (let i = 0; i < 100 && !fs.readFileSync(`${dir}/all.log`, "utf8").includes('"GET /error'); i++) await sleep(50);
        } finally {
            nginx.kill();
        }
        const out = lines(`${dir}/all.log`);
        expect(out.some((l) => l.includes("[notice]"))).toBe(true);
        const errors = counted("nginx", out);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/\[error\] \d+#\d+: \*\d+ connect\(\) failed \(111: Connection refused\) while connecting to upstream/);
        // The old filter, the term ERROR, counted nothing here.
        expect(out.filter((l) => l.includes("ERROR"))).toEqual([]);
    });

    it("redis: counts its # lines (its errors and warnings), not its notices", async () => {
        const out = await redisLog();
        const errors = counted("redis", out);
        expect(errors.length, out.join("\n")).toBeGreaterThan(0);
        for (const l of errors) expect(l).toMatch(/^\d+:[MCSX] \d{2} \w{3} \d{4} [\d:.]+ # /);
        for (const l of out.filter((x) => !errors.includes(x))) expect(l).not.toMatch(/ # /);
        expect(out.some((l) => / \* /.test(l))).toBe(true);
    });

    it("elasticache (AWS's documented engine-log layout, on real Redis lines; ElastiCache cannot run here): counts # lines, where the host's Redis pattern counts none", async () => {
        // AWS's own example ("Log delivery", contents of an engine log entry): a notice.
        const documented = "xxxxxxxxxxxzy-engine-log-test/0001:M 29 Oct 2020 20:12:20.499 UTC * A slow-running Lua script detected that is still in execution after 1000 microseconds.";
        // Real lines in that layout: the cluster and node where the pid was, the zone after the time.
        const out = (await redisLog()).map((l) => l.replace(/^\d+:([MCSX]) (\d{2} \w{3} \d{4} [\d:.]+) /, "sofia-cache-001/0001:$1 $2 UTC "));
        const errors = counted("elasticache", [documented, ...out]);
        expect(errors.length, out.join("\n")).toBeGreaterThan(0);
        expect(errors).toEqual(out.filter((l) => / UTC # /.test(l)));
        expect(counted("redis", out)).toEqual([]);
    });

    it("questdb (its documented layout; QuestDB cannot run here): counts E and C, not I, A or a message with E in it", () => {
        const out = [
            "2026-12-03T08:15:02.123456Z I i.q.c.TableReader open partition /var/lib/questdb/db/ticks~1/2026-12-03 [rowCount=1000]",
            "2026-12-03T08:15:02.223456Z E i.q.c.l.t.LineTcpConnectionContext [42] could not process line data [table=ticks, msg=cast error]",
            "2026-12-03T08:15:02.323456Z C i.q.c.CairoEngine could not open table [table=ticks, errno=24]",
            "2026-12-03T08:15:02.423456Z A server-main E is not a level here",
        ];
        expect(counted("questdb", out)).toEqual([out[1], out[2]]);
        expect(out.filter((l) => l.includes("ERROR"))).toEqual([]);
    });

    it("postgres (its documented default prefix; PostgreSQL does not run here): counts ERROR, FATAL and PANIC, not LOG or a statement that says ERROR", () => {
        const out = [
            "2026-12-03 08:15:02.123 UTC [1] LOG:  database system is ready to accept connections",
            '2026-12-03 08:15:02.223 UTC [57] ERROR:  relation "tickz" does not exist at character 15',
            "2026-12-03 08:15:02.224 UTC [57] STATEMENT:  SELECT 'ERROR:' FROM tickz",
            '2026-12-03 08:15:02.323 UTC [58] FATAL:  password authentication failed for user "sofia"',
        ];
        expect(counted("postgres", out)).toEqual([out[1], out[3]]);
    });

    it("grafana (its JSON console layout; Grafana does not run here): counts error and crit records, not an info record whose message says error, nor a logfmt line", () => {
        const out = [
            '{"logger":"settings","t":"2026-12-03T08:15:02.123456789Z","level":"info","msg":"Starting Grafana","version":"11.6.0"}',
            '{"logger":"context","userId":0,"orgId":1,"uname":"","t":"2026-12-03T08:15:02.223Z","level":"error","msg":"Request error","error":"db query error"}',
            '{"logger":"tsdb.grafana-postgresql-datasource","t":"2026-12-03T08:15:02.323Z","level":"info","msg":"level error in a message"}',
            '{"logger":"server","t":"2026-12-03T08:15:02.423Z","level":"crit","msg":"Critical error"}',
            'logger=context t=2026-12-03T08:15:02.523Z level=error msg="logfmt is not what the container writes"',
        ];
        expect(counted("grafana", out)).toEqual([out[1], out[3]]);
        expect(() => filterMatches('{ $.level = "error" || $.msg = "x" }', "{}")).toThrow(/cannot read JSON pattern/);
    });
});
