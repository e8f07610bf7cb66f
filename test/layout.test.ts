/**
 * The host layout (topology/host/layout.ts) is the only map of the host: the scripts take every
 * path from the host.env it writes, and every file the stack installs is at a path it names.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import * as layout from "../topology/host/layout";
import { sofiaHostLayout } from "../topology/host/services-files";
import { installedFiles, planStack } from "./helpers/plan";

const HOST = path.join(__dirname, "..", "host");
const scripts = fs.readdirSync(HOST).filter((f) => f.startsWith("sofia-") && f.endsWith(".sh"));
const read = (f: string) => fs.readFileSync(path.join(HOST, f), "utf8");
/** Every path the layout names, and the directories it names (the systemd units' among them). */
const named: string[] = (Object.values(layout) as unknown[]).filter((v): v is string => typeof v === "string" && v.startsWith("/"));

describe("the host layout", () => {
    it("is where every host script finds its paths: none writes one of Sofia's own but the layout file's", () => {
        expect(scripts.length).toBeGreaterThanOrEqual(8);
        for (const f of scripts) {
            const sofiaPaths = [...read(f).matchAll(/\/(?:etc\/sofia|usr\/local\/(?:s?bin|lib)\/sofia|var\/lib\/sofia|run\/lock\/sofia)[\w./-]*/g)].map((m) => m[0]);
            expect({ f, sofiaPaths: sofiaPaths.filter((p) => p !== layout.HOST_ENV) }).toEqual({ f, sofiaPaths: [] });
            // The one path known before anything is read: the layout file's own, as the program writes it.
            expect([...read(f).matchAll(/SOFIA_HOST_ENV=\$\{SOFIA_HOST_ENV:-([^}]+)\}/g)].map((m) => m[1]).every((p) => p === layout.HOST_ENV)).toBe(true);
        }
    });

    it("sets every variable a script requires of it", () => {
        const given = sofiaHostLayout(layout.DATA_PATH);
        const required = new Set(scripts.flatMap((f) => [...read(f).matchAll(/\$\{(SOFIA_[A-Z_]+):\?not in the host layout/g)].map((m) => m[1])));
        expect(required.size).toBeGreaterThan(10);
        expect([...required].filter((v) => !(v in given))).toEqual([]);
    });

    it("names the path of every file the stack installs on the host", async () => {
        const files = installedFiles(await planStack("prod")).map((f) => f.path);
        expect(files.length).toBeGreaterThan(20);
        const unnamed = files.filter((p) => !named.includes(p) && !named.includes(path.dirname(p)) && !p.startsWith("/home/"));
        expect(unnamed).toEqual([]);
    });

    it("stops a script at once, naming the file, when the host has no layout", () => {
        for (const f of ["sofia-probe.sh", "sofia-services.sh", "sofia-backup.sh", "sofia-cert.sh"]) {
            const r = spawnSync("bash", [path.join(HOST, f), "status"], { env: { PATH: process.env.PATH, SOFIA_HOST_ENV: "/nonexistent/host.env" }, encoding: "utf8" });
            expect(r.status).toBe(1);
            expect(r.stderr).toMatch(/no host layout at \/nonexistent\/host\.env; it is installed by the stack \(pulumi up\)/);
        }
    });
});
