/**
 * The runbook's "Deployment Checklist" as data: every step a deploy may run, in order, and which
 * kinds of deploy run it. A topology turns it into resources (topology/host/deploy-checklist.ts);
 * the README's Release section and the plan's picture are generated from it.
 */

export type DeployKind = "none" | "config" | "first" | "release";

export interface DeployStepSpec {
    id: "backup" | "page-on" | "migrate" | "verify" | "first-backup" | "page-off";
    title: string;
    /** Deploys that run it: a first deploy has nothing to back up and no clients to hold off. */
    on: DeployKind[];
}

/** The checklist, in order; the README's Release section is generated from it. */
export const DEPLOY_STEPS: readonly DeployStepSpec[] = [
    {
        id: "page-on",
        title: "The theme check's browser image pulled (a failed pull stops the deploy here, before anything changed), then maintenance page on: clients get HTTP 503 with Retry-After from the front proxy; pages are suppressed (on a first deploy too: a host that is still starting is not an outage)",
        on: ["first", "release"],
    },
    {
        id: "backup",
        title: "Writers quiesced, then the backup: the ingestors and writers (the catalog's `quiesce`) stop, so the backup and the migrations see data nobody is changing; an on-demand run of the backup job, waited for; if it fails no container is changed",
        on: ["release"],
    },
    {
        id: "migrate",
        title: "Migrations: a one-shot container of the new API image runs to completion after the stores and before any app (not in a rollback: the older app reads the stores' newer schema, which promotion checked, and its migration is not run against it)",
        on: ["first", "release"],
    },
    { id: "verify", title: "Resume and verify: the quiesced writers start again, then every container must run, every /health answer, data flow (rows newer than a minute arriving in the writer's table, the catalog's `writes`) and the UI's theme hold in a browser (the catalog's `theme` markers, against the UI's container), from the host, after the last start stage", on: ["first", "release", "config"] },
    { id: "first-backup", title: "First backup: taken as soon as a new stack verifies, so backup age and staging's soak count from its first deploy, not from the first night", on: ["first"] },
    { id: "page-off", title: "Maintenance page off, pages back on; the verified release is recorded with its time (verifiedRelease)", on: ["first", "release"] },
];

export function deployStepsFor(kind: DeployKind): DeployStepSpec[] {
    return DEPLOY_STEPS.filter((s) => s.on.includes(kind));
}
