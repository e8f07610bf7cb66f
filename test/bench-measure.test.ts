import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compare, Comparison } from "../bench/measure";

const sleep = (s: number) => ({ label: `sleep ${s}`, argv: ["sleep", String(s)] });

describe("the benchmarks' comparison", () => {
    it("times the bound beside subject and floor, and reports its ratio to the floor", async () => {
        const lines: string[] = [];
        const c: Comparison = { name: "t", subject: sleep(0.1), floor: sleep(0.05), floorIs: "a short sleep", target: 1.3, bound: { ...sleep(0.3), is: "a longer sleep" } };
        const r = await compare(c, 1, (s) => lines.push(s));
        expect(r.bound!.ms).toBeGreaterThanOrEqual(300);
        expect(r.bound!.ratio).toBeCloseTo(r.bound!.ms / r.floor, 6);
        expect(r.bound!.ratio).toBeGreaterThan(r.ratio);
        expect(lines).toEqual([expect.stringMatching(/^ {2}run 1\/1: sleep 0\.1 \d+ ms .*, sleep 0\.05 \d+ ms .*, sleep 0\.3 \d+ ms \(cpu [\d.]+ s\)$/)]);
    });

    it("has no bound when the comparison names none", async () => {
        const r = await compare({ name: "t", subject: sleep(0.01), floor: sleep(0.01), floorIs: "the same", target: 1.3 }, 1, () => {});
        expect(r.bound).toBeUndefined();
    });

    it("starts each round with a different command, so none always follows the same one", async () => {
        const order = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bench-order-")), "order");
        const note = (label: string) => ({ label, argv: ["bash", "-c", `echo ${label} >>${order}`] });
        await compare({ name: "t", subject: note("s"), floor: note("f"), floorIs: "f", target: 1.3, bound: { ...note("b"), is: "b" } }, 3, () => {});
        // The warm-up, then three rounds.
        expect(fs.readFileSync(order, "utf8").split("\n").join("")).toBe("sfb" + "sfb" + "fbs" + "bsf");
    });
});
