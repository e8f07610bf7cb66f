/**
 * The bootstrap (bootstrap/): its permissions cover every resource type the program declares, and
 * no more; its roles trust only their GitHub subjects and fit IAM's limits; `npm run bootstrap`
 * runs its steps in order, again without harm, and prints the GitHub side the workflows read.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AWS_LIMITS, iamChars } from "../components/aws-limits";
import { Moto, startMoto } from "../drill/moto";
import { GITHUB_SCRIPT } from "../bootstrap/cli";
import { DEPLOY_SESSION_SECONDS, GITHUB_SECRETS, oidcSubjects } from "../bootstrap/github";
import bootstrapProgram from "../bootstrap/index";
import { asManagedPolicies, deployStatements, isRead, previewStatements, Scope, TYPE_GRANTS, uncovered } from "../bootstrap/permissions";
import { evaluate } from "../policies/evaluate";
import { limitPolicies } from "../policies/limits";
import { Plan, runOffline } from "../plan/offline";
import { planStack } from "./helpers/plan";
import { runAsync } from "../drill/run";

const ROOT = path.join(__dirname, "..");
const SCOPE: Scope = { partition: "aws", account: "123456789012", region: "eu-central-1" };
const NEW_API = `ghcr.io/sofia-v2/api:2026.12.1@sha256:${"1".repeat(64)}`;

/** Every kind of update the program can declare: both stacks, a first deploy, a release with a restore, a secret endpoint. */
async function everyPlan(): Promise<Plan[]> {
    return [
        await planStack("staging"),
        await planStack("prod"),
        await planStack("staging", [], [], {}),
        await planStack("prod", [`images.api=${NEW_API}`, "restore.from=latest", "restore.confirm=prod"]),
        await planStack("staging", [], ["oncallEndpoint=https://events.example.com/x"]),
        // Topology ecs, a release and a restore: every type and step it declares.
        await planStack("prod", ["topology=ecs", `images.api=${NEW_API}`, "restore.from=latest", "restore.confirm=prod"]),
    ];
}

