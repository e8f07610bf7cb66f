/**
 * The bootstrap stack (`pulumi -C bootstrap up`, run by `npm run bootstrap`): GitHub's OIDC
 * provider, and the two roles the workflows assume through it, each trusting exactly its
 * subjects (permissions.ts and github.ts say what and who).
 *
 * Settings (namespace sofia-bootstrap): `repository` (owner/name, required), `oidcProviderArn`
 * (an account holds one provider per URL: reuse one that exists).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEPLOY_SESSION_SECONDS, GITHUB_OIDC_URL, githubTrust, oidcSubjects, repositoryProblem } from "./github";
import { asManagedPolicies, deployStatements, partitionOf, previewStatements, Scope, TYPE_GRANTS } from "./permissions";

export = async () => {
    const config = new pulumi.Config();
    const repository = config.require("repository");
    const problem = repositoryProblem(repository);
    if (problem) throw new Error(`sofia-bootstrap:repository: ${problem}`);
    const tags = { Project: "sofia", ManagedBy: "pulumi", Purpose: "github-deploys" };

    const account = (await aws.getCallerIdentity({})).accountId;
    const region = (await aws.getRegion({})).name;
    const scope: Scope = { partition: partitionOf(region), account, region };

    const providerArn =
        config.get("oidcProviderArn") ??
        new aws.iam.OpenIdConnectProvider("github", { url: GITHUB_OIDC_URL, clientIdLists: ["sts.amazonaws.com"], tags }, { protect: true }).arn;
    const subjects = oidcSubjects(repository);
    const types = Object.keys(TYPE_GRANTS);

    const role = (name: string, description: string, who: string[], statements: ReturnType<typeof deployStatements>, maxSessionDuration: number) => {
        const r = new aws.iam.Role(name, { name, description, assumeRolePolicy: pulumi.output(providerArn).apply((arn) => githubTrust(arn, who)), maxSessionDuration, tags });
        asManagedPolicies(statements).forEach((policy, i) => {
            const p = new aws.iam.Policy(`${name}-${i + 1}`, { description: `${description} (${i + 1})`, policy, tags });
            new aws.iam.RolePolicyAttachment(`${name}-${i + 1}`, { role: r.name, policyArn: p.arn });
        });
        return r;
    };
    // Named outside "sofia-*", which the deploy role may write: it must not be able to change itself.
    const deploy = role("github-deploy-sofia", "Sofia: pulumi up from the staging and production environments", subjects.deploy, deployStatements(types, scope), DEPLOY_SESSION_SECONDS);
    const preview = role("github-preview-sofia", "Sofia: pulumi preview from pull requests, read-only", subjects.preview, previewStatements(types, scope), 3600);

    return { deployRoleArn: deploy.arn, previewRoleArn: preview.arn, oidcProviderArn: providerArn, account, region };
};
