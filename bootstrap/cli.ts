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
import * as fs from "fs";
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
        if (!o.dryRun && !(outputs.deployRoleArn && outputs.previewRoleArn)) throw new BootstrapError("the bootstrap stack has no deployRoleArn and previewRoleArn outputs: did its pulumi up finish? (pulumi -C bootstrap stack output)");

        for (const stack of knownStacks()) run("pulumi", ["stack", "select", "--create", stackName(o.org, "sofia", stack)], { why: `the ${stack} stack (created once; its settings are Pulumi.${stack}.yaml)` });

        if (o.dryRun) {
            console.log(`\nThen it would write ${GITHUB_SCRIPT}, the GitHub side, with the roles' ARNs:\n\n${githubSteps(o.repo, { deployRoleArn: "DEPLOY_ROLE_ARN", previewRoleArn: "PREVIEW_ROLE_ARN" })}`);
            return 0;
        }
        const script = githubSteps(o.repo, { deployRoleArn: outputs.deployRoleArn, previewRoleArn: outputs.previewRoleArn });
        fs.mkdirSync(path.join(ROOT, path.dirname(GITHUB_SCRIPT)), { recursive: true });
        fs.writeFileSync(path.join(ROOT, GITHUB_SCRIPT), script, { mode: 0o755 });
        console.log(`\nGitHub: read, then run ${GITHUB_SCRIPT} (it asks for the Pulumi and registry tokens):\n\n${script}`);
        return 0;
    } catch (e) {
        if (!(e instanceof BootstrapError)) throw e;
        console.error(`bootstrap: ${e.message}`);
        return 1;
    }
}

/**
 * What to set on GitHub, as a script of gh commands: it asks for the two tokens, makes each
 * environment's deploy key (its public half into the stack file), and protects main.
 */
export function githubSteps(repo: string, roles: { deployRoleArn: string; previewRoleArn: string }): string {
    const value: Record<string, string> = { AWS_DEPLOY_ROLE_ARN: roles.deployRoleArn, AWS_PREVIEW_ROLE_ARN: roles.previewRoleArn };
    const keyFile = (name: string) => `sofia-deploy-${name.replace(/_DEPLOY_SSH_KEY$/, "").toLowerCase()}`;
    const lines = [
        "#!/usr/bin/env bash",
        `# Generated by npm run bootstrap: what ${repo} needs on GitHub for its workflows. Safe to run again.`,
        "set -euo pipefail",
        "# has <secret> <gh scope...>: the secret is set already (a second run leaves it, and keeps deploy keys as they are)",
        'has() { local name=$1; shift; gh secret list "$@" --json name -q ".[].name" | grep -qx "$name"; }',
    ];
    for (const e of ENVIRONMENTS) lines.push(`gh api --silent -X PUT repos/${repo}/environments/${e.name}   # ${e.protection}`);
    for (const s of GITHUB_SECRETS) {
        const scope = `--repo ${repo}${s.environment ? ` --env ${s.environment}` : ""}`;
        if (value[s.name]) lines.push(`gh secret set ${s.name} ${scope} --body ${value[s.name]}`);
        else if (s.name.endsWith("_DEPLOY_SSH_KEY")) {
            const stack = ENVIRONMENTS.find((e) => e.name === s.environment)!.stack;
            const f = `.scratch/${keyFile(s.name)}`;
            lines.push(`# ${s.what}: made once (the host's deploy user is set up with the key the first deploy finds)`);
            lines.push(`if ! has ${s.name} ${scope}; then`);
            lines.push(`  mkdir -p .scratch && rm -f ${f} ${f}.pub && ssh-keygen -q -t ed25519 -N '' -C ${keyFile(s.name)} -f ${f}`);
            lines.push(`  pulumi config set --stack ${stack} sofia:sshPublicKey "$(cat ${f}.pub)"`);
            lines.push(`  gh secret set ${s.name} ${scope} < ${f} && rm -f ${f}`);
            lines.push("fi");
        } else lines.push(`has ${s.name} ${scope} || gh secret set ${s.name} ${scope}   # asks for it: ${s.what}`);
    }
    lines.push(
        "# main takes pull requests only, with their checks green: promotion opens one, never pushes.",
        `gh api --silent -X PUT repos/${repo}/branches/main/protection -F 'required_status_checks[strict]=true' -f 'required_status_checks[contexts][]=test' -f 'required_status_checks[contexts][]=offline-plan' -F enforce_admins=true -F 'required_pull_request_reviews[required_approving_review_count]=1' -F restrictions=null`,
        `echo "GitHub is set up for ${repo}: commit the stack files (their deploy keys changed) and push to main; deploy-staging runs the first deploy."`,
    );
    return lines.join("\n") + "\n";
}

/** Where the GitHub script is written (.scratch/ is not committed: it is yours to read, then run). */
export const GITHUB_SCRIPT = ".scratch/github-setup.sh";
