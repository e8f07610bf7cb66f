import { spawnSync } from "child_process";
import { describe, expect, it } from "vitest";
import { parseTimes, processCpu, withTimes } from "../bench/cpu";

describe("the benchmarks' CPU accounting", () => {
    it("reads the children's user and system time from bash's times", () => {
        expect(parseTimes("0m0.010s 0m0.004s\n1m2.500s 0m0.250s\n")).toBeCloseTo(62.75, 6);
        expect(() => parseTimes("nothing")).toThrow(/unexpected output from bash's times: "nothing"/);
    });

    it("counts the CPU a command and its children burn, and keeps its exit status", () => {
        const busy = ["bash", "-c", "i=0; while (( i < 200000 )); do (( i++ )); done; exit 3"];
        const argv = withTimes(busy);
        const r = spawnSync(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", "inherit", "pipe"], encoding: "utf8" });
        expect(r.status).toBe(3);
        const cpu = parseTimes(String(r.output[3]));
        expect(cpu).toBeGreaterThan(0.1);
        expect(cpu).toBeLessThan(30);
    });

    it("reads a running process's CPU from /proc", () => {
        // Burn 300 ms of CPU as node counts it (not of wall clock: on a busy machine those differ),
        // then /proc must have seen about as much.
        const before = processCpu(process.pid);
        const start = process.cpuUsage();
        const burnt = () => { const u = process.cpuUsage(start); return (u.user + u.system) / 1e6; };
        while (burnt() < 0.3);
        const seen = processCpu(process.pid) - before;
        expect(seen).toBeGreaterThan(0.2);
        expect(seen).toBeLessThan(burnt() + 0.5);
    });
});
