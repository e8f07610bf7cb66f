import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Moto, startMoto } from "../drill/moto";
import { runAsync } from "../drill/run";

const SCRIPT = path.join(__dirname, "..", "scripts", "ssm-run.sh");
/** The aws CLI double for what moto cannot play: a command that fails, or never finishes. */
const DOUBLE = path.join(__dirname, "..", "drill", "doubles", "ssm");

const run = (args: string[], env: NodeJS.ProcessEnv) => runAsync("bash", [SCRIPT, ...args], env);

describe("scripts/ssm-run.sh", () => {
    let moto: Moto;
    beforeAll(async () => {
        moto = await startMoto();
    });
    afterAll(() => moto.stop());

    it("sends the command through SSM (moto) and exits 0 on Success", async () => {
        const r = await run(["i-0123456789abcdef0", "eu-central-1", "/usr/local/sbin/sofia-services", "verify"], { ...process.env, ...moto.env, SSM_RUN_POLL: "0" });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/ssm-run: i-0123456789abcdef0: \/usr\/local\/sbin\/sofia-services verify \(command [0-9a-f-]{36}\)/);
    });

    it("fails with the host's own output when the command fails on the instance", async () => {
        const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ssm-")), "aws.log");
        const env = { ...process.env, PATH: `${path.join(__dirname, "..", "drill", "doubles", "ssm")}:${process.env.PATH}`, AWS_LOG: log, SSM_RUN_POLL: "0" };
        const r = await run(["i-0123456789abcdef0", "eu-central-1", "sofia-services verify"], env);
        expect(r.status).toBe(1);
        expect(r.stdout).toContain("verify: metrics NOT healthy");
        expect(r.stderr).toContain("sofia-services: verify: not healthy: metrics");
        expect(r.stderr).toContain("ssm-run: 'sofia-services verify' on i-0123456789abcdef0 ended Failed (command cmd-0double)");
        expect(fs.readFileSync(log, "utf8")).toContain('--parameters {"commands":["sofia-services verify"],"executionTimeout":["900"]}');
    });

    it("ends a failed deploy step with the step's name and its rollback command, after the host's output", async () => {
        const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ssm-")), "aws.log");
        const hint = "Roll back to the release verified at 2026-11-30T10:00:00Z:\n  npm run promote -- --prod-file Pulumi.staging.yaml ...";
        const env = { ...process.env, PATH: `${path.join(__dirname, "..", "drill", "doubles", "ssm")}:${process.env.PATH}`, AWS_LOG: log, SSM_RUN_POLL: "0", SSM_RUN_STEP: "sofia-deploy-verify", SSM_RUN_ON_FAILURE: hint };
        const r = await run(["i-0123456789abcdef0", "eu-central-1", "sofia-services verify"], env);
        expect(r.status).toBe(1);
        expect(r.stderr.indexOf("sofia-services: verify: not healthy: metrics")).toBeLessThan(r.stderr.indexOf("ssm-run: step failed: sofia-deploy-verify"));
        expect(r.stderr.trimEnd().endsWith(`ssm-run: step failed: sofia-deploy-verify\n${hint}`)).toBe(true);
    });

    it("gives up sending after its timeout when the instance never accepts commands", async () => {
        const r = await run(["i-0123456789abcdef0", "eu-central-1", "true"], { ...process.env, AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "x", AWS_MAX_ATTEMPTS: "1", SSM_RUN_TIMEOUT: "0" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/could not send 'true' to i-0123456789abcdef0 for 0s; is its SSM agent online\?/);
    });

    it("gives the command its own timeout on the host, and cancels it when it gives up waiting", async () => {
        const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ssm-")), "aws.log");
        const env = { ...process.env, PATH: `${DOUBLE}:${process.env.PATH}`, AWS_LOG: log, SSM_RUN_POLL: "1", SSM_RUN_TIMEOUT: "2", SSM_DOUBLE_STATUS: "InProgress" };
        const r = await run(["i-0123456789abcdef0", "eu-central-1", "sofia-restore", "20261130T010000Z"], env);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("still InProgress after 2s");
        expect(r.stderr).toContain("ssm-run: cancelled command cmd-0double on i-0123456789abcdef0");
        const calls = fs.readFileSync(log, "utf8");
        expect(calls).toContain('"executionTimeout":["2"]');
        expect(calls).toMatch(/ssm cancel-command --region eu-central-1 --command-id cmd-0double --instance-ids i-0123456789abcdef0/);
    });

    it("cancels the command on the host when it is stopped itself (the update cancelled)", async () => {
        const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ssm-")), "aws.log");
        const child = spawn("bash", [SCRIPT, "i-0123456789abcdef0", "eu-central-1", "sofia-restore latest"], { env: { ...process.env, PATH: `${DOUBLE}:${process.env.PATH}`, AWS_LOG: log, SSM_RUN_POLL: "1", SSM_DOUBLE_STATUS: "InProgress" } });
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        await new Promise((r) => setTimeout(r, 1500));
        child.kill("SIGTERM");
        const status = await new Promise((r) => child.on("close", r));
        expect(status).toBe(1);
        expect(stderr).toContain("interrupted while 'sofia-restore latest' ran on i-0123456789abcdef0");
        expect(fs.readFileSync(log, "utf8")).toContain("ssm cancel-command");
    });

    describe("waiting for the host files a step needs", () => {
        const digest = "a".repeat(64);
        /** The remote command as sent, run here with sh as AWS-RunShellScript runs it, against a marker file. */
        async function remote(marker: string | undefined, wait: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssm-"));
            const log = path.join(dir, "aws.log");
            const file = path.join(dir, "host-files.sha256");
            if (marker !== undefined) fs.writeFileSync(file, `${marker}\n`);
            // Two parts: the step needs both; the second is always in place here.
            const other = path.join(dir, "other.sha256");
            fs.writeFileSync(other, `${"c".repeat(64)}\n`);
            await run(["i-0123456789abcdef0", "eu-central-1", "echo", "the step ran"], { ...process.env, PATH: `${DOUBLE}:${process.env.PATH}`, AWS_LOG: log, SSM_RUN_POLL: "0", SSM_RUN_REQUIRE: `${file}=${digest} ${other}=${"c".repeat(64)}`, SSM_RUN_REQUIRE_WAIT: wait });
            const sent = /--parameters (\{.*\}) --query/.exec(fs.readFileSync(log, "utf8"))![1];
            return runAsync("sh", ["-c", JSON.parse(sent).commands[0]]);
        }

        it("runs the step once the marker holds the digest", async () => {
            const r = await remote(digest, "10");
            expect(r.status).toBe(0);
            expect(r.stdout).toBe("the step ran\n");
        });

        it("fails, naming both versions, when another version stays installed", async () => {
            const r = await remote("b".repeat(64), "0");
            expect(r.status).toBe(1);
            expect(r.stdout).toBe("");
            expect(r.stderr).toContain("the host files this step needs are not installed after 0s");
            expect(r.stderr).toMatch(/host-files\.sha256: wanted aaaaaaaaaaaa, installed bbbbbbbbbbbb\n/);
            expect(r.stderr).toMatch(/other\.sha256: wanted cccccccccccc, installed cccccccccccc\n/);
        });

        it("fails the same way before anything was ever installed", async () => {
            const r = await remote(undefined, "0");
            expect(r.status).toBe(1);
            expect(r.stderr).toMatch(/host-files\.sha256: wanted aaaaaaaaaaaa, installed none\n/);
        });

        it("refuses a digest or marker path that is not one", async () => {
            const r = await run(["i-0123456789abcdef0", "eu-central-1", "true"], { ...process.env, SSM_RUN_REQUIRE: `/etc/x;reboot=${digest}` });
            expect(r.status).toBe(64);
            expect(r.stderr).toContain("is not an absolute path");
            const bad = await run(["i-0123456789abcdef0", "eu-central-1", "true"], { ...process.env, SSM_RUN_REQUIRE: "/etc/x=$(reboot)" });
            expect(bad.status).toBe(64);
            expect(bad.stderr).toContain("is not a SHA-256");
        });
    });

    it("refuses something that is not an instance id", async () => {
        const r = await run(["web-1", "eu-central-1", "true"], process.env);
        expect(r.status).toBe(64);
        expect(r.stderr).toContain("'web-1' is not an instance id");
    });
});
