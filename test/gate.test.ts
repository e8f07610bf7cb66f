/** LateGate (components/gate.ts): what waits at a gate is never held forever, and never silently. */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { allOf, LateGate } from "../components/gate";

const fake = (n: string) => ({ name: n }) as unknown as pulumi.Resource;

describe("LateGate", () => {
    it("hands its resources to whoever waits, once opened", async () => {
        const gate = new LateGate("the apps");
        const waiting = allOf([fake("a")], gate.resources);
        LateGate.declaring([gate], () => gate.open([fake("b")]));
        expect(((await waiting) as unknown as { name: string }[]).map((r) => r.name)).toEqual(["a", "b"]);
        expect(() => gate.open([])).toThrow(/gate "the apps" was opened twice/);
    });

    it("fails whoever waits with the declaration's own error when it throws, instead of holding them forever", async () => {
        const gate = new LateGate("the containers");
        expect(() => LateGate.declaring([gate], () => { throw new Error("catalog: bad entry"); })).toThrow("catalog: bad entry");
        await expect(gate.resources).rejects.toThrow("catalog: bad entry");
    });

    it("fails a gate the declaration left closed, naming it", async () => {
        const opened = new LateGate("the paging alarms");
        const forgotten = new LateGate("the apps, behind the migrations");
        expect(() => LateGate.declaring([opened, forgotten], () => opened.open([]))).toThrow(/gates never opened: the apps, behind the migrations/);
        await expect(forgotten.resources).rejects.toThrow(/never opened/);
        await expect(opened.resources).resolves.toEqual([]);
    });

    it("keeps plain lists plain (the plan shows them as they are)", () => {
        expect(Array.isArray(allOf([fake("a")], undefined, [fake("b")]))).toBe(true);
    });
});
