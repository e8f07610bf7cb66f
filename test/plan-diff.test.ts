/**
 * The offline diff (`npm run plan -- --diff <ref>`) and the pull request's comment built from it:
 * real plans of the program under the mock runtime, compared as the engine would.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../scripts/plan-cli";
import { COMMENT_BUDGET, COMMENT_MARKER, failureComment, GITHUB_COMMENT_LIMIT, prComment } from "../plan/comment";
import { changedInputs, diffPlans, PlanDiff } from "../plan/diff";
import { renderDiff } from "../plan/diff-render";
import { Plan } from "../plan/offline";
import { knownReplacementTypes, replacementCauses } from "../plan/replacements";
import { PROJECT_DIR } from "../plan/stack-config";
import { planStack } from "./helpers/plan";

const REF = { ref: "main", commit: "0123456789abcdef0123456789abcdef01234567" };
const NEW_API = "ghcr.io/sofia-v2/api:2026.12.1@sha256:" + "a".repeat(64);

/** The stack as its file has it, then the same with `overrides`, the second deployed after the first. */
async function change(stack: string, overrides: string[]): Promise<{ base: Plan; head: Plan; diff: PlanDiff }> {
    const base = await planStack(stack);
    const head = await planStack(stack, overrides, [], base.outputs);
    return { base, head, diff: diffPlans(base, head, REF) };
}

