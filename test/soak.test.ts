/**
 * The soak before promotion: the rule on its own, then against alarm states recorded in
 * moto_server's CloudWatch (real put-metric-alarm / set-alarm-state / describe-alarms), then
 * `npm run promote` enforcing it. moto 5 does not implement DescribeAlarmHistory; that part of the
 * rule is exercised with the history in AWS's documented shape, and the moto runs show what the
 * rule does when the history cannot be read.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Moto, startMoto } from "../drill/moto";
import { stackSettings } from "../plan/stack-config";
import { pagingAlarmNames } from "../topology/host/alarms";
import { releaseServiceNames, sofiaCatalog } from "../model/catalog";
import { AlarmState, describeSoak, readAlarms, soakVerdict } from "../release/soak";
import { runAsync } from "../drill/run";

const ROOT = path.join(__dirname, "..");
const staging = stackSettings("staging");
const ALARMS = pagingAlarmNames(sofiaCatalog(staging.timeseriesStore), staging);
const VERIFIED = "2026-11-30T10:00:00.000Z";
const at = (minutes: number) => new Date(Date.parse(VERIFIED) + minutes * 60_000);
const quiet = (updatedAt = "2026-11-30T09:00:00.000Z"): AlarmState[] => ALARMS.map((name) => ({ name, state: "OK", updatedAt }));

describe("the soak rule", () => {
    it("watches staging's level 2 and 3 alarms: every service's health, freshness, latency, disk, backups", () => {
        expect(ALARMS).toContain("sofia-staging-health-api");
        expect(ALARMS).toContain("sofia-staging-stale-ratio");
        expect(ALARMS).toContain("sofia-staging-backup-failed");
        expect(ALARMS).not.toContain("sofia-staging-ec2-system-check"); // level 1: acts by itself, pages nobody
    });

    it("says how long is left, and passes once the period is over with every alarm quiet", () => {
        const early = soakVerdict({ verifiedAt: VERIFIED, now: at(12.5), soakMinutes: 30, alarms: ALARMS, states: quiet(), history: [] });
        expect(early).toMatchObject({ ok: false, remainingMinutes: 18, endsAt: "2026-11-30T10:30:00.000Z", problems: [] });
        expect(describeSoak(early, 30)).toBe("soak in staging: 18 of 30 minutes left (ends 2026-11-30T10:30:00.000Z); no level 2 or 3 alarm since verification");
        expect(soakVerdict({ verifiedAt: VERIFIED, now: at(30), soakMinutes: 30, alarms: ALARMS, states: quiet(), history: [] }).ok).toBe(true);
    });

    it("refuses while an alarm is in ALARM, and after one was, whatever the time", () => {
        const states = quiet();
        states[0] = { ...states[0], state: "ALARM", updatedAt: "2026-11-30T10:05:00.000Z" };
        const now = soakVerdict({ verifiedAt: VERIFIED, now: at(60), soakMinutes: 30, alarms: ALARMS, states, history: [] });
        expect(now.ok).toBe(false);
        expect(now.problems).toEqual([`${ALARMS[0]} is in ALARM (since 2026-11-30T10:05:00.000Z)`]);

        // AWS's history: it fired after verification, and is OK again now.
        const recovered = quiet();
        recovered[1] = { ...recovered[1], updatedAt: "2026-11-30T10:20:00.000Z" };
        const history = [
            { name: ALARMS[1], at: "2026-11-30T10:10:00.000Z", to: "ALARM" },
            { name: ALARMS[1], at: "2026-11-30T10:20:00.000Z", to: "OK" },
            { name: ALARMS[2], at: "2026-11-30T10:01:00.000Z", to: "OK" }, // from INSUFFICIENT_DATA: no harm
        ];
        const after = soakVerdict({ verifiedAt: VERIFIED, now: at(60), soakMinutes: 30, alarms: ALARMS, states: recovered, history });
        expect(after.problems).toEqual([`${ALARMS[1]} was in ALARM at 2026-11-30T10:10:00.000Z, after the release was verified`]);
    });

    it("without a readable history, refuses for an alarm that changed since verification, and only for it", () => {
        const states = quiet();
        states[3] = { ...states[3], updatedAt: "2026-11-30T10:03:00.000Z" };
        const v = soakVerdict({ verifiedAt: VERIFIED, now: at(45), soakMinutes: 30, alarms: ALARMS, states, history: { error: "describe-alarm-history failed: 500" } });
        expect(v.problems).toEqual([`${ALARMS[3]} changed state at 2026-11-30T10:03:00.000Z, after the release was verified, and its history could not be read (describe-alarm-history failed: 500): cannot tell whether it was in ALARM`]);
    });

    it("refuses when an alarm it must watch does not exist", () => {
        const v = soakVerdict({ verifiedAt: VERIFIED, now: at(45), soakMinutes: 30, alarms: ALARMS, states: quiet().slice(1), history: [] });
        expect(v.problems).toEqual([`${ALARMS[0]} does not exist in CloudWatch: is staging deployed by this program?`]);
    });
});

describe("against alarm states recorded in moto_server's CloudWatch", () => {
    let moto: Moto;
    // One attempt: moto answers DescribeAlarmHistory with 500, which the CLI would retry with backoff.
    const motoEnv = () => ({ ...moto.env, AWS_MAX_ATTEMPTS: "1" });
    const aws = (...args: string[]) => execFileSync("aws", args, { env: { ...process.env, ...motoEnv() }, stdio: "pipe" });
    const setState = (name: string, state: string) => aws("cloudwatch", "set-alarm-state", "--alarm-name", name, "--state-value", state, "--state-reason", "soak test");
    const read = (since: string) => {
        const saved = { ...process.env };
        Object.assign(process.env, motoEnv());
        try {
            return readAlarms(ALARMS, staging.region, since);
        } finally {
            for (const k of Object.keys(motoEnv())) if (saved[k] === undefined) delete process.env[k];
            Object.assign(process.env, saved);
        }
    };
    let verifiedAt: string;

    beforeAll(async () => {
        moto = await startMoto(staging.region);
        // New alarms start in INSUFFICIENT_DATA: not ALARM, so quiet.
        const created = await Promise.all(
            ALARMS.map((name) =>
                runAsync("aws", ["cloudwatch", "put-metric-alarm", "--alarm-name", name, "--namespace", "Sofia", "--metric-name", "Healthy", "--statistic", "Minimum", "--period", "60", "--evaluation-periods", "1", "--threshold", "1", "--comparison-operator", "LessThanThreshold"], { ...process.env, ...motoEnv() }),
            ),
        );
        expect(created.map((c) => c.status)).toEqual(ALARMS.map(() => 0));
        // The release is verified after every alarm settled.
        await new Promise((r) => setTimeout(r, 1100));
        verifiedAt = new Date().toISOString();
    }, 60_000);
    afterAll(() => moto?.stop());

    it("reads every alarm's state; quiet since verification passes once the period is over", () => {
        const r = read(verifiedAt);
        expect(r.states.map((s) => s.name).sort()).toEqual([...ALARMS].sort());
        expect(r.states.every((s) => s.state !== "ALARM" && s.updatedAt < verifiedAt)).toBe(true);
        // moto has no DescribeAlarmHistory: the reader says so instead of failing.
        expect(r.history).toMatchObject({ error: expect.stringMatching(/^describe-alarm-history failed/) });
        const v = soakVerdict({ verifiedAt, now: new Date(Date.parse(verifiedAt) + 31 * 60_000), soakMinutes: 30, alarms: ALARMS, ...r });
        expect(v).toMatchObject({ ok: true, problems: [] });
    });

    it("an alarm in ALARM refuses; back to OK it still refuses, since it changed after verification", () => {
        const name = "sofia-staging-health-api";
        setState(name, "ALARM");
        const firing = soakVerdict({ verifiedAt, now: new Date(Date.parse(verifiedAt) + 31 * 60_000), soakMinutes: 30, alarms: ALARMS, ...read(verifiedAt) });
        expect(firing.ok).toBe(false);
        expect(firing.problems).toEqual([expect.stringMatching(new RegExp(`^${name} is in ALARM \\(since `))]);
        setState(name, "OK");
        const recovered = soakVerdict({ verifiedAt, now: new Date(Date.parse(verifiedAt) + 31 * 60_000), soakMinutes: 30, alarms: ALARMS, ...read(verifiedAt) });
        expect(recovered.ok).toBe(false);
        expect(recovered.problems).toEqual([expect.stringMatching(new RegExp(`^${name} changed state at .*, after the release was verified, and its history could not be read`))]);
    });

    describe("npm run promote enforcing it", () => {
        let dir: string;
        /** A release verified now: staging's, moved on to 2026.12.1 (or as it is, for a rollback). */
        const outputs = (version = "2026.12.1") => {
            const release = stackSettings("staging").images;
            const apps = Object.fromEntries(Object.entries(release).filter(([n]) => releaseServiceNames.includes(n)));
            const bumped = Object.fromEntries(Object.entries(apps).map(([n, ref]) => [n, ref.replace("2026.11.3", version)]));
            // Verified from the scratch checkout's own commit: its code is what staging ran.
            const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: dir, encoding: "utf8" }).trim();
            return { verifiedRelease: { release: bumped, verifiedAt: new Date().toISOString(), commit } };
        };
        const promote = (args: string[]) => runAsync("node", [path.join(ROOT, "scripts", "run-ts.js"), "scripts/promote.ts", ...args], { ...process.env, ...motoEnv() });

        beforeAll(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "soak-"));
            fs.copyFileSync(path.join(ROOT, "Pulumi.prod.yaml"), path.join(dir, "Pulumi.prod.yaml"));
            execFileSync("git", ["init", "-q"], { cwd: dir });
            execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "prod", "--allow-empty"], { cwd: dir });
            execFileSync("git", ["add", "Pulumi.prod.yaml"], { cwd: dir });
            execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "prod"], { cwd: dir });
            fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(outputs()));
            // The alarm the test above fired is quiet again before this release was verified.
            setState("sofia-staging-health-api", "OK");
        });

        it("--check says how long is left, and the promotion is refused until then", async () => {
            await new Promise((r) => setTimeout(r, 1100));
            fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(outputs()));
            const r = await promote(["--check", "--from-file", path.join(dir, "outputs.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")]);
            expect(r.stdout).toMatch(/soak in staging: 30 of 30 minutes left \(ends .*\); no level 2 or 3 alarm since verification/);
            expect(r.status).toBe(1);
            expect(r.stderr).toMatch(/promote: refused: the release has not soaked in staging/);
            const before = fs.readFileSync(path.join(dir, "Pulumi.prod.yaml"), "utf8");
            expect((await promote(["--from-file", path.join(dir, "outputs.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")])).status).toBe(1);
            expect(fs.readFileSync(path.join(dir, "Pulumi.prod.yaml"), "utf8")).toBe(before);
        });

        it("promotes once the target stack's soak is over with every alarm quiet", async () => {
            // A stack that asks no soak minutes: only the alarms count.
            const file = path.join(dir, "Pulumi.prod.yaml");
            fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/^config:\n/m, "config:\n  sofia:deploy:\n    soakMinutes: 0\n"));
            execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "no soak"], { cwd: dir });
            await new Promise((r) => setTimeout(r, 1100));
            fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(outputs()));
            const r = await promote(["--from-file", path.join(dir, "outputs.json"), "--prod-file", file]);
            expect(r.stderr).toBe("");
            expect(r.status).toBe(0);
            expect(r.stdout).toMatch(/soak in staging: the 0 minutes are over .*; no level 2 or 3 alarm since verification/);
            expect(fs.readFileSync(file, "utf8")).toContain("api:2026.12.1");
            execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "promoted"], { cwd: dir });
        });

        it("refuses, saying why, when CloudWatch cannot be read", async () => {
            fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(outputs("2026.12.2")));
            const r = await runAsync("node", [path.join(ROOT, "scripts", "run-ts.js"), "scripts/promote.ts", "--check", "--from-file", path.join(dir, "outputs.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")], {
                ...process.env,
                ...motoEnv(),
                AWS_ENDPOINT_URL: "http://127.0.0.1:9",
            });
            expect(r.status).toBe(1);
            expect(r.stderr).toMatch(/promote: refused: cannot read staging's alarms from CloudWatch \(.+\); the soak cannot be checked: run with AWS credentials for staging/);
        });

        it("a rollback to an earlier verified release asks no soak", async () => {
            // Verified in staging a day before prod verified the release it runs now.
            const earlier = outputs("2026.11.3");
            earlier.verifiedRelease.verifiedAt = new Date(Date.now() - 86_400_000).toISOString();
            fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(earlier));
            fs.writeFileSync(path.join(dir, "prod-outputs.json"), JSON.stringify(outputs()));
            const r = await promote(["--check", "--rollback", "--prod-outputs", path.join(dir, "prod-outputs.json"), "--from-file", path.join(dir, "outputs.json"), "--prod-file", path.join(dir, "Pulumi.prod.yaml")]);
            expect(r.stderr).toBe("");
            expect(r.status).toBe(0);
            expect(r.stdout).toContain("no soak asked of it");
        });
    });
});
