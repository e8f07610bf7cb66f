/**
 * The synthetic checks' script (components/synthetics/checks.js), in a real headless Chromium
 * (Debian's, driven by puppeteer-core), against a stand-in UI served here with the catalog's theme
 * intact, with live data that changes on every load, and broken two ways; and against paths that
 * answer, fail and dawdle. The screenshots it takes are kept under test-results/synthetics/.
 */
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import puppeteer, { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sofiaCatalog } from "../model/catalog";
import { browserPath } from "./helpers/browser";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { checkTheme, checkPaths } = require("../components/synthetics/checks.js");

const SHOTS = path.join(__dirname, "..", "test-results", "synthetics");
const theme = sofiaCatalog("questdb").find((e) => e.name === "ui")!.theme!;

/** The stand-in UI: the theme as the catalog declares it (or broken), and a price that moves. */
function page(variant: "good" | "no-stylesheet" | "no-marker"): string {
    const css = variant === "no-stylesheet" ? "" : "<style>:root { color-scheme: dark; } body { background-color: #0d1117; color: #c9d1d9; }</style>";
    const root = variant === "no-marker" ? "<html>" : '<html data-theme="sofia-dark">';
    return `<!doctype html>${root}<head>${css}</head><body><h1>Sofia</h1><p id="btc">BTC ${(60000 + Math.random() * 5000).toFixed(2)}</p></body></html>`;
}

let server: http.Server;
let base: string;
let browser: Browser;
let tab: Page;

beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    server = http.createServer((req, res) => {
        const url = req.url ?? "/";
        if (url === "/health") return res.end("ok");
        if (url === "/down") return ((res.statusCode = 503), res.end("down"));
        if (url === "/slow") return void setTimeout(() => res.end("late"), 400);
        const variant = url.slice(1) || "good";
        if (!["good", "no-stylesheet", "no-marker"].includes(variant)) return ((res.statusCode = 404), res.end());
        res.setHeader("content-type", "text/html");
        res.end(page(variant as "good"));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    browser = await puppeteer.launch({ executablePath: browserPath(), headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    tab = await browser.newPage();
}, 60_000);

afterAll(async () => {
    await browser?.close();
    server?.close();
});

const shoot = (name: string) => async () => {
    await tab.screenshot({ path: path.join(SHOTS, `${name}.png`) });
};

describe("the theme check, in Chromium", () => {
    it("passes the intact theme, whatever the live data shows, and keeps its screenshot", async () => {
        for (const load of [1, 2]) expect(await checkTheme(tab, `${base}/good`, theme.markers, shoot(`good-${load}`))).toEqual([]);
        const png = fs.readFileSync(path.join(SHOTS, "good-1.png"));
        expect(png.subarray(1, 4).toString()).toBe("PNG");
        expect(png.length).toBeGreaterThan(1000);
    });

    it("catches a theme whose stylesheet is gone, naming what it saw", async () => {
        const failures = await checkTheme(tab, `${base}/no-stylesheet`, theme.markers, shoot("no-stylesheet"));
        expect(failures).toEqual(['html[data-theme="sofia-dark"] color-scheme is normal, not dark', "body background-color is rgba(0, 0, 0, 0), not rgb(13, 17, 23)"]);
        expect(fs.existsSync(path.join(SHOTS, "no-stylesheet.png"))).toBe(true);
    });

    it("catches a page that lost the theme's marker", async () => {
        expect(await checkTheme(tab, `${base}/no-marker`, theme.markers, shoot("no-marker"))).toEqual([`no element html[data-theme="sofia-dark"] on ${base}/no-marker`]);
    });

    it("says so when the page itself does not load", async () => {
        expect(await checkTheme(tab, `${base}/missing`, theme.markers)).toEqual([`${base}/missing answered 404, not the page`]);
    });
});

describe("the critical paths check, in Chromium", () => {
    it("passes paths that answer in time, and names each that fails or dawdles", async () => {
        expect(await checkPaths(tab, base, [{ path: "/health", maxMs: 2000 }])).toEqual([]);
        const failures: string[] = await checkPaths(tab, base, [
            { path: "/health", maxMs: 2000 },
            { path: "/down", maxMs: 2000 },
            { path: "/slow", maxMs: 100 },
        ]);
        expect(failures[0]).toBe(`${base}/down answered 503`);
        expect(failures[1]).toMatch(new RegExp(`^${base.replace(/\./g, "\\.")}/slow took \\d+ ms, more than 100 ms$`));
        expect(failures).toHaveLength(2);
    });
});
