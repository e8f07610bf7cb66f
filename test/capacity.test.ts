/**
 * Capacity ahead of time: the probe's days-left trends (from its hourly samples) and the monthly
 * capacity report (host/sofia-capacity.sh), run for real against moto_server with 90 days of
 * metrics written into it; the limits are the alarms' own thresholds, from the settings.
 */
import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DRILL_BUCKET, DRILL_STACK, DrillEnv } from "../drill/env";
import { sofiaCatalog } from "../model/catalog";
import { BACKUP_METRICS, CAPACITY_METRICS, HOST_METRICS, metricsNamespace, PROBE_METRICS } from "../model/metrics";
import { stackSettings } from "../plan/stack-config";
import { capacityEnv, capacityTable } from "../topology/host/capacity";
import { sofiaAlarms } from "../topology/host/alarms";
import { DATA_PATH } from "../topology/host/layout";
import { maintenancePlan } from "../topology/host/maintenance";

const prod = stackSettings("prod");
const rows = (table: string) => table.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split("\t"));

describe("the capacity signals and their limits", () => {
    it("are the alarms' own metrics and thresholds: a threshold changed in the settings is the report's limit", () => {
        const table = rows(capacityTable(sofiaCatalog("questdb"), prod));
        expect(table.map((r) => r[0])).toEqual(["disk-data", "disk-root", "redis-memory", "host-memory", "dr-test-slow", "api-latency-p95", "backup-size"]);
        expect(table.find((r) => r[0] === "disk-data")!.slice(2, 6)).toEqual([HOST_METRICS.disk, `Name=Stack,Value=prod Name=path,Value=${DATA_PATH}`, "Maximum", String(prod.alarms.diskPercent)]);
        expect(table.find((r) => r[0] === "dr-test-slow")![5]).toBe(String(prod.alarms.recoveryTimeMinutes * 60));
        const tighter = rows(capacityTable(sofiaCatalog("questdb"), { ...prod, alarms: { ...prod.alarms, diskPercent: 70 } }));
        expect(tighter.find((r) => r[0] === "disk-data")![5]).toBe("70");
    });

    it("alarm the senior contacts, not on-call, when the data volume or Redis fills within capacityDaysLeft", () => {
        const alarms = sofiaAlarms(sofiaCatalog("questdb"), prod, "i-x", DATA_PATH).filter((a) => a.id.endsWith("-filling"));
        expect(alarms.map((a) => [a.id, a.level, a.pagesOncall, a.soaks, a.threshold, a.metric?.name])).toEqual([
            ["data-volume-filling", 3, false, false, prod.alarms.capacityDaysLeft, CAPACITY_METRICS.dataDaysLeft],
            ["redis-memory-filling", 3, false, false, prod.alarms.capacityDaysLeft, CAPACITY_METRICS.redisDaysLeft],
        ]);
        expect(maintenancePlan(prod).find((w) => w.id === "monthly")!.tasks.map((t) => t.id)).toEqual(["signal-on", "full-restart", "dr-test", "backup-after", "capacity-report", "signal-off"]);
    });
});

