/** LateGate (components/gate.ts): what waits at a gate is never held forever, and never silently. */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { allOf, LateGate } from "../components/gate";

// The SDK's own resolution of `dependsOn`, as the engine's registration runs it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { gatherExplicitDependencies } = require("@pulumi/pulumi/runtime/dependsOn") as { gatherExplicitDependencies: (d: unknown) => Promise<pulumi.Resource[]> };

/** A stand-in resource: what Resource.isInstance looks for, and a name. */
const fake = (n: string) => ({ name: n, __pulumiResource: true }) as unknown as pulumi.Resource;
const names = (rs: pulumi.Resource[]) => rs.map((r) => (r as unknown as { name: string }).name);

describe("LateGate", () => {
    it("hands its resources to whoever waits, once opened", async () => {
        const gate = new LateGate("the apps");
        const waiting = allOf([fake("a")], gate.resources);
        LateGate.declaring([gate], () => gate.open([fake("b"), fake("c")]));
        expect(names(await gatherExplicitDependencies(waiting))).toEqual(["a", "b", "c"]);
        expect(() => gate.open([])).toThrow(/gate "the apps" was opened twice/);
    });

    it("fails whoever waits with the declaration's own error when it throws, instead of holding them forever", async () => {
        const gate = new LateGate("the containers");
        expect(() => LateGate.declaring([gate], () => { throw new Error("catalog: bad entry"); })).toThrow("catalog: bad entry");
        await expect(gatherExplicitDependencies(allOf(gate.resources))).rejects.toThrow("catalog: bad entry");
    });

    it("fails a gate the declaration left closed, naming it", async () => {
        const opened = new LateGate("the paging alarms");
        const forgotten = new LateGate("the apps, behind the migrations");
        expect(() => LateGate.declaring([opened, forgotten], () => opened.open([]))).toThrow(/gates never opened: the apps, behind the migrations/);
        await expect(forgotten.promised).rejects.toThrow(/never opened/);
        await expect(opened.promised).resolves.toEqual([]);
    });

    it("keeps plain lists plain (the plan shows them as they are)", () => {
        expect(Array.isArray(allOf([fake("a")], undefined, [fake("b")]))).toBe(true);
    });

    it("stays a plain list with a late gate in it, so merging a resource's options wraps nothing in an Output", () => {
        // A promise as the whole dependsOn becomes output(promise) in mergeOptions, whose check for
        // unknowns walks every resource the program has: once per resource, a quadratic plan.
        const gate = new LateGate("the paging alarms");
        const merged = pulumi.mergeOptions({ dependsOn: [fake("a")] }, { dependsOn: allOf([fake("b")], gate.resources) }).dependsOn;
        expect(pulumi.Output.isInstance(merged)).toBe(false);
        expect(Array.isArray(merged)).toBe(true);
        LateGate.declaring([gate], () => gate.open([]));
    });
});
