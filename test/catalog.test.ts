import { spawn } from "child_process";
import * as http from "http";
import * as net from "net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogEntry, clientPorts, sofiaCatalog, TICKS_TABLE } from "../model/catalog";
import { flowSql } from "../topology/host/store-config";
import { runAsync } from "../drill/run";
import { CatalogError, startStages, stopStages } from "../model/start-order";

const catalog = sofiaCatalog("questdb");
const entry = (name: string) => catalog.find((e) => e.name === name)!;

function fake(name: string, startsAfter: string[]): CatalogEntry {
    return { ...entry("news"), name, startsAfter };
}

/** Runs a Docker health check's argv (CMD or CMD-SHELL) here, as Docker would in the container. */
async function runCheck(test: string[]): Promise<number | null> {
    const [kind, ...rest] = test;
    return (kind === "CMD-SHELL" ? await runAsync("sh", ["-c", rest.join(" ")]) : await runAsync(rest[0], rest.slice(1))).status;
}

describe("start order from the catalog", () => {
    it("follows the runbook: stores (and the front proxy), metrics (and Grafana, once its store is up), ingestors, writer, news and alerts, API, UI", () => {
        expect(startStages(catalog)).toEqual([["redis", "questdb", "proxy"], ["metrics", "grafana"], ["crypto-ws", "equities"], ["ts-writer"], ["news", "whale-alerts"], ["api"], ["ui"]]);
    });

    it("waits for whichever time-series store the stack chose", () => {
        const ts = sofiaCatalog("timescaledb");
        expect(ts.map((e) => e.name)).not.toContain("questdb");
        expect(startStages(ts)[0]).toEqual(["redis", "timescaledb", "proxy"]);
        expect(ts.find((e) => e.name === "metrics")!.startsAfter).toEqual(["redis", "timescaledb"]);
    });

    it("stops in the reverse order: API first, data stores and the proxy last", () => {
        expect(stopStages(catalog)[0]).toEqual(["ui"]);
        expect(stopStages(catalog).at(-1)).toEqual(["redis", "questdb", "proxy"]);
    });

    it("names the entries of a cycle", () => {
        expect(() => startStages([fake("a", []), fake("b", ["c"]), fake("c", ["b"])])).toThrow(CatalogError);
        expect(() => startStages([fake("a", []), fake("b", ["c"]), fake("c", ["b"])])).toThrow(/cycle among b \(after c\); c \(after b\)/);
    });

    it("names an unknown entry and who refers to it", () => {
        expect(() => startStages([fake("a", []), fake("b", ["apii"])])).toThrow(/b starts after unknown entry "apii"/);
    });

    it("names entries defined twice", () => {
        expect(() => startStages([fake("a", []), fake("a", [])])).toThrow(/entries named twice: a/);
    });
});

describe("catalog entries", () => {
    it("give every entry a health check with a start period, a grace period and a memory limit", () => {
        for (const e of catalog) {
            expect(e.check.test.length, e.name).toBeGreaterThan(1);
            expect(e.check.startPeriodSeconds, e.name).toBeGreaterThan(0);
            expect(e.stopGraceSeconds, e.name).toBeGreaterThan(0);
            expect(e.memoryMb, e.name).toBeGreaterThanOrEqual(128);
        }
    });

    it("settle the API on one port, used by its command, its published port and its /health", () => {
        const api = entry("api");
        const port = api.command![api.command!.indexOf("--port") + 1];
        expect(port).toBe("8013");
        expect(api.ports.map((p) => p.port)).toEqual([8013]);
        expect(api.health).toEqual({ port: 8013, path: "/health" });
        expect(JSON.stringify(catalog)).not.toContain("8009");
    });

    it("publish only the API, UI and Grafana to clients, and keep the stores off the internet", () => {
        expect(clientPorts(catalog).map((c) => `${c.service}:${c.port.port}`)).toEqual(["api:8013", "ui:8080", "grafana:3000"]);
        for (const e of catalog.filter((x) => x.kind === "store")) for (const p of e.ports) expect(p.publish, `${e.name}:${p.port}`).not.toBe("clients");
    });

    it("carry the runbook's API tuning as defaults", () => {
        expect(entry("api").env).toEqual({ WORKERS: "4", REDIS_POOL_SIZE: "20", DB_POOL_SIZE: "10", API_CACHE_TTL: "5" });
    });
});

describe("health checks, run for real", () => {
    let server: http.Server;
    let status = 200;
    let port = 0;
    let listener: net.Server;
    let listenPort = 0;

    beforeAll(async () => {
        server = http.createServer((_req, res) => {
            res.statusCode = status;
            res.end("ok");
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        port = (server.address() as net.AddressInfo).port;
        listener = net.createServer();
        await new Promise<void>((r) => listener.listen(0, "0.0.0.0", r));
        listenPort = (listener.address() as net.AddressInfo).port;
    });
    afterAll(() => {
        server.close();
        listener.close();
    });

    it("an HTTP service's check passes on 200 and fails on 500", async () => {
        const test = entry("api").check.test.map((a) => a.replace(":8013/", `:${port}/`));
        status = 200;
        expect(await runCheck(test)).toBe(0);
        status = 500;
        expect(await runCheck(test)).not.toBe(0);
    });

    it("QuestDB's check passes only while something listens on its health port", async () => {
        const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, "0");
        const test = entry("questdb").check.test.map((a) => a.replace(`:${hex(9003)} `, `:${hex(listenPort)} `));
        expect(test.join(" ")).toContain(`:${hex(listenPort)} `);
        expect(await runCheck(test)).toBe(0);
        const closed = entry("questdb").check.test.map((a) => a.replace(`:${hex(9003)} `, `:${hex(1)} `));
        expect(await runCheck(closed)).not.toBe(0);
    });

    it("a worker's check finds its own script in the process table, and nothing else", async () => {
        const check = entry("crypto-ws").check.test;
        expect(await runCheck(check)).not.toBe(0);
        const worker = spawn("python3", ["-c", "import time; time.sleep(30)", "ingestors/crypto_ws.py"], { stdio: "ignore" });
        try {
            await new Promise((r) => setTimeout(r, 300));
            expect(await runCheck(check)).toBe(0);
            expect(await runCheck(entry("equities").check.test)).not.toBe(0);
        } finally {
            worker.kill();
        }
    });
});

describe("the catalog's writes (a deploy's data-flow check)", () => {
    it("declares the writer of ticks in both stores' catalogs, and counts rows newer than a minute in each store's SQL", () => {
        for (const store of ["questdb", "timescaledb"] as const) {
            const writers = sofiaCatalog(store).filter((e) => e.writes);
            expect(writers.map((e) => e.name)).toEqual(["ts-writer"]);
            expect(writers[0].writes!.table).toBe(TICKS_TABLE);
        }
        expect(flowSql("questdb", "ticks", "timestamp")).toBe("SELECT count() FROM ticks WHERE timestamp > dateadd('m', -1, now())");
        expect(flowSql("timescaledb", "ticks", "timestamp")).toBe(`SELECT count(*) FROM ticks WHERE "timestamp" > now() - INTERVAL '1 minute'`);
    });

    it("refuses a table or column that is not a plain name (it goes into SQL on the host)", () => {
        expect(() => flowSql("questdb", "ticks; DROP TABLE ticks", "timestamp")).toThrow(/is not a plain table and column name/);
        expect(() => flowSql("timescaledb", "ticks", 'timestamp" OR 1=1 --')).toThrow(/is not a plain table and column name/);
    });
});
