#!/usr/bin/env node
// The programs the tests run for real, and the Debian packages that bring them: the one list that
// `npm test` (pretest) and CI use. With --install, missing ones are installed when we are root on
// a Debian machine; otherwise the exact command to run is printed.
"use strict";
const { spawnSync } = require("child_process");

const NEEDED = [
  { command: "shellcheck", pkg: "shellcheck", why: "host scripts are linted" },
  { command: "cloud-init", pkg: "cloud-init", why: "user data is checked with cloud-init schema" },
  { command: "redis-server", pkg: "redis-server", why: "backup and restore drills run a real Redis" },
  { command: "curl", pkg: "curl", why: "host scripts call /health endpoints" },
  { command: "flock", pkg: "util-linux", why: "host scripts serialise on a lock" },
  { command: "nginx", pkg: "nginx-light", why: "the front proxy's configuration is checked and served by a real nginx" },
  { command: "sshd", pkg: "openssh-server", why: "the host's sshd drop-in is read by the real sshd" },
  { command: "uvicorn", check: "/usr/bin/python3 -c 'import uvicorn'", pkg: "python3-uvicorn", why: "the API's error pattern is matched against real uvicorn output" },
  { command: "openssl", pkg: "openssl", why: "SHA-256 in the backup and restore scripts; a throwaway certificate for the proxy's TLS" },
  { command: "pebble", pkg: "pebble", why: "an ACME test server issues the proxy's certificate to sofia-cert" },
  { command: "lego", pkg: "lego", why: "the ACME client sofia-cert runs (the host runs the same version from its image)" },
  // Debian's chromium; on GitHub's Ubuntu runners (whose chromium package is a snap) their Google Chrome.
  { command: "chromium", check: "command -v chromium || command -v chromium-browser || command -v google-chrome", pkg: "chromium", why: "the synthetic checks' theme and critical-path script runs in a real headless browser" },
  // Not in Debian 12: these come from PyPI (pip install 'moto[server]' awscli), preinstalled here.
  { command: "moto_server", pkg: null, why: "the S3/CloudWatch/SSM emulator the drills talk to" },
  { command: "aws", pkg: null, why: "host scripts call AWS through the aws CLI" },
];

// sbin too: sshd lives there, off a non-root PATH.
const has = (cmd) => spawnSync("sh", ["-c", `PATH="$PATH:/usr/sbin:/sbin" command -v ${cmd}`], { stdio: "ignore" }).status === 0;
// A module rather than a command: its own check.
const present = (n) => (n.check ? spawnSync("sh", ["-c", n.check], { stdio: "ignore" }).status === 0 : has(n.command));
const missing = NEEDED.filter((n) => !present(n));
if (missing.length === 0) process.exit(0);

for (const m of missing) console.error(`prereqs: ${m.command} is missing (${m.why})`);
const unpackaged = missing.filter((m) => !m.pkg);
if (unpackaged.length) {
  console.error(`prereqs: ${unpackaged.map((m) => m.command).join(", ")} are not Debian packages: pip install 'moto[server]' awscli`);
  process.exit(1);
}
const pkgs = [...new Set(missing.map((m) => m.pkg))];
const canInstall = process.argv.includes("--install") && process.getuid && process.getuid() === 0 && has("apt-get");
if (!canInstall) {
  console.error(`prereqs: install them with: sudo apt-get update && sudo apt-get install -y ${pkgs.join(" ")}`);
  process.exit(1);
}
console.error(`prereqs: installing ${pkgs.join(" ")} with apt-get`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
// Packages with a service (nginx) must not start it here: the tests run their own, on free ports.
const fs = require("fs");
const POLICY = "/usr/sbin/policy-rc.d";
const ownPolicy = !fs.existsSync(POLICY);
if (ownPolicy) fs.writeFileSync(POLICY, "#!/bin/sh\n# sofia-infra prereqs: no service starts during this install\nexit 101\n", { mode: 0o755 });
for (const args of [["update", "-qq"], ["install", "-y", "-qq", "--no-install-recommends", ...pkgs]]) {
  const r = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
  if (r.status !== 0 && ownPolicy) fs.rmSync(POLICY, { force: true });
  if (r.status !== 0) {
    console.error(`prereqs: apt-get ${args.join(" ")} failed (exit ${r.status}); run it by hand to see why`);
    process.exit(1);
  }
}
if (ownPolicy) fs.rmSync(POLICY, { force: true });
const still = missing.filter((m) => !present(m));
if (still.length) {
  console.error(`prereqs: still missing after install: ${still.map((m) => m.command).join(", ")}`);
  process.exit(1);
}
