/**
 * `npm run bootstrap -- --repo <owner/name> [--org <pulumi-org>] [--region <aws-region>]
 *                       [--oidc-provider-arn <arn>] [--dry-run]`
 *
 * From a fresh AWS account and repository to one where the workflows can deploy: checks the
 * Pulumi login and the AWS credentials, brings up the bootstrap stack (bootstrap/: the OIDC
 * provider, the deploy and preview roles), creates the app's stacks, and prints what to set on
 * GitHub. Every step is safe to run again. --dry-run prints the commands instead of running them.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { parseArgs } from "util";
import { ENVIRONMENTS, GITHUB_SECRETS, repositoryProblem } from "./github";
import { projectRoot } from "../components/project-root";
import { knownStacks, readStackConfig } from "../plan/stack-config";

const USAGE = `usage: npm run bootstrap -- --repo <owner/name> [--org <pulumi-org>] [--region <aws-region>] [--oidc-provider-arn <arn>] [--dry-run]
  --repo               the GitHub repository whose workflows deploy (its OIDC subjects are trusted)
  --org                the Pulumi organization of the stacks (default: your default organization)
  --region             the AWS region of the bootstrap stack (default: staging's aws:region)
  --oidc-provider-arn  reuse the account's GitHub OIDC provider instead of creating one
  --dry-run            print every command instead of running it`;

const ROOT = projectRoot();
const BOOTSTRAP_DIR = path.join(ROOT, "bootstrap");
const BOOTSTRAP_STACK = "bootstrap";

class BootstrapError extends Error {}

interface Options {
    repo: string;
    org?: string;
    region: string;
    oidcProviderArn?: string;
    dryRun: boolean;
}

function parse(argv: string[]): Options | "help" {
    const { values } = parseArgs({
        args: argv,
        options: { repo: { type: "string" }, org: { type: "string" }, region: { type: "string" }, "oidc-provider-arn": { type: "string" }, "dry-run": { type: "boolean", default: false }, help: { type: "boolean", default: false } },
        strict: true,
        allowPositionals: false,
    });
    if (values.help) return "help";
    if (!values.repo) throw new TypeError("--repo <owner/name> is required");
    const problem = repositoryProblem(values.repo);
    if (problem) throw new TypeError(`--repo: ${problem}`);
    if (values.org !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(values.org)) throw new TypeError(`--org: "${values.org}" is not a Pulumi organization name`);
    const region = values.region ?? readStackConfig("staging").get("aws:region")?.value;
    if (!region || !/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region)) throw new TypeError(`--region: ${region === undefined ? "missing, and staging has no aws:region" : `"${region}" is not an AWS region`}`);
    const arn = values["oidc-provider-arn"];
    if (arn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/.test(arn)) throw new TypeError(`--oidc-provider-arn: "${arn}" is not GitHub's OIDC provider in an account`);
    return { repo: values.repo, org: values.org, region, oidcProviderArn: arn, dryRun: values["dry-run"] as boolean };
}

/** Runs a command (or, dry, prints it); returns its stdout. `show` streams its output (pulumi up). */
function runner(dryRun: boolean) {
    return (cmd: string, args: string[], opts: { cwd?: string; show?: boolean; why: string }): string => {
        const line = [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
        const where = opts.cwd && opts.cwd !== ROOT ? ` (in ${path.relative(ROOT, opts.cwd)}/)` : "";
        console.log(`${dryRun ? "would run" : "running"}: ${line}${where}  # ${opts.why}`);
        if (dryRun) return "";
        const r = spawnSync(cmd, args, { cwd: opts.cwd ?? ROOT, encoding: "utf8", stdio: ["ignore", opts.show ? "inherit" : "pipe", "pipe"] });
        if (r.error) throw new BootstrapError(`${cmd} could not be run (${r.error.message}): install it and run again`);
        if (r.status !== 0) throw new BootstrapError(`${line} failed (exit ${r.status}): ${(r.stderr ?? "").trim().split("\n").slice(-3).join(" ") || "no output"}`);
        return r.stdout ?? "";
    };
}

function stackName(org: string | undefined, project: string, stack: string): string {
    return org ? `${org}/${project}/${stack}` : stack;
}

export function main(argv: string[]): number {
    let o: Options | "help";
    try {
        o = parse(argv);
    } catch (e) {
        console.error(`bootstrap: ${(e as Error).message}\n${USAGE}`);
        return 2;
    }
    if (o === "help") {
        console.log(USAGE);
        return 0;
    }
    const run = runner(o.dryRun);
    try {
        run("pulumi", ["version"], { why: "the Pulumi CLI is installed" });
        try {
            run("pulumi", ["whoami"], { why: "logged in to the state backend" });
        } catch (e) {
            throw new BootstrapError(`not logged in to a Pulumi backend: run pulumi login (Pulumi Cloud, whose token the workflows use as PULUMI_ACCESS_TOKEN) and run again. (${(e as Error).message})`);
        }
        const account = run("aws", ["sts", "get-caller-identity", "--query", "Account", "--output", "text"], { why: "AWS credentials of the account to bootstrap" }).trim() || "<account>";
        console.log(`bootstrap: AWS account ${account}, region ${o.region}, repository ${o.repo}`);

        const boot = stackName(o.org, "sofia-bootstrap", BOOTSTRAP_STACK);
        const inBoot = { cwd: BOOTSTRAP_DIR };
        run("pulumi", ["stack", "select", "--create", boot], { ...inBoot, why: "the bootstrap stack (created once)" });
        run("pulumi", ["config", "set", "--stack", boot, "repository", o.repo], { ...inBoot, why: "whose workflows the roles trust" });
        run("pulumi", ["config", "set", "--stack", boot, "aws:region", o.region], { ...inBoot, why: "the region of the roles' scope" });
        if (o.oidcProviderArn) run("pulumi", ["config", "set", "--stack", boot, "oidcProviderArn", o.oidcProviderArn], { ...inBoot, why: "the account's existing GitHub OIDC provider" });
        run("pulumi", ["up", "--yes", "--stack", boot], { ...inBoot, show: true, why: "the OIDC provider and the deploy and preview roles" });
        const outputs = o.dryRun ? {} : (JSON.parse(run("pulumi", ["stack", "output", "--json", "--stack", boot], { ...inBoot, why: "the roles' ARNs" })) as Record<string, string>);

        for (const stack of knownStacks()) run("pulumi", ["stack", "select", "--create", stackName(o.org, "sofia", stack)], { why: `the ${stack} stack (created once; its settings are Pulumi.${stack}.yaml)` });

        console.log(githubSteps(o.repo, { deployRoleArn: outputs.deployRoleArn ?? "<deployRoleArn>", previewRoleArn: outputs.previewRoleArn ?? "<previewRoleArn>" }));
        return 0;
    } catch (e) {
        if (!(e instanceof BootstrapError)) throw e;
        console.error(`bootstrap: ${e.message}`);
        return 1;
    }
}

/** What to set on GitHub, as gh commands (or the same by hand under Settings). */
export function githubSteps(repo: string, roles: { deployRoleArn: string; previewRoleArn: string }): string {
    const value: Record<string, string> = { AWS_DEPLOY_ROLE_ARN: roles.deployRoleArn, AWS_PREVIEW_ROLE_ARN: roles.previewRoleArn };
    const keyFile = (name: string) => `sofia-deploy-${name.replace(/_DEPLOY_SSH_KEY$/, "").toLowerCase()}`;
    const lines = ["", `GitHub: set these on ${repo} (Settings > Environments, Settings > Secrets), e.g. with the gh CLI:`];
    for (const e of ENVIRONMENTS) lines.push(`  gh api -X PUT repos/${repo}/environments/${e.name}   # ${e.protection}`);
    for (const s of GITHUB_SECRETS) {
        const scope = `--repo ${repo}${s.environment ? ` --env ${s.environment}` : ""}`;
        if (value[s.name]) lines.push(`  gh secret set ${s.name} ${scope} --body ${value[s.name]}`);
        else if (s.name.endsWith("_DEPLOY_SSH_KEY")) {
            const stack = ENVIRONMENTS.find((e) => e.name === s.environment)!.stack;
            lines.push(`  ssh-keygen -q -t ed25519 -N '' -C ${keyFile(s.name)} -f ${keyFile(s.name)} && pulumi config set --stack ${stack} sofia:sshPublicKey "$(cat ${keyFile(s.name)}.pub)"`);
            lines.push(`  gh secret set ${s.name} ${scope} < ${keyFile(s.name)} && rm ${keyFile(s.name)}   # ${s.what}`);
        } else lines.push(`  gh secret set ${s.name} ${scope}   # ${s.what}`);
    }
    lines.push(
        "",
        "Then protect main (Settings > Branches: require pull requests and the pull-request checks): promotion opens a pull request.",
        "Commit the stack files and push to main: deploy-staging runs the first deploy.",
    );
    return lines.join("\n");
}
