/**
 * What a deploy is, decided before any resource is declared: the stack reads its own last outputs
 * (a StackReference to itself) and compares the release it verified with the settings'. A change
 * that is not a release (a threshold, say) runs no checklist and carries the verified release
 * over; a change to the containers' configuration only verifies; a new set of images, a store
 * replaced or a rollback runs the whole checklist (model/deploy-steps.ts). Also: the record of a
 * verified release with its history, and the way back when a deploy fails.
 */
import * as pulumi from "@pulumi/pulumi";
import { spawnSync } from "child_process";
import { isDeepStrictEqual } from "util";
import { projectRoot } from "../components/project-root";
import { CatalogEntry } from "../model/catalog";
import { DeployKind } from "../model/deploy-steps";
import { ReleaseRecord, VerifiedRelease } from "./outputs";
import { Settings } from "../model/settings";

/** How many verified releases a stack remembers. */
export const HISTORY_LENGTH = 20;

/** The history after `current` verified: it first, then what the stack verified before (older outputs: their last release). */
export function nextHistory(current: ReleaseRecord, previous: VerifiedRelease | undefined): ReleaseRecord[] {
    const { history, containers: _c, stores: _s, rollbackId: _r, ...last } = previous ?? ({} as VerifiedRelease);
    const before = history ?? (previous?.verifiedAt ? [last as ReleaseRecord] : []);
    return [current, ...before].slice(0, HISTORY_LENGTH);
}

/**
 * Names one attempt at a deploy. A step's resource exists from the attempt that created it, so a
 * retry after a failure would otherwise run again only the step that failed: not the page that has
 * lapsed since, nor the migrations whose container ran and failed. The workflows set it to the run
 * and its attempt (a preview and its update share it); elsewhere every program run is an attempt.
 */
export const DEPLOY_ATTEMPT_ENV = "SOFIA_DEPLOY_ATTEMPT";
export function deployAttempt(): string {
    return process.env[DEPLOY_ATTEMPT_ENV] || new Date().toISOString();
}

/**
 * The commit of this repository an update runs: the workflows set SOFIA_COMMIT; elsewhere git is
 * asked, with "+dirty" when the working tree has changes (a deploy of code no commit holds).
 */
export const DEPLOY_COMMIT_ENV = "SOFIA_COMMIT";
export function deployCommit(): string {
    if (process.env[DEPLOY_COMMIT_ENV]) return process.env[DEPLOY_COMMIT_ENV]!;
    const git = (args: string[]) => spawnSync("git", args, { cwd: projectRoot(), encoding: "utf8" });
    const head = git(["rev-parse", "HEAD"]);
    if (head.status !== 0) return "unknown";
    return `${head.stdout.trim()}${git(["status", "--porcelain"]).stdout.trim() ? "+dirty" : ""}`;
}
/** The release: the image of every app, by catalog name (what promotion moves to prod). */
export function releaseOf(catalog: readonly CatalogEntry[], images: Settings["images"]): Record<string, string> {
    return Object.fromEntries(catalog.filter((e) => e.kind === "app").map((e) => [e.name, images[e.name]]));
}

/** Every image reference by catalog name, sorted, so that order never counts as a change. */
export function imagesOf(names: readonly string[], images: Record<string, string>): Record<string, string> {
    return Object.fromEntries([...names].sort().map((n) => [n, images[n]]));
}

/** Whether this update deploys a rollback (a new deploy.rollbackId against the stack's last). */
export function isRollback(s: Pick<Settings, "deploy">, previous: VerifiedRelease | undefined): boolean {
    return s.deploy.rollbackId !== undefined && s.deploy.rollbackId !== previous?.rollbackId;
}

export function deployKind(previous: VerifiedRelease | undefined, images: Record<string, string>, containers: string, rollbackId?: string, commit?: string, stores?: string, tools: readonly string[] = []): DeployKind {
    if (!previous?.verifiedAt) return "first";
    // A tool (Grafana) is no part of the release and holds no data: a new or changed tool image is a
    // container change like any other (verify), not a reason to page clients off and back up.
    const withoutTools = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).filter(([n]) => !tools.includes(n)));
    // A rollback is a deploy like any other, also back to the very release prod last verified
    // (after a failed deploy of a newer one): its backup, page, verification, page off.
    if (rollbackId !== undefined && rollbackId !== previous.rollbackId) return "release";
    // Recorded before outputs carried every image (the app release only): cannot tell, so back up.
    if (!previous.images || !isDeepStrictEqual(withoutTools(previous.images), withoutTools(images))) return "release";
    // A store replaced is an outage of everything on it: backup and page first (also when outputs
    // of an older version cannot tell whether the stores changed).
    if (previous.containers !== containers) return stores !== undefined && previous.stores !== stores ? "release" : "config";
    // New code (host scripts, alarms, the program itself) is verified and recorded too: what
    // promotion holds prod to is the commit the stack last verified, never an older one.
    return commit !== undefined && previous.commit !== commit ? "config" : "none";
}

/** Image references that differ, as "name: old -> new" (for the plan and the update's log). */
export function releaseChanges(previous: VerifiedRelease | undefined, images: Record<string, string>): string[] {
    return Object.keys(images)
        .filter((n) => previous?.images?.[n] !== images[n])
        .map((n) => `${n}: ${previous?.images?.[n] ?? "(none)"} -> ${images[n]}`);
}

/**
 * The exact command that puts the previous verified release back: promotion of it into this
 * stack's file (the same path as prod's promotions), then an update.
 */
export function rollbackCommand(stack: string, previous: VerifiedRelease | undefined): string {
    if (!previous?.verifiedAt) return `Roll back: none possible, this is the first release of stack ${stack}; fix the cause and run pulumi up --stack ${stack} again.`;
    // Sorted: the same release always gives the same command, whatever order it was read in.
    const sorted = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).sort(([a], [b]) => a.localeCompare(b)));
    // Every image, stores and proxy too: a failed release may have changed them as well.
    const outputs = JSON.stringify({ verifiedRelease: { release: sorted(previous.release), ...(previous.images ? { images: sorted(previous.images) } : {}), verifiedAt: previous.verifiedAt, ...(previous.commit ? { commit: previous.commit } : {}) } });
    return [
        `Roll back to the release verified at ${previous.verifiedAt}:`,
        `  npm run promote -- --rollback --prod-file Pulumi.${stack}.yaml --prod-outputs <(pulumi stack output --stack ${stack} --json) --from-file <(echo '${outputs}') && git commit -m "Roll back ${stack} to the release verified at ${previous.verifiedAt}" Pulumi.${stack}.yaml && pulumi up --stack ${stack}`,
    ].join("\n");
}

/** This stack's own outputs from its last update, as a reference to itself (empty before the first). */
export function lastDeploy(parent?: pulumi.Resource): pulumi.StackReference {
    return new pulumi.StackReference("sofia-last-deploy", { name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}` }, { parent });
}

/** The release this stack last verified, if any (a first deploy has none). */
export async function previouslyVerified(self: pulumi.StackReference): Promise<VerifiedRelease | undefined> {
    const details = await self.getOutputDetails("verifiedRelease");
    const v = (details.value ?? details.secretValue) as VerifiedRelease | undefined;
    return v && typeof v === "object" && v.release ? v : undefined;
}
