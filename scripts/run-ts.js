#!/usr/bin/env node
// Runs one of this repo's TypeScript entry points with plain node: esbuild bundles our own sources
// (not node_modules) into .build/ in ~50 ms, then node runs the bundle. tsx would also work, but
// its loader hooks sit on every require of the large SDK packages and double the plan's time.
"use strict";
const path = require("path");
const esbuild = require("esbuild");

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error("usage: node scripts/run-ts.js <entry.ts> [args...]");
  process.exit(64);
}
const root = path.resolve(__dirname, "..");
const outfile = path.join(root, ".build", path.basename(entry).replace(/\.ts$/, ".js"));
esbuild.buildSync({
  entryPoints: [path.resolve(root, entry)],
  outfile,
  bundle: true,
  packages: "external",
  platform: "node",
  target: "node20",
  format: "cjs",
  sourcemap: "inline",
  logLevel: "error",
});
process.argv = [process.argv[0], outfile, ...args];
require(outfile);