describe("the deploy role's permissions, from the program's resource types", () => {
    let types: string[];
    beforeAll(async () => {
        types = [...new Set((await everyPlan()).flatMap((p) => p.resources.map((r) => r.type)))].sort();
    });

    it("cover every resource type both stacks declare, in every kind of update", () => {
        expect(uncovered(types)).toEqual([]);
    });

    it("list no type the program does not declare (nothing granted for nothing)", () => {
        expect(Object.keys(TYPE_GRANTS).filter((t) => !types.includes(t))).toEqual([]);
    });

    it("would fail for a type nobody listed", () => {
        expect(uncovered([...types, "aws:rds/instance:Instance"])).toEqual(["aws:rds/instance:Instance"]);
        expect(() => deployStatements(["aws:rds/instance:Instance"], SCOPE)).toThrow(/no permissions are listed for aws:rds\/instance:Instance; add them to bootstrap\/permissions\.ts/);
    });

    it("grant each type's calls, writes only on Sofia's names where AWS allows, and fit IAM's limits", () => {
        const statements = deployStatements(types, SCOPE);
        const all = statements.flatMap((s) => s.Action);
        for (const [t, g] of Object.entries(TYPE_GRANTS)) for (const a of g.actions) expect(all, t).toContain(a);
        const writeOn = (action: string) => statements.filter((s) => s.Action.includes(action)).flatMap((s) => s.Resource);
        expect(writeOn("iam:PutRolePolicy")).toEqual(["arn:aws:iam::123456789012:role/sofia-*"]);
        expect(writeOn("s3:PutBucketPolicy")).toEqual(["arn:aws:s3:::sofia-backups-*", "arn:aws:s3:::sofia-*-synthetics-*"]);
        expect(writeOn("cloudwatch:PutCompositeAlarm")).toEqual(["arn:aws:cloudwatch:eu-central-1:123456789012:alarm:sofia-*"]);
        // Listing a bucket reads what is in it: S3 reads stay on Sofia's buckets too.
        expect(writeOn("s3:ListBucket")).toEqual(["arn:aws:s3:::sofia-backups-*", "arn:aws:s3:::sofia-*-synthetics-*"]);
        // The deploy role writes objects only to the synthetic checks' buckets (their code), never into the backups.
        expect(writeOn("s3:PutObject")).toEqual(["arn:aws:s3:::sofia-*-synthetics-*/*"]);
        // No managed policy is attached by the program: the deploy role cannot attach one (AdministratorAccess would be a way out).
        expect(all).not.toContain("iam:AttachRolePolicy");
        expect(statements.find((s) => s.Action.includes("iam:PassRole"))!.Condition).toEqual({ StringEquals: { "iam:PassedToService": ["ec2.amazonaws.com", "ssm.amazonaws.com", "scheduler.amazonaws.com", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com"] } });
        expect(all).not.toContain("*");
        expect(all.filter((a) => a.includes("*"))).toEqual([]);
        const policies = asManagedPolicies(statements);
        expect(policies.length).toBeLessThanOrEqual(AWS_LIMITS.managedPoliciesPerRole.max);
        for (const p of policies) expect(iamChars(p)).toBeLessThanOrEqual(AWS_LIMITS.managedPolicyChars.max);
    });

    it("let the workflows do what they do besides declaring: host steps, Docker over SSM, the soak", () => {
        const all = deployStatements(types, SCOPE).flatMap((s) => s.Action);
        for (const a of ["ssm:SendCommand", "ssm:GetCommandInvocation", "ssm:CancelCommand", "ssm:StartSession", "ssm:TerminateSession", "iam:PassRole", "iam:CreateServiceLinkedRole", "cloudwatch:DescribeAlarmHistory", "ec2:DescribeImages"]) {
            expect(all).toContain(a);
        }
    });

    it("give the preview role reads only", () => {
        const actions = previewStatements(types, SCOPE).flatMap((s) => s.Action);
        expect(actions.length).toBeGreaterThan(20);
        expect(actions.filter((a) => !isRead(a))).toEqual([]);
        expect(actions).toContain("ec2:DescribeImages");
    });
});

describe("the bootstrap stack under mocks", () => {
    let plan: Plan;
    beforeAll(async () => {
        const config = new Map([
            ["sofia-bootstrap:repository", { value: "acme/sofia-infra", secret: false }],
            ["aws:region", { value: "eu-central-1", secret: false }],
        ]);
        plan = await runOffline({ project: "sofia-bootstrap", stack: "bootstrap", config, program: bootstrapProgram as unknown as () => unknown });
    });
    const role = (name: string) => plan.resources.find((r) => r.type === "aws:iam/role:Role" && r.inputs.name === name)!;

    it("trusts GitHub's OIDC tokens of exactly the deploy environments, and of pull requests for previews", () => {
        const trust = (name: string) => JSON.parse(role(name).inputs.assumeRolePolicy as string).Statement[0];
        const deploy = trust("github-deploy-sofia");
        expect(deploy.Action).toBe("sts:AssumeRoleWithWebIdentity");
        expect(deploy.Condition.StringEquals["token.actions.githubusercontent.com:sub"]).toEqual(oidcSubjects("acme/sofia-infra").deploy);
        expect(deploy.Condition.StringEquals["token.actions.githubusercontent.com:sub"]).toEqual(["repo:acme/sofia-infra:environment:staging", "repo:acme/sofia-infra:environment:production"]);
        expect(deploy.Condition.StringEquals["token.actions.githubusercontent.com:aud"]).toBe("sts.amazonaws.com");
        expect(trust("github-preview-sofia").Condition.StringEquals["token.actions.githubusercontent.com:sub"]).toEqual(["repo:acme/sofia-infra:pull_request"]);
    });

    it("lets a deploy session outlast the longest update, and keeps the OIDC provider from being destroyed", () => {
        expect(role("github-deploy-sofia").inputs.maxSessionDuration).toBe(DEPLOY_SESSION_SECONDS);
        const provider = plan.resources.find((r) => r.type === "aws:iam/openIdConnectProvider:OpenIdConnectProvider")!;
        expect(provider.inputs).toMatchObject({ url: "https://token.actions.githubusercontent.com", clientIdLists: ["sts.amazonaws.com"] });
        expect(provider.options.protect).toBe(true);
    });

    it("names its roles outside what the deploy role may write: it cannot change itself", () => {
        for (const r of plan.resources.filter((x) => x.type === "aws:iam/role:Role")) expect(String(r.inputs.name)).not.toMatch(/^sofia-/);
    });

    it("passes every AWS limit policy", async () => {
        expect(await evaluate(limitPolicies, plan.resources)).toEqual([]);
    });

    it("refuses a repository that is not owner/name", async () => {
        const config = new Map([["sofia-bootstrap:repository", { value: "acme", secret: false }], ["aws:region", { value: "eu-central-1", secret: false }]]);
        await expect(runOffline({ project: "sofia-bootstrap", stack: "bootstrap", config, program: bootstrapProgram as unknown as () => unknown })).rejects.toThrow(/sofia-bootstrap:repository: "acme" is not a GitHub repository/);
    });
});

describe("npm run bootstrap", () => {
    let moto: Moto;
    let dir: string;
    beforeAll(async () => {
        moto = await startMoto();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "bootstrap-"));
    });
    afterAll(() => moto.stop());

    /** With the Pulumi CLI double first on PATH (no Pulumi CLI here) and the real aws CLI against moto. */
    const bootstrap = (args: string[], extra: Record<string, string> = {}) =>
        runAsync("node", [path.join(ROOT, "scripts", "run-ts.js"), "scripts/bootstrap.ts", ...args], {
            ...process.env,
            ...moto.env,
            PATH: `${path.join(ROOT, "drill", "doubles")}:${process.env.PATH}`,
            PULUMI_LOG: path.join(dir, "pulumi.log"),
            ...extra,
        });

    it("brings up the roles, creates the stacks, and prints every secret the workflows read, with the roles filled in", async () => {
        const r = await bootstrap(["--repo", "acme/sofia-infra"]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        const calls = fs.readFileSync(path.join(dir, "pulumi.log"), "utf8").trim().split("\n");
        // The double logs the directory each call ran in: the checkout's own name, whatever it is.
        const checkout = path.basename(path.resolve(ROOT));
        expect(calls).toEqual([
            `${checkout}: version`,
            `${checkout}: whoami`,
            "bootstrap: stack select --create bootstrap",
            "bootstrap: config set --stack bootstrap repository acme/sofia-infra",
            "bootstrap: config set --stack bootstrap aws:region eu-central-1",
            "bootstrap: up --yes --stack bootstrap",
            "bootstrap: stack output --json --stack bootstrap",
            `${checkout}: stack select --create prod`,
            `${checkout}: stack select --create staging`,
        ]);
        expect(r.stdout).toContain("bootstrap: AWS account 123456789012, region eu-central-1, repository acme/sofia-infra");
        for (const s of GITHUB_SECRETS) expect(r.stdout).toContain(`gh secret set ${s.name} --repo acme/sofia-infra${s.environment ? ` --env ${s.environment}` : ""}`);
        expect(r.stdout).toContain("gh secret set AWS_DEPLOY_ROLE_ARN --repo acme/sofia-infra --env production --body arn:aws:iam::123456789012:role/github-deploy-sofia");
        expect(r.stdout).toContain("gh api --silent -X PUT repos/acme/sofia-infra/environments/production");
    });

    it("writes the GitHub side as a script that sets everything once and keeps deploy keys on a second run", async () => {
        const script = path.join(ROOT, GITHUB_SCRIPT);
        expect(spawnSync("shellcheck", [script], { encoding: "utf8" }).stdout).toBe("");
        const gh = { ...process.env, PATH: `${path.join(ROOT, "drill", "doubles")}:${process.env.PATH}`, GH_LOG: path.join(dir, "gh.log"), PULUMI_LOG: path.join(dir, "pulumi.log") };
        const work = fs.mkdtempSync(path.join(os.tmpdir(), "gh-setup-"));
        // The script asks for each token on stdin (gh secret set without --body).
        const first = spawnSync("bash", [script], { cwd: work, env: gh, input: "token-one\ntoken-two\n", encoding: "utf8" });
        expect(first.stderr).toBe("");
        expect(first.status).toBe(0);
        const secrets = () => fs.readFileSync(path.join(dir, "gh.log.secrets"), "utf8").trim().split("\n").sort();
        expect(secrets()).toEqual(GITHUB_SECRETS.map((x) => `repo=acme/sofia-infra ${x.environment ? `env=${x.environment} ` : ""}|${x.name}`).sort());
        const keys = fs.readFileSync(path.join(dir, "pulumi.log"), "utf8").split("\n").filter((l) => l.includes("sofia:sshPublicKey"));
        expect(keys).toHaveLength(2);
        expect(keys[0]).toMatch(/config set --stack staging sofia:sshPublicKey ssh-ed25519 AAAA\S+ sofia-deploy-staging$/);
        // Nothing private is left behind.
        expect(fs.readdirSync(path.join(work, ".scratch")).sort()).toEqual(["sofia-deploy-prod.pub", "sofia-deploy-staging.pub"]);
        const again = spawnSync("bash", [script], { cwd: work, env: gh, input: "", encoding: "utf8" });
        expect(again.status).toBe(0);
        // Only the role ARNs are set again (to the same values); tokens and keys stay.
        expect(secrets().length).toBe(GITHUB_SECRETS.length + GITHUB_SECRETS.filter((x) => x.name.endsWith("_ROLE_ARN")).length);
        expect(fs.readFileSync(path.join(dir, "pulumi.log"), "utf8").split("\n").filter((l) => l.includes("sofia:sshPublicKey"))).toHaveLength(2);
        expect(fs.readFileSync(path.join(dir, "gh.log"), "utf8")).toContain("branches/main/protection");
    });

    it("is safe to run again: the stacks it made are selected, not made twice", async () => {
        const r = await bootstrap(["--repo", "acme/sofia-infra"]);
        expect(r.status).toBe(0);
        expect(fs.readFileSync(path.join(dir, "pulumi.log.stacks"), "utf8").trim().split("\n").sort()).toEqual(["bootstrap", "prod", "staging"]);
    });

    it("stops at once, saying what to do, when not logged in to Pulumi", async () => {
        const r = await bootstrap(["--repo", "acme/sofia-infra"], { PULUMI_DOUBLE_LOGGED_OUT: "1" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^bootstrap: not logged in to a Pulumi backend: run pulumi login/);
        expect(r.stdout).not.toContain("stack select");
    });

    it("answers --help, refuses a bad repository or an unknown option with its usage", async () => {
        expect((await bootstrap(["--help"])).status).toBe(0);
        const bad = await bootstrap(["--repo", "acme"]);
        expect(bad.status).toBe(2);
        expect(bad.stderr).toContain('--repo: "acme" is not a GitHub repository (owner/name)');
        const unknown = await bootstrap(["--repo", "acme/x", "--force"]);
        expect(unknown.status).toBe(2);
        expect(unknown.stderr).toContain("usage: npm run bootstrap");
    });
});
