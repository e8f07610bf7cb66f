/**
 * The deploy's container fingerprint is derived from what the containers are declared with, not
 * kept as a list: every input of every service container in the plan is in it, so a change to
 * any of them (a setting, the catalog, the generated nginx configuration, a container option in
 * code) verifies the release again.
 */
import { describe, expect, it } from "vitest";
import { AT_DEPLOY, containerFingerprint, containerShapes } from "../topology/host/containers";
import { sofiaCatalog } from "../model/catalog";
import { stackSettings } from "../plan/stack-config";
import { questdbServerConf } from "../topology/host/store-config";
import { ofType, planStack } from "./helpers/plan";

/** A shape's value as the plan would show it: placeholders and secrets match anything. */
function comparable(v: unknown): unknown {
    if (typeof v === "string" && v.includes(AT_DEPLOY)) return "(any)";
    if (v && typeof v === "object" && (v as { constructor?: { name?: string } }).constructor?.name === "OutputImpl") return "(any)";
    if (Array.isArray(v)) return v.map(comparable);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, comparable(x)]));
    return v;
}

function sameExceptDeployTime(shape: unknown, declared: unknown, where: string): void {
    // A secret masks what it holds in the plan (the store's uploads carry its password).
    if (shape === "(any)" || declared === "[secret]") return;
    if (Array.isArray(shape)) {
        expect(Array.isArray(declared) && declared.length, where).toBe(shape.length);
        shape.forEach((x, i) => sameExceptDeployTime(x, (declared as unknown[])[i], `${where}[${i}]`));
    } else if (shape && typeof shape === "object") {
        expect(Object.keys(declared as object).sort(), where).toEqual(Object.keys(shape).sort());
        for (const [k, x] of Object.entries(shape)) sameExceptDeployTime(x, (declared as Record<string, unknown>)[k], `${where}.${k}`);
    } else if (declared !== "[secret]") {
        expect(declared, where).toEqual(shape);
    }
}

describe("the container fingerprint", () => {
    it.each(["prod", "staging"])("is computed from exactly the inputs every service container of %s is declared with", async (stack) => {
        const plan = await planStack(stack);
        const s = stackSettings(stack);
        const shapes = containerShapes(sofiaCatalog(s.timeseriesStore), s).map(comparable) as Record<string, unknown>[];
        const declared = ofType(plan, "docker:index/container:Container");
        for (const c of declared) {
            const shape = shapes.find((x) => x.name === c.inputs.name);
            expect(shape, String(c.inputs.name)).toBeDefined();
            sameExceptDeployTime(shape, c.inputs, String(c.inputs.name));
        }
        expect(declared.length).toBeGreaterThanOrEqual(10);
        // Not all hidden behind secrets: the proxy's uploads (its nginx.conf) are compared in staging.
        if (stack === "staging") expect(Array.isArray(declared.find((c) => c.inputs.name === "sofia-proxy")!.inputs.uploads)).toBe(true);
    });

    it("sees the configuration templates in secret files (a store's server.conf), with placeholders for the secrets", () => {
        const s = stackSettings("prod");
        const shapes = containerShapes(sofiaCatalog(s.timeseriesStore), s) as { name: string; uploads: { file: string; content: unknown }[] }[];
        const questdb = shapes.find((x) => x.name === "sofia-questdb")!;
        expect(questdb.uploads.map((u) => u.content)).toContainEqual(questdbServerConf(AT_DEPLOY));
        expect(shapes.find((x) => x.name === "sofia-redis")!.uploads.map((u) => u.content)).toContainEqual(`requirepass ${AT_DEPLOY}\n`);
    });

    it("changes with anything that shapes a container, and with nothing else", () => {
        const s = stackSettings("prod");
        const catalog = sofiaCatalog(s.timeseriesStore);
        const base = containerFingerprint(catalog, s);
        expect(containerFingerprint(catalog, stackSettings("prod"))).toBe(base);
        // The generated nginx configuration (its maintenance page's Retry-After), a store option, an env var.
        expect(containerFingerprint(catalog, { ...s, deploy: { ...s.deploy, retryAfterSeconds: s.deploy.retryAfterSeconds + 1 } })).not.toBe(base);
        expect(containerFingerprint(catalog, { ...s, redis: { ...s.redis, maxmemoryPolicy: "allkeys-lru" } })).not.toBe(base);
        expect(containerFingerprint(catalog, { ...s, serviceEnv: { api: { WORKERS: "9" } } })).not.toBe(base);
        // A container option of the catalog (memory) too; an alarm threshold or an image not.
        expect(containerFingerprint(catalog.map((e) => (e.name === "api" ? { ...e, memoryMb: e.memoryMb + 64 } : e)), s)).not.toBe(base);
        expect(containerFingerprint(catalog, { ...s, alarms: { ...s.alarms, staleRatio: 0.9 } })).toBe(base);
        expect(containerFingerprint(catalog, { ...s, images: { ...s.images, api: "ghcr.io/sofia-v2/api:9.9.9" } })).toBe(base);
    });
});
