import { validateWorkflow } from "@action-validator/core";
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEPLOY_SESSION_SECONDS, GITHUB_SECRETS } from "../bootstrap/github";
import { ARTIFACT_NAME, COMMENT_MARKER } from "../plan/comment";
import { planStack } from "./helpers/plan";

const DIR = path.join(__dirname, "..", ".github", "workflows");
const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".yml"));
const load = (f: string) => fs.readFileSync(path.join(DIR, f), "utf8");

describe("GitHub workflows", () => {
    it("exist for pull requests, staging deploys and prod promotion", () => {
        expect(files.sort()).toEqual(["deploy-prod.yml", "deploy-staging.yml", "pr.yml", "promote-prod.yml"]);
    });

    for (const f of files) {
        it(`${f} passes the workflow schema (action-validator)`, () => {
            const state = validateWorkflow(load(f));
            expect(state.errors).toEqual([]);
        });

        it(`${f} pins every action to a version`, () => {
            for (const uses of load(f).match(/uses: \S+/g) ?? []) expect(uses, f).toMatch(/@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/);
        });
    }

    it("runs the README's test command before anything deploys", () => {
        for (const f of ["pr.yml", "deploy-staging.yml"]) {
            const steps = Object.values(parse(load(f)).jobs).flatMap((j: any) => j.steps.map((s: any) => s.run ?? ""));
            expect(steps, f).toContain("npm test");
        }
    });

    it("previews and deploys with the policy pack and the stack's policy configuration", () => {
        for (const f of files) {
            for (const job of Object.values(parse(load(f)).jobs) as any[]) {
                for (const step of job.steps.filter((s: any) => String(s.uses).startsWith("pulumi/actions") && s.with?.command)) {
                    expect(step.with.policyPacks, f).toBe("policies");
                    expect(step.with.policyPackConfigs, f).toBe("policy-config.json");
                }
            }
        }
    });

    it("keeps cloud previews off forks, and prod behind an approval environment", () => {
        expect(parse(load("pr.yml")).jobs.preview.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
        const promote = parse(load("promote-prod.yml"));
        expect(Object.keys(promote.on)).toEqual(["workflow_dispatch"]);
        expect(promote.jobs.promote.environment).toBe("production");
        expect(parse(load("deploy-prod.yml")).jobs.deploy.environment).toBe("production");
    });

    it("promotes through a pull request: nothing is pushed to a protected main", () => {
        const run = (parse(load("promote-prod.yml")).jobs.promote.steps as any[]).map((st) => st.run ?? "").join("\n");
        expect(run).toContain('git push origin "$BRANCH"');
        expect(run).toContain("gh pr create --base main");
        expect(run).not.toMatch(/git push(?! origin "\$BRANCH")/);
        expect(parse(load("deploy-prod.yml")).on.push).toEqual({ branches: ["main"], paths: ["Pulumi.prod.yaml"] });
    });

    it("reads exactly the secrets the bootstrap prints, each from the environment it is set in", () => {
        const used = new Set(files.flatMap((f) => [...load(f).matchAll(/secrets\.([A-Z_]+)/g)].map((m) => m[1])).filter((n) => n !== "GITHUB_TOKEN"));
        expect([...used].sort()).toEqual([...new Set(GITHUB_SECRETS.map((x) => x.name))].sort());
        for (const f of files) {
            for (const job of Object.values(parse(load(f)).jobs) as any[]) {
                const envSecrets = GITHUB_SECRETS.filter((x) => x.environment && x.environment !== job.environment).map((x) => x.name);
                const mine = GITHUB_SECRETS.filter((x) => x.environment === job.environment || !x.environment).map((x) => x.name);
                for (const m of JSON.stringify(job).matchAll(/secrets\.([A-Z_]+)/g)) {
                    if (m[1] === "GITHUB_TOKEN") continue;
                    expect(mine, `${f}: ${m[1]} in a job of environment ${job.environment ?? "(none)"}`).toContain(m[1]);
                    expect(envSecrets.includes(m[1]) && !mine.includes(m[1]), `${f}: ${m[1]}`).toBe(false);
                }
            }
        }
    });

    it("installs the test tools from the one list, scripts/prereqs.js", () => {
        for (const f of ["pr.yml", "deploy-staging.yml"]) {
            expect(load(f), f).toContain('sudo "$(command -v node)" scripts/prereqs.js --install');
            expect(load(f), f).not.toContain("apt-get install");
        }
    });

    it("never creates a stack, checks it exists, and gives every update the registry token and bounded parallelism", () => {
        for (const f of files) {
            for (const job of Object.values(parse(load(f)).jobs) as any[]) {
                const pulumi = job.steps.filter((st: any) => String(st.uses).startsWith("pulumi/actions") && ["up", "preview"].includes(st.with?.command));
                for (const st of pulumi) {
                    expect(st.with.upsert, f).toBeUndefined();
                    expect(st.with.parallel, f).toBeLessThanOrEqual(32);
                    expect(st.env.DOCKER_REGISTRY_PASS, f).toBe("${{ secrets.REGISTRY_TOKEN }}");
                }
                if (pulumi.some((st: any) => st.with.command === "up")) {
                    expect(job.steps.some((st: any) => /pulumi stack select \w+ \|\| \{ echo "::error::stack \w+ does not exist/.test(st.run ?? "")), f).toBe(true);
                }
            }
        }
    });

    it("keeps a deploy's AWS session and job alive longer than the longest update the program can declare", async () => {
        // A prod release with a restore: every host step's timeout in a row, the association's
        // wait, and each start stage's longest container health wait.
        const plan = await planStack("prod", [`images.api=ghcr.io/sofia-v2/api:2026.12.1@sha256:${"1".repeat(64)}`, "restore.from=latest", "restore.confirm=prod"]);
        const steps = plan.resources.filter((r) => r.type === "command:local:Command").map((r) => Number((r.inputs.environment as Record<string, string>).SSM_RUN_TIMEOUT ?? 900));
        const association = Math.max(...plan.resources.filter((r) => r.type === "aws:ssm/association:Association").map((r) => Number(r.inputs.waitForSuccessTimeoutSeconds ?? 0)));
        const containers = plan.resources.filter((r) => r.type === "docker:index/container:Container").map((r) => Number(r.inputs.waitTimeout ?? 0));
        const longest = steps.reduce((a, b) => a + b, 0) + association + containers.reduce((a, b) => a + b, 0);
        expect(longest).toBeGreaterThan(3 * 3600);
        expect(DEPLOY_SESSION_SECONDS).toBeGreaterThanOrEqual(longest);
        for (const f of ["deploy-staging.yml", "deploy-prod.yml"]) {
            const job = parse(load(f)).jobs.deploy;
            const creds = job.steps.find((st: any) => String(st.uses).startsWith("aws-actions/configure-aws-credentials"));
            expect(creds.with["role-duration-seconds"], f).toBe(DEPLOY_SESSION_SECONDS);
            expect(job["timeout-minutes"] * 60, f).toBeGreaterThanOrEqual(DEPLOY_SESSION_SECONDS);
        }
    });

    it("edits one offline-diff comment instead of adding one per push", () => {
        const pr = load("pr.yml");
        expect(pr).toContain(COMMENT_MARKER);
        expect(pr).toContain("updateComment");
    });

    it("diffs against the pull request's base commit, which the checkout fetched, and attaches the full plans", () => {
        const job = parse(load("pr.yml")).jobs["offline-plan"];
        expect(job.steps.find((st: any) => String(st.uses).startsWith("actions/checkout")).with["fetch-depth"]).toBe(0);
        const run = job.steps.find((st: any) => String(st.run).includes("pr-comment"));
        expect(run.env.BASE_SHA).toBe("${{ github.event.pull_request.base.sha }}");
        expect(run.run).toContain(`--base "$BASE_SHA" --head "$HEAD_SHA" --artifacts offline-plans`);
        expect(job.steps.find((st: any) => String(st.uses).startsWith("actions/upload-artifact")).with.name).toBe(ARTIFACT_NAME);
        // A diff that fails still replaces the comment (it says why), and then fails the job.
        expect(job.steps.find((st: any) => String(st.uses).startsWith("actions/github-script")).if).toMatch(/^always\(\)/);
        expect(job.steps.at(-1).if).toBe("steps.diff.outputs.rc != '0'");
    });

    it("would catch a broken workflow", () => {
        expect(validateWorkflow("on: push\njobs:\n  x:\n    steps: 3\n").errors.length).toBeGreaterThan(0);
    });
});
