/**
 * What the repository on GitHub must hold for the workflows to run: its environments, the secrets
 * the workflows read, and how long a deploy's AWS session lasts. The workflows, the bootstrap
 * command and the README are checked against this one list (test/workflows.test.ts).
 */

/** The GitHub environments: staging deploys on every merge; production waits for a reviewer. */
export const ENVIRONMENTS = [
    { name: "staging", stack: "staging", protection: "none: every merge to main deploys" },
    { name: "production", stack: "prod", protection: "required reviewers (Settings > Environments > production)" },
] as const;

export interface GitHubSecret {
    name: string;
    /** The environment it belongs to; undefined: a repository secret. */
    environment?: (typeof ENVIRONMENTS)[number]["name"];
    /** What it is and where it comes from. */
    what: string;
}

export const GITHUB_SECRETS: GitHubSecret[] = [
    { name: "PULUMI_ACCESS_TOKEN", what: "a Pulumi Cloud access token of the organization that holds the stacks (app.pulumi.com > Access tokens)" },
    { name: "AWS_PREVIEW_ROLE_ARN", what: "the preview role the bootstrap created (read-only; pull requests)" },
    { name: "REGISTRY_TOKEN", what: "a token with read access to the release's images (ghcr.io: read:packages), passed as DOCKER_REGISTRY_PASS" },
    { name: "AWS_DEPLOY_ROLE_ARN", environment: "staging", what: "the deploy role the bootstrap created" },
    { name: "STAGING_DEPLOY_SSH_KEY", environment: "staging", what: "the private half of staging's sofia:sshPublicKey" },
    { name: "AWS_DEPLOY_ROLE_ARN", environment: "production", what: "the deploy role the bootstrap created" },
    { name: "PROD_DEPLOY_SSH_KEY", environment: "production", what: "the private half of prod's sofia:sshPublicKey" },
];

/**
 * How long a deploy's AWS session lasts: longer than the longest update (a release deploy with a
 * restore: every host step's timeout in a row, and the containers' health waits; test/workflows),
 * within the 12 hours IAM allows and the 6 hours a GitHub-hosted job may run.
 */
export const DEPLOY_SESSION_SECONDS = 6 * 3600;

/** The OIDC subjects that may assume each role: deploys from an environment, previews from a pull request. */
export function oidcSubjects(repository: string): { deploy: string[]; preview: string[] } {
    return {
        deploy: ENVIRONMENTS.map((e) => `repo:${repository}:environment:${e.name}`),
        preview: [`repo:${repository}:pull_request`],
    };
}

/** "owner/name", as GitHub spells a repository. */
export function repositoryProblem(repository: string): string | undefined {
    return /^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/.test(repository) ? undefined : `"${repository}" is not a GitHub repository (owner/name)`;
}

export const GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com";
const ISSUER = "token.actions.githubusercontent.com";

/** A trust policy for GitHub's OIDC tokens of these subjects only (and this audience). */
export function githubTrust(providerArn: string, subjects: string[]): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Effect: "Allow",
                Principal: { Federated: providerArn },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: { StringEquals: { [`${ISSUER}:aud`]: "sts.amazonaws.com", [`${ISSUER}:sub`]: subjects } },
            },
        ],
    });
}
