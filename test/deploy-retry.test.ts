/**
 * A retried deploy is a complete attempt: every step runs again (the page that lapsed since, the
 * migrations whose container ran and failed), not only the step that failed.
 */
import * as fs from "fs";
import * as path from "path";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { diffPlans } from "../plan/diff";
import { planStack } from "./helpers/plan";
import { DEPLOY_ATTEMPT_ENV } from "../release/deploy";

const NEW_API = "ghcr.io/sofia-v2/api:2026.12.1@sha256:" + "b".repeat(64);

async function releaseAttempt(attempt: string) {
    process.env[DEPLOY_ATTEMPT_ENV] = attempt;
    return planStack("staging", [`images.api=${NEW_API}`]);
}

describe("a retried release deploy", () => {
    afterEach(() => {
        delete process.env[DEPLOY_ATTEMPT_ENV];
    });

    it("runs every step again, and replaces the migrations container so the migrations run again", async () => {
        const first = await releaseAttempt("4711-1");
        const retry = await releaseAttempt("4711-2");
        const d = diffPlans(first, retry, { ref: "attempt 1", commit: "0".repeat(40) });
        const replaced = d.resources.filter((r) => r.op === "replace").map((r) => r.name).sort();
        expect(replaced).toEqual(["sofia-deploy-backup-run", "sofia-deploy-migrate-run", "sofia-deploy-migrations-container", "sofia-deploy-page-off-run", "sofia-deploy-page-on-run", "sofia-deploy-verify-run"]);
        expect(d.resources.find((r) => r.name === "sofia-deploy-migrations-container")?.causes).toEqual(["labels[0].value"]);
        // Nothing else: the services' containers are not touched by a retry.
        expect(d.resources.filter((r) => r.op !== "replace")).toEqual([]);
    }, 60_000);

    it("says, when a step after the page fails, how long clients see the page and how to lift it", async () => {
        const plan = await releaseAttempt("4711-3");
        const hint = (name: string) => String((plan.resources.find((r) => r.name === name)!.inputs.environment as Record<string, string>).SSM_RUN_ON_FAILURE);
        expect(hint("sofia-deploy-migrate-run")).toMatch(/until it lapses \(\d+ minutes after it went up\), or lift it now: \.\/scripts\/ssm-run\.sh i-\w+ eu-central-1 \/usr\/local\/sbin\/sofia-maintenance page off deploy/);
        expect(hint("sofia-deploy-verify-run")).toContain("A retry (pulumi up --stack staging) runs every step again");
        // Before the page goes up there is none to lift.
        expect(hint("sofia-deploy-page-on-run")).not.toContain("page off");
        expect(hint("sofia-deploy-page-on-run")).toMatch(/^Roll back/);
        // A failed backup put the writers back and lifted the page itself; the commands are there should that have failed too.
        expect(hint("sofia-deploy-backup-run")).toMatch(/The failed backup started the writers again and lifted the maintenance page itself; should either have failed too: \.\/scripts\/ssm-run\.sh i-\w+ eu-central-1 \/usr\/local\/sbin\/sofia-services resume; \.\/scripts\/ssm-run\.sh i-\w+ eu-central-1 \/usr\/local\/sbin\/sofia-maintenance page off deploy/);
    }, 60_000);

    it("is the same attempt for a preview and its update (one run of the workflow job), and a new one when the job runs again", () => {
        for (const f of ["deploy-staging.yml", "deploy-prod.yml"]) {
            const job = parse(fs.readFileSync(path.join(__dirname, "..", ".github", "workflows", f), "utf8")).jobs.deploy;
            expect(job.env[DEPLOY_ATTEMPT_ENV], f).toBe("${{ github.run_id }}-${{ github.run_attempt }}");
        }
    });

    it("leaves the offline plan the same from run to run", async () => {
        const a = await planStack("staging", [`images.api=${NEW_API}`]);
        const b = await planStack("staging", [`images.api=${NEW_API}`]);
        expect(diffPlans(a, b, { ref: "x", commit: "0".repeat(40) }).resources).toEqual([]);
        expect(process.env[DEPLOY_ATTEMPT_ENV]).toBeUndefined();
    }, 60_000);
});
