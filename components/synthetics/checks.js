/**
 * Synthetic checks, in a browser: a page's theme is intact (each marker's element exists and its
 * computed style has the expected value), and critical paths answer 2xx within their time. The
 * same code runs in CloudWatch Synthetics (the syn-nodejs-puppeteer runtime, `handler`) and in the
 * tests (puppeteer-core with Debian's chromium), so what the tests prove is what the canary runs.
 * Plain CommonJS without dependencies: it is uploaded as it is.
 */
"use strict";

/**
 * Loads `url` and reads every marker. Returns what differs, one line each (empty: intact).
 * @param {import("puppeteer-core").Page} page
 * @param {string} url
 * @param {{ selector: string, property: string, value: string }[]} markers
 * @param {(name: string) => Promise<void>} [screenshot] called once the page has loaded
 */
async function checkTheme(page, url, markers, screenshot) {
  const response = await page.goto(url, { waitUntil: "networkidle0", timeout: 30000 });
  if (screenshot) await screenshot("theme");
  const status = response ? response.status() : 0;
  if (status < 200 || status >= 300) return [`${url} answered ${status || "nothing"}, not the page`];
  const seen = await page.evaluate((list) => list.map((m) => {
    const el = document.querySelector(m.selector);
    return el ? getComputedStyle(el).getPropertyValue(m.property).trim() : null;
  }), markers);
  return markers.flatMap((m, i) =>
    seen[i] === null ? [`no element ${m.selector} on ${url}`] : seen[i] === m.value ? [] : [`${m.selector} ${m.property} is ${seen[i]}, not ${m.value}`]);
}

/**
 * Asks each path from the page's own browser (same TLS, same network path as a client) and times
 * it. Returns what failed, one line each.
 * @param {import("puppeteer-core").Page} page
 * @param {string} base e.g. https://sofia.company.com:8013
 * @param {{ path: string, maxMs: number }[]} paths
 */
async function checkPaths(page, base, paths) {
  const failures = [];
  for (const p of paths) {
    const url = new URL(p.path, base).toString();
    const started = Date.now();
    let status = 0;
    try {
      const response = await page.goto(url, { waitUntil: "load", timeout: Math.max(p.maxMs * 3, 5000) });
      status = response ? response.status() : 0;
    } catch (e) {
      failures.push(`${url}: ${String((e && e.message) || e).split("\n")[0]}`);
      continue;
    }
    const ms = Date.now() - started;
    if (status < 200 || status >= 300) failures.push(`${url} answered ${status}`);
    else if (ms > p.maxMs) failures.push(`${url} took ${ms} ms, more than ${p.maxMs} ms`);
  }
  return failures;
}

/**
 * The canary: its configuration in CHECKS (JSON: [{ base, theme?: { path, markers }, paths? }]).
 * Fails (throws) naming everything that differs: CloudWatch counts it, and its alarm pages.
 */
async function handler() {
  // Provided by the Synthetics runtime only.
  const synthetics = require("Synthetics");
  const log = require("SyntheticsLogger");
  const checks = JSON.parse(process.env.CHECKS || "[]");
  const page = await synthetics.getPage();
  const failures = [];
  for (const c of checks) {
    if (c.theme) failures.push(...(await checkTheme(page, new URL(c.theme.path, c.base).toString(), c.theme.markers, (name) => synthetics.takeScreenshot(name, "loaded"))));
    if (c.paths) failures.push(...(await checkPaths(page, c.base, c.paths)));
  }
  for (const f of failures) log.error(f);
  if (failures.length) throw new Error(failures.join("; "));
}

module.exports = { checkTheme, checkPaths, handler };
