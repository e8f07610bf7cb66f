/**
 * TEST DOUBLE of QuestDB's HTTP API (QuestDB cannot be installed here): `/exec?query=` records
 * every statement and answers the few the host scripts send, the way QuestDB shapes its replies.
 */
import * as http from "http";
import * as net from "net";

export interface QuestDbDouble {
    url: string;
    /** Every query received, in order. */
    queries: string[];
    /** Whether `ticks` (any table) exists for `tables()` queries. */
    tableExists: boolean;
    /** How ALTER/DROP statements are answered. */
    alter: "ok" | "no-partitions" | "error";
    /** How CHECKPOINT CREATE is answered. */
    checkpoint: "ok" | "error";
    /** How CHECKPOINT RELEASE is answered ("error": as while another checkpoint command runs). */
    release: "ok" | "error";
    /** Whether a checkpoint is held (created and not yet released), as QuestDB would track it. */
    held: boolean;
    /** "user:password" HTTP basic auth that every query must carry (http.user, http.password), if any. */
    auth?: string;
    /** Queries refused for missing or wrong credentials (HTTP 401), in order. */
    refused: string[];
    /** What successive counts of rows newer than a minute answer (a flow's check); the last one stays. */
    recentRows: number[];
    close(): Promise<void>;
}

function reply(res: http.ServerResponse, status: number, body: object): void {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
}

export async function startQuestDbDouble(): Promise<QuestDbDouble> {
    const double: Omit<QuestDbDouble, "url" | "close"> = { queries: [], tableExists: true, alter: "ok", checkpoint: "ok", release: "ok", held: false, refused: [], recentRows: [42] };
    const server = http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://x");
        if (url.pathname !== "/exec") return reply(res, 404, { error: "not found" });
        const query = url.searchParams.get("query") ?? "";
        if (double.auth && req.headers.authorization !== `Basic ${Buffer.from(double.auth).toString("base64")}`) {
            double.refused.push(query);
            return reply(res, 401, { error: "Unauthorized" });
        }
        double.queries.push(query);
        if (/count\(\).*tables\(\)/i.test(query)) return reply(res, 200, { query, columns: [{ name: "count", type: "LONG" }], dataset: [[double.tableExists ? 1 : 0]], count: 1 });
        if (/table_name.*tables\(\)/i.test(query)) {
            const names = double.tableExists ? [["ticks"]] : [];
            return reply(res, 200, { query, columns: [{ name: "table_name", type: "STRING" }], dataset: names, count: names.length });
        }
        if (/^select count\(\) from \w+ where \w+ > dateadd\('m', -1, now\(\)\)$/i.test(query)) {
            const rows = double.recentRows.length > 1 ? double.recentRows.shift()! : (double.recentRows[0] ?? 0);
            return reply(res, 200, { query, columns: [{ name: "count", type: "LONG" }], dataset: [[rows]], count: 1 });
        }
        if (/^checkpoint create/i.test(query)) {
            if (double.checkpoint !== "ok" || double.held) return reply(res, 400, { query, error: "checkpoint is already in progress", position: 0 });
            double.held = true;
            return reply(res, 200, { ddl: "OK" });
        }
        if (/^checkpoint release/i.test(query)) {
            if (double.release !== "ok") return reply(res, 400, { query, error: "Another checkpoint command is in progress", position: 0 });
            double.held = false;
            return reply(res, 200, { ddl: "OK" });
        }
        if (/^vacuum table/i.test(query)) return reply(res, 200, { ddl: "OK" });
        if (/^alter/i.test(query)) {
            if (double.alter === "ok") return reply(res, 200, { ddl: "OK" });
            return reply(res, 400, { query, error: double.alter === "no-partitions" ? "no partitions matched WHERE clause" : "table busy", position: 0 });
        }
        return reply(res, 400, { query, error: "unexpected query for the double", position: 0 });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    return Object.assign(double, { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) });
}
