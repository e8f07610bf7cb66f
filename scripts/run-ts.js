#!/usr/bin/env node
// Runs one of this repo's TypeScript entry points with plain node: esbuild bundles our own sources
// (not node_modules) into .build/, then node runs the bundle. tsx would also work, but its loader
// hooks sit on every require of the large SDK packages and double the plan's time. The bundle is
// rebuilt only when a TypeScript source is newer than it (esbuild itself costs ~60 ms to load and run).
"use strict";
const fs = require("fs");
const path = require("path");

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error("usage: node scripts/run-ts.js <entry.ts> [args...]");
  process.exit(64);
}
const root = path.resolve(__dirname, "..");
const outfile = path.join(root, ".build", path.basename(entry).replace(/\.ts$/, ".js"));
const SKIP = new Set(["node_modules", ".build", ".git", ".scratch", "test"]);

/** Newest modification time of any TypeScript source the bundle could contain. */
function newestSource(dir) {
  let newest = 0;
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    if (d.isDirectory()) {
      if (!SKIP.has(d.name)) newest = Math.max(newest, newestSource(path.join(dir, d.name)));
    } else if (d.name.endsWith(".ts")) {
      newest = Math.max(newest, fs.statSync(path.join(dir, d.name)).mtimeMs);
    }
  }
  return newest;
}

const built = fs.existsSync(outfile) ? fs.statSync(outfile).mtimeMs : -1;
const entryFile = path.resolve(root, entry);
if (built < newestSource(root) || built < fs.statSync(entryFile).mtimeMs || built < fs.statSync(__filename).mtimeMs) {
  require("esbuild").buildSync({
    entryPoints: [entryFile],
    outfile,
    bundle: true,
    packages: "external",
    platform: "node",
    target: "node20",
    format: "cjs",
    sourcemap: "inline",
    logLevel: "error",
  });
}
process.argv = [process.argv[0], outfile, ...args];
require(outfile);
