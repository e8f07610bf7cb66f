import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Moto, startMoto } from "../drill/moto";
import { runAsync } from "./helpers/run";

const SCRIPT = path.join(__dirname, "..", "scripts", "ssm-run.sh");

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
        const env = { ...process.env, PATH: `${path.join(__dirname, "..", "drill", "doubles", "ssm-failed")}:${process.env.PATH}`, AWS_LOG: log, SSM_RUN_POLL: "0" };
        const r = await run(["i-0123456789abcdef0", "eu-central-1", "sofia-services verify"], env);
        expect(r.status).toBe(1);
        expect(r.stdout).toContain("verify: metrics NOT healthy");
        expect(r.stderr).toContain("sofia-services: verify: not healthy: metrics");
        expect(r.stderr).toContain("ssm-run: 'sofia-services verify' on i-0123456789abcdef0 ended Failed (command cmd-0failed)");
        expect(fs.readFileSync(log, "utf8")).toContain('--parameters {"commands":["sofia-services verify"]}');
    });

    it("ends a failed deploy step with the step's name and its rollback command, after the host's output", async () => {
        const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ssm-")), "aws.log");
        const hint = "Roll back to the release verified at 2026-11-30T10:00:00Z:\n  npm run promote -- --prod-file Pulumi.staging.yaml ...";
        const env = { ...process.env, PATH: `${path.join(__dirname, "..", "drill", "doubles", "ssm-failed")}:${process.env.PATH}`, AWS_LOG: log, SSM_RUN_POLL: "0", SSM_RUN_STEP: "sofia-deploy-verify", SSM_RUN_ON_FAILURE: hint };
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

    it("refuses something that is not an instance id", async () => {
        const r = await run(["web-1", "eu-central-1", "true"], process.env);
        expect(r.status).toBe(64);
        expect(r.stderr).toContain("'web-1' is not an instance id");
    });
});
