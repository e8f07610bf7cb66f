import { validateWorkflow } from "@action-validator/core";
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const DIR = path.join(__dirname, "..", ".github", "workflows");
const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".yml"));
const load = (f: string) => fs.readFileSync(path.join(DIR, f), "utf8");

describe("GitHub workflows", () => {
    it("exist for pull requests, staging deploys and prod promotion", () => {
        expect(files.sort()).toEqual(["deploy-staging.yml", "pr.yml", "promote-prod.yml"]);
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
    });

    it("edits one offline-plan comment instead of adding one per push", () => {
        const pr = load("pr.yml");
        expect(pr).toContain("<!-- sofia-offline-plan -->");
        expect(pr).toContain("updateComment");
    });

    it("would catch a broken workflow", () => {
        expect(validateWorkflow("on: push\njobs:\n  x:\n    steps: 3\n").errors.length).toBeGreaterThan(0);
    });
});
