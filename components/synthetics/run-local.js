/**
 * The synthetic checks (checks.js, beside this file) run once from the command line, in a browser
 * on the host: what a deploy's verification runs, straight against the UI's container (the
 * maintenance page is up at the proxy then, and the canaries only run where clients come from
 * anywhere).
 *
 *   node run-local.js <checks.json>
 *
 * checks.json is `[{ base, theme?: { path, markers }, paths?, confine? }]`, as the canary's CHECKS;
 * `confine`: the page may load nothing but from its base's origin (the ECS topology's store host,
 * where the browser shares the host's reach: the stores' ports on its private address). Prints
 * one line per check and per failure; exits 3 naming every failure (a broken theme, a path that
 * fails), and 2 (or Node's own 1) when it could not check at all: only 3 may fail a release.
 * Puppeteer comes from the image it runs in (`puppeteer`) or from puppeteer-core with a browser at
 * $BROWSER (the tests: Debian's chromium).
 */
"use strict";
const fs = require("fs");

/** Exit status for "checked, and something differs": nothing else means the UI is broken. */
const FAILED = 3;

function loadPuppeteer() {
  for (const name of ["puppeteer", "puppeteer-core"]) {
    try {
      return require(name);
    } catch (e) {
      if (!(e && e.code === "MODULE_NOT_FOUND")) throw e;
    }
  }
  throw new Error("neither puppeteer nor puppeteer-core can be loaded here");
}

async function main() {
  // Inside main: a checks.js that cannot be loaded is "could not check" (2), not a broken theme.
  const { checkTheme, checkPaths } = require("./checks.js");
  const file = process.argv[2];
  if (!file) throw Object.assign(new Error("usage: node run-local.js <checks.json>"), { exitCode: 2 });
  const checks = JSON.parse(fs.readFileSync(file, "utf8"));
  const puppeteer = loadPuppeteer();
  // The page is our own UI in a throwaway container: Chromium's sandbox needs privileges the
  // container is not given.
  const browser = await puppeteer.launch({ headless: true, args: ["--no-sandbox"], ...(process.env.BROWSER ? { executablePath: process.env.BROWSER } : {}) });
  const failures = [];
  try {
    const page = await browser.newPage();
    const confined = new Set(checks.filter((c) => c.confine).map((c) => new URL(c.base).origin));
    if (confined.size) {
      // Every request the page makes, its scripts' too, but to its own origin is refused (a WebSocket is not a request here).
      await page.setRequestInterception(true);
      page.on("request", (r) => {
        const url = new URL(r.url());
        if (confined.has(url.origin) || ["data:", "blob:", "about:"].includes(url.protocol)) r.continue();
        else {
          console.log(`refused: ${url.origin} (the check is confined to ${[...confined].join(", ")})`);
          r.abort("blockedbyclient");
        }
      });
    }
    for (const c of checks) {
      const found = [];
      if (c.theme) found.push(...(await checkTheme(page, new URL(c.theme.path, c.base).toString(), c.theme.markers)));
      if (c.paths) found.push(...(await checkPaths(page, c.base, c.paths)));
      console.log(found.length ? `${c.base}: ${found.length} check(s) failed` : `${c.base}: theme intact${c.paths ? ", paths answer" : ""}`);
      failures.push(...found);
    }
  } finally {
    await browser.close();
  }
  for (const f of failures) console.log(`FAILED: ${f}`);
  return failures.length ? FAILED : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`run-local: ${(e && e.message) || e}`);
    process.exit((e && e.exitCode) || 2);
  },
);