describe("for real: the probe's trend and the monthly report (moto_server)", () => {
    let env: DrillEnv;
    beforeAll(async () => {
        env = await DrillEnv.start();
        fs.writeFileSync(path.join(env.configDir, "capacity.env"), capacityEnv({ stack: DRILL_STACK, region: "eu-central-1" }, DRILL_BUCKET));
        fs.writeFileSync(path.join(env.configDir, "capacity.tsv"), capacityTable(sofiaCatalog("questdb"), { ...prod, stack: DRILL_STACK }));
        // 90 days of daily values: the data volume grows from 20 % to 65 %, Redis stays flat.
        const day = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString().replace(/\.\d+Z$/, "Z");
        const series = (name: string, dims: { Name: string; Value: string }[], value: (d: number) => number) =>
            Array.from({ length: 88 }, (_, i) => ({ MetricName: name, Dimensions: dims, Timestamp: day(89 - i), Value: value(89 - i) }));
        const stack = [{ Name: "Stack", Value: DRILL_STACK }];
        for (const [name, dims, value] of [
            [HOST_METRICS.disk, [...stack, { Name: "path", Value: DATA_PATH }], (d: number) => 20 + (90 - d) * 0.5],
            [PROBE_METRICS.redisMemory, stack, () => 40],
            [BACKUP_METRICS.bytes, stack, (d: number) => 1e9 + (90 - d) * 1e7],
        ] as const) {
            // In calls of 20 data points: moto_server fails larger ones with two dimensions (HTTP 500).
            const points = series(name, [...dims], value);
            for (let i = 0; i < points.length; i += 20) {
                const r = env.aws(["cloudwatch", "put-metric-data", "--namespace", metricsNamespace(DRILL_STACK), "--metric-data", JSON.stringify(points.slice(i, i + 20))]);
                expect(r.status, r.stderr).toBe(0);
            }
        }
    }, 120_000);
    afterAll(async () => env?.close());

    const report = () => env.runHost("sofia-capacity", ["report"], { SOFIA_CAPACITY_CONFIG: path.join(env.configDir, "capacity.env"), SOFIA_CAPACITY_TABLE: path.join(env.configDir, "capacity.tsv") });

    it("writes the growth of each signal, the months to its limit and what to do, and keeps the report in the bucket", async () => {
        const r = await report();
        expect(r.status, r.stderr).toBe(0);
        const month = new Date().toISOString().slice(0, 7);
        const kept = env.getObject(`${DRILL_STACK}/reports/capacity-${month}.md`).toString("utf8");
        expect(r.stdout).toContain(kept.trim());
        // The data volume: +15 points a month, 80 % reached from 64.5 % in about one month.
        const disk = /\| `disk-data` \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| 80 \| ([\d.]+) \|/.exec(kept)!;
        expect(Number(disk[4])).toBeCloseTo(15, 0);
        expect(Number(disk[5])).toBeGreaterThan(0.5);
        expect(Number(disk[5])).toBeLessThan(1.5);
        expect(kept).toMatch(/- `disk-data` reaches its limit \(80\) in [\d.]+ months at this growth: grow the data volume: dataVolumeGb up/);
        // Flat Redis never reaches it; a signal with no data says so (moto keeps no percentiles: p95 stays empty here).
        expect(kept).toMatch(/\| `redis-memory` \| 40\.00 \| 40\.00 \| 40\.00 \| 0\.00 \| 80 \| never \|/);
        expect(kept).toMatch(/\| `api-latency-p95` \| no data yet \|/);
        expect(kept).toMatch(/\| `backup-size` \| [\d.e+]+ \| [\d.e+]+ \| [\d.e+]+ \| [\d.e+]+ \| none \| - \|/);
        expect(kept).not.toContain("`redis-memory` reaches");
    }, 120_000);

    it("probe: publishes days until the data volume is full from its hourly samples once they span a day, none before, no sample under the maintenance signal", async () => {
        const history = path.join(env.dir, "var", "capacity.history");
        fs.rmSync(history, { force: true });
        const first = await env.runHost("sofia-probe", ["--dry-run"]);
        expect(first.status, first.stderr).toBe(0);
        expect(first.stdout).not.toContain(CAPACITY_METRICS.dataDaysLeft);
        // The newest sample, and one 25 hours before it with 1 GiB less used: 1 GiB per 25 hours.
        const [now, used, size, ...redis] = fs.readFileSync(history, "utf8").trim().split(" ");
        fs.writeFileSync(history, `${Number(now) - 25 * 3600} ${Number(used) - 2 ** 30} ${size} ${redis.join(" ")}\n${now} ${used} ${size} ${redis.join(" ")}\n`);
        const second = await env.runHost("sofia-probe", ["--dry-run"]);
        const datum = (JSON.parse(second.stdout) as { MetricName: string; Value: number }[]).find((d) => d.MetricName === CAPACITY_METRICS.dataDaysLeft)!;
        const expected = (Number(size) - Number(used)) / (2 ** 30 / (25 * 3600)) / 86400;
        expect(datum.Value).toBeCloseTo(Math.min(expected, 3650), 0);
        // A run within the hour adds no sample; nor does one an hour later under the maintenance signal.
        expect(fs.readFileSync(history, "utf8").trim().split("\n")).toHaveLength(2);
        fs.writeFileSync(history, `${Number(now) - 25 * 3600} ${Number(used) - 2 ** 30} ${size} ${redis.join(" ")}\n${Number(now) - 3600} ${used} ${size} ${redis.join(" ")}\n`);
        expect((await env.runHost("sofia-maintenance", ["signal", "on", "5", "test"])).status).toBe(0);
        await env.runHost("sofia-probe", ["--dry-run"]);
        expect(fs.readFileSync(history, "utf8").trim().split("\n")).toHaveLength(2);
        expect((await env.runHost("sofia-maintenance", ["signal", "off", "test"])).status).toBe(0);
        await env.runHost("sofia-probe", ["--dry-run"]);
        expect(fs.readFileSync(history, "utf8").trim().split("\n")).toHaveLength(3);
    }, 60_000);
});