describe("the offline diff of two plans", () => {
    let same: PlanDiff, image: PlanDiff, threshold: PlanDiff, zone: PlanDiff;
    let base: Plan;
    beforeAll(async () => {
        ({ diff: same, base } = await change("prod", []));
        ({ diff: image } = await change("prod", [`images.api=${NEW_API}`]));
        ({ diff: threshold } = await change("prod", ["alarms.staleRatio=0.7"]));
        // Refused unless the settings accept the loss (test/placement.test.ts): accepted here, to see the diff.
        ({ diff: zone } = await change("prod", ["availabilityZone=eu-central-1b", "acceptDataLoss=prod"]));
    }, 120_000);

    it("calls a lifecycle dangerous when it expires what was kept: shorter rules, or rules on a bucket that had none; not a new bucket's first rules", () => {
        const lifecycle = (p: Plan) => p.resources.find((r) => r.name === "sofia-backups-lifecycle")!;
        const without = (p: Plan, name: string): Plan => ({ ...p, resources: p.resources.filter((r) => r.name !== name) });
        const shorter = (p: Plan): Plan => ({ ...p, resources: p.resources.map((r) => (r === lifecycle(p) ? { ...r, inputs: { ...r.inputs, rules: [{ id: "x", status: "Enabled", filter: { prefix: "" }, expiration: { days: 3 } }] } } : r)) });
        const says = (d: PlanDiff) => d.danger.map((x) => x.says).filter((s) => s.startsWith("expires backups sooner"));
        // The access-log bucket came with its lifecycle in this very history: no danger for it now.
        expect(says(diffPlans(base, base, REF))).toEqual([]);
        expect(says(diffPlans(base, shorter(base), REF))).toEqual(["expires backups sooner (sofia-backups-lifecycle (BucketLifecycleConfiguration)): after 3 days, not 7"]);
        expect(says(diffPlans(without(base, "sofia-backups-lifecycle"), base, REF))).toEqual(["expires backups sooner (sofia-backups-lifecycle (BucketLifecycleConfiguration)): after 7 days"]);
        // Before the access-log bucket existed: its first rules expire nothing anyone kept.
        const noLogs = { ...base, resources: base.resources.filter((r) => !r.name.startsWith("sofia-backups-access-logs")) };
        expect(says(diffPlans(noLogs, base, REF))).toEqual([]);
    });

    it("shows nothing for no change, and no deploy", () => {
        expect(same.counts).toEqual({ replace: 0, delete: 0, create: 0, update: 0 });
        expect(same.danger).toEqual([]);
        expect(same.deploy?.kind).toBe("none");
        expect(renderDiff(same)).toContain("no changes");
    });

    it("shows an image change as a release deploy that replaces the API's container", () => {
        expect(image.deploy?.kind).toBe("release");
        expect(image.deploy?.steps).toEqual(["page-on", "backup", "migrate", "verify", "page-off"]);
        const api = image.resources.find((d) => d.name === "sofia-services-api-image")!;
        expect(api.op).toBe("replace");
        expect(api.changes).toEqual([{ path: "name", before: expect.stringContaining("api:2026.11"), after: NEW_API }]);
        expect(image.resources.find((d) => d.name === "sofia-services-api-container")?.causes).toEqual(["image"]);
        // The deploy steps exist only in an update that runs them: they are created.
        expect(image.resources.filter((d) => d.op === "create").map((d) => d.name)).toContain("sofia-deploy-backup-run");
        expect(image.danger).toEqual([]);
        const text = renderDiff(image);
        expect(text).toContain("a release deploy: page-on, backup, migrate, verify, page-off");
        expect(text).toContain("host files: changes /etc/sofia/release.json");
    });

    it("shows a threshold change among the alarms, updated in place, with no deploy", () => {
        expect(threshold.deploy?.kind).toBe("none");
        const alarm = threshold.watched.find((d) => d.type === "aws:cloudwatch/metricAlarm:MetricAlarm")!;
        expect(alarm.op).toBe("update");
        expect(alarm.changes).toContainEqual({ path: "threshold", before: 0.1, after: 0.7 });
        expect(threshold.resources.some((d) => d.op === "replace" || d.op === "delete")).toBe(false);
        expect(threshold.danger).toEqual([]);
        // JSON held in a string (the dashboard) is compared as data.
        expect(threshold.resources.find((d) => d.type === "aws:cloudwatch/dashboard:Dashboard")?.changes[0].path).toMatch(/^dashboardBody\.widgets\[\d+\]\./);
    });

    it("puts a zone change first, as the loss of the data volume", () => {
        expect(zone.danger[0].says).toMatch(/^replaces the data volume .*availabilityZone.*every store on it is lost unless restored; it is protected/);
        expect(zone.resources.find((d) => d.type === "aws:ebs/volume:Volume")).toMatchObject({ op: "replace", causes: ["availabilityZone"] });
        const text = renderDiff(zone);
        expect(text.indexOf("DANGER")).toBeGreaterThan(0);
        expect(text.indexOf("DANGER")).toBeLessThan(text.indexOf("Resources:"));
    });

    it("names access that widens: a new ingress rule, a new policy statement, a published port", () => {
        const head = structuredClone(base);
        const rule = head.resources.find((r) => r.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")!;
        head.resources.push({ ...rule, urn: `${rule.urn}-wide`, name: "wide-open", inputs: { ...rule.inputs, cidrIpv4: "0.0.0.0/0", fromPort: 6379, toPort: 6379 } });
        const role = head.resources.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy")!;
        const doc = JSON.parse(role.inputs.policy as string);
        doc.Statement.push({ Effect: "Allow", Action: "s3:DeleteObject", Resource: "*" });
        role.inputs.policy = JSON.stringify(doc);
        const proxy = head.resources.find((r) => r.type === "docker:index/container:Container" && Array.isArray(r.inputs.ports) && (r.inputs.ports as unknown[]).length)!;
        proxy.inputs.ports = [...(proxy.inputs.ports as object[]), { internal: 9000, external: 9000 }];
        const says = diffPlans(base, head, REF).danger.map((d) => d.says);
        expect(says).toContainEqual(expect.stringMatching(/^opens tcp port 6379 to 0\.0\.0\.0\/0 \(wide-open\)/));
        expect(says).toContainEqual(expect.stringMatching(/adds policy statements to .*Allow s3:DeleteObject on \*/));
        expect(says).toContainEqual(expect.stringMatching(/publishes 0\.0\.0\.0:9000->9000\/tcp/));
        // Taking access away is not danger.
        const narrower = structuredClone(base);
        narrower.resources = narrower.resources.filter((r) => r.type !== "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
        expect(diffPlans(base, narrower, REF).danger).toEqual([]);
    });

    it("names protections taken away: a trust policy opened to anyone, a Deny removed, guards, IMDSv1, a privileged container", () => {
        const head = structuredClone(base);
        const role = head.resources.find((r) => r.type === "aws:iam/role:Role")!;
        const trust = JSON.parse(role.inputs.assumeRolePolicy as string);
        trust.Statement[0].Principal = { AWS: "*" };
        role.inputs.assumeRolePolicy = JSON.stringify(trust);
        const bucketPolicy = head.resources.find((r) => r.type === "aws:s3/bucketPolicy:BucketPolicy")!;
        const doc = JSON.parse(bucketPolicy.inputs.policy as string);
        doc.Statement = doc.Statement.filter((x: { Effect: string }) => x.Effect !== "Deny");
        bucketPolicy.inputs.policy = JSON.stringify(doc);
        head.resources.find((r) => r.type === "aws:ebs/volume:Volume")!.options = {};
        (head.resources.find((r) => r.type === "aws:ec2/instance:Instance")!.inputs.metadataOptions as Record<string, unknown>).httpTokens = "optional";
        head.resources.find((r) => r.type === "docker:index/container:Container")!.inputs.privileged = true;
        head.resources.find((r) => r.type === "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")!.inputs.restrictPublicBuckets = false;
        const d = diffPlans(base, head, REF);
        const says = d.danger.map((x) => x.says);
        expect(says).toContainEqual(expect.stringMatching(/adds trust statements to .*for \{"AWS":"\*"\}/));
        expect(says).toContainEqual(expect.stringMatching(/removes Deny statements from .*BucketPolicy/));
        expect(says).toContainEqual(expect.stringMatching(/takes protect off sofia-host-data/));
        expect(says).toContainEqual(expect.stringMatching(/allows IMDSv1/));
        expect(says).toContainEqual(expect.stringMatching(/privileged: it can take the host/));
        expect(says).toContainEqual(expect.stringMatching(/turns restrictPublicBuckets off/));
        // The option itself shows among the changes.
        expect(d.resources.find((r) => r.type === "aws:ebs/volume:Volume")?.changes).toContainEqual({ path: "(option) protect", before: true });
    });

    it("a resource gone from the program keeps the old state's guards: a retained Docker volume is dropped from the stack, not lost; a protected one stops the update", () => {
        const head = structuredClone(base);
        const volume = head.resources.find((r) => r.type === "docker:index/volume:Volume" && r.options?.retainOnDelete)!;
        const data = head.resources.find((r) => r.type === "aws:ebs/volume:Volume")!;
        head.resources = head.resources.filter((r) => r !== volume && r !== data);
        const says = diffPlans(base, head, REF).danger.map((x) => x.says);
        const name = String(volume.inputs.name);
        expect(says).toContainEqual(`drops the Docker volume ${name} from the stack: it stays on the host with what is stored in it (retainOnDelete); remove it by hand once nothing needs it`);
        expect(says.filter((x) => x.includes(name) && /lost|takes retainOnDelete off/.test(x))).toEqual([]);
        expect(says).toContainEqual(expect.stringMatching(/deletes the protected sofia-host-data \(Volume\): the update stops there/));
        expect(says.filter((x) => /takes protect off sofia-host-data/.test(x))).toEqual([]);
    });

    it("does not call a narrowed statement new access", () => {
        const head = structuredClone(base);
        const role = head.resources.find((r) => r.name === "sofia-maintenance-role-policy")!;
        const doc = JSON.parse(role.inputs.policy as string);
        doc.Statement[0].Resource = doc.Statement[0].Resource.slice(0, 1);
        role.inputs.policy = JSON.stringify(doc);
        const d = diffPlans(base, head, REF);
        expect(d.resources.map((r) => r.name)).toEqual(["sofia-maintenance-role-policy"]);
        expect(d.danger).toEqual([]);
    });

    it("leaves out what the resource ignores: a new AMI is no change", () => {
        const head = structuredClone(base);
        head.resources.find((r) => r.type === "aws:ec2/instance:Instance")!.inputs.ami = "ami-0123456789abcdef0";
        expect(diffPlans(base, head, REF).resources).toEqual([]);
    });

    it("shows the start order when it changes, and the comment carries its graph", () => {
        expect(same.startOrder).toBeUndefined();
        const head = structuredClone(base);
        const containers = head.resources.filter((r) => r.type === "docker:index/container:Container" && r.dependsOn.length);
        // The last stage's containers no longer wait for anything: they move to the first stage.
        for (const c of containers) c.dependsOn = [];
        const d = diffPlans(base, head, REF);
        expect(d.startOrder?.after.stages.length).toBeLessThan(d.startOrder!.before.stages.length);
        expect(renderDiff(d)).toContain("Start order changes:");
        expect(prComment({ stacks: [{ diff: d, policySummary: "" }], artifact: "offline-plans" })).toContain("```mermaid\nflowchart LR");
    });

    it("knows how the provider changes every type the program declares", async () => {
        const staging = await planStack("staging");
        const ecs = await planStack("prod", ["topology=ecs"]);
        const types = new Set([...base.resources, ...staging.resources, ...ecs.resources].filter((r) => r.custom).map((r) => r.type));
        expect([...types].filter((t) => !knownReplacementTypes().includes(t))).toEqual([]);
        // Docker replaces a container for anything but what `docker update` can change.
        expect(replacementCauses("docker:index/container:Container", ["memory"])).toEqual([]);
        expect(replacementCauses("docker:index/container:Container", ["envs[0]", "memory"])).toEqual(["envs[0]"]);
        expect(replacementCauses("aws:ec2/instance:Instance", ["instanceType"])).toEqual([]);
        expect(replacementCauses("aws:sns/topic:Topic", ["displayName"], { replaceOnChanges: ["displayName"] })).toEqual(["displayName"]);
    });

    it("compares nested inputs leaf by leaf", () => {
        expect(changedInputs({ a: { b: [1, 2] }, c: "x" }, { a: { b: [1, 3] }, c: "x", d: true })).toEqual([
            { path: "a.b[1]", before: 2, after: 3 },
            { path: "d", after: true },
        ]);
        expect(changedInputs('{"x":1}', '{"x":2}')).toEqual([{ path: "x", before: 1, after: 2 }]);
    });

    it("makes a comment that fits: a realistic change well under 20,000 characters, danger outside the fold", () => {
        const body = prComment({
            stacks: [
                { diff: image, policySummary: "41 policies, 0 violations (0 mandatory)" },
                { diff: zone, policySummary: "41 policies, 1 violations (1 mandatory)" },
            ],
            artifact: "offline-plans",
        });
        expect(body.startsWith(COMMENT_MARKER)).toBe(true);
        expect(body.length).toBeLessThan(20_000);
        expect(body).toContain("Policies: 41 policies, 1 violations (1 mandatory)");
        expect(body.indexOf(":warning: replaces the data volume")).toBeLessThan(body.lastIndexOf("<details>"));
    });

    it("keeps every stack's header and danger however large another stack's diff, and keeps hostile text inert", () => {
        const huge = structuredClone(image);
        huge.danger = Array.from({ length: 3000 }, (_, i) => ({ op: "delete" as const, urn: `u${i}`, says: `deletes v${i}` }));
        huge.resources = Array.from({ length: 4000 }, (_, i) => ({ ...image.resources[0], name: `r${i}`, urn: `u${i}` }));
        const hostile = structuredClone(zone);
        hostile.danger[0] = { ...hostile.danger[0], says: "x\n```\n</details>\n# injected" };
        const body = prComment({ stacks: [{ diff: huge, policySummary: "a" }, { diff: hostile, policySummary: "b" }], artifact: "offline-plans", head: "f".repeat(40) });
        expect(body.length).toBeLessThanOrEqual(COMMENT_BUDGET);
        expect(body.match(/^### /gm)).toHaveLength(2);
        expect(body).toContain("x ''' &lt;/details&gt; # injected");
        expect(body).not.toMatch(/^# injected/m);
        expect(body).toContain("## Offline diff at `ffffffffffff`");
        expect((body.match(/^```/gm) ?? []).length % 2).toBe(0);
    });

    it("says so in the comment when a stack cannot be planned", () => {
        const body = failureComment("a".repeat(40), [{ stack: "prod", error: 'Invalid settings for stack "prod" (1 problem):\n  - sofia:availabilityZone: ...\n```\n' }], "offline-plans");
        expect(body.startsWith(COMMENT_MARKER)).toBe(true);
        expect(body).toContain("## Offline diff at `aaaaaaaaaaaa`: could not be made");
        expect((body.match(/^```/gm) ?? []).length % 2).toBe(0);
    });

    it("cuts a diff too large for GitHub, says so, and keeps its fences balanced", () => {
        const huge = structuredClone(image);
        huge.resources = Array.from({ length: 4000 }, (_, i) => ({ ...image.resources[0], name: `r${i}`, urn: `u${i}` }));
        huge.danger = Array.from({ length: 3000 }, (_, i) => ({ op: "delete" as const, urn: `u${i}`, says: `deletes the Docker volume v${i}: what is stored in it is lost unless restored` }));
        const body = prComment({ stacks: [{ diff: huge, policySummary: "x" }, { diff: huge, policySummary: "y" }], artifact: "offline-plans" });
        expect(body.length).toBeLessThanOrEqual(COMMENT_BUDGET);
        expect(COMMENT_BUDGET).toBeLessThan(GITHUB_COMMENT_LIMIT);
        expect(body).toContain("more lines cut: the full diff and plans are in the `offline-plans` artifact");
        expect((body.match(/^```/gm) ?? []).length % 2).toBe(0);
        expect(body.startsWith(COMMENT_MARKER)).toBe(true);
    });
});

describe("npm run plan -- --diff <ref>", () => {
    const io = () => {
        const out: string[] = [];
        const err: string[] = [];
        return { out, err, io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) } };
    };
    const worktrees = () => spawnSync("git", ["worktree", "list"], { cwd: PROJECT_DIR, encoding: "utf8" }).stdout.trim().split("\n").length;

    // HEAD, not HEAD~1: a shallow CI checkout has no parent commit.
    it("plans this repository's HEAD in a worktree it removes, and diffs the working tree against it", async () => {
        const before = worktrees();
        const r = io();
        expect(await main(["--stack", "prod", "--diff", "HEAD"], r.io), r.err.join("")).toBe(0);
        expect(r.out.join("")).toMatch(/^Diff of stack "prod": HEAD \([0-9a-f]{12}\) -> the working tree: /);
        expect(r.out.join("")).toMatch(/Deploy this change triggers: /);
        expect(worktrees()).toBe(before);
        expect(fs.existsSync(path.join(PROJECT_DIR, "node_modules", "@pulumi", "pulumi", "package.json"))).toBe(true);
    }, 120_000);

    it("removes a worktree a killed run left behind, and keeps one whose run is alive", async () => {
        const git = (args: string[]) => spawnSync("git", args, { cwd: PROJECT_DIR, encoding: "utf8" });
        const dead = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-plan-999999999-prod-"));
        const alive = fs.mkdtempSync(path.join(os.tmpdir(), `sofia-plan-${process.pid}-prod-`));
        fs.rmdirSync(dead);
        fs.rmdirSync(alive);
        expect(git(["worktree", "add", "--detach", "--quiet", dead, "HEAD"]).status).toBe(0);
        expect(git(["worktree", "add", "--detach", "--quiet", alive, "HEAD"]).status).toBe(0);
        try {
            const r = io();
            expect(await main(["--stack", "staging", "--diff", "HEAD"], r.io), r.err.join("")).toBe(0);
            const listed = git(["worktree", "list"]).stdout;
            expect(listed).not.toContain(dead);
            expect(fs.existsSync(dead)).toBe(false);
            expect(listed).toContain(alive);
        } finally {
            git(["worktree", "remove", "--force", alive]);
            git(["worktree", "remove", "--force", dead]);
        }
    }, 120_000);

    it("refuses a ref that names no commit, or that git would read as an option, naming it", async () => {
        for (const ref of ["no-such-ref-anywhere", "--output=/tmp/x"]) {
            const r = io();
            expect(await main(["--stack", "prod", `--diff=${ref}`], r.io)).toBe(1);
            expect(r.err.join("")).toContain(ref);
            expect(r.err.join("")).not.toMatch(/\n\s+at /);
        }
    });
});
