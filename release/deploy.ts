/**
 * The runbook's "Deployment Checklist" as resources that exist only in an update that changes the
 * release (the set of image references), in this order:
 *
 *   maintenance page on → writers quiesced, backup → (stores) → migrations → (apps, in catalog
 *   order) → writers resumed, verify → maintenance page off, and the verified release recorded.
 *
 * Whether the release changes is known before any resource is declared: the stack reads its own
 * last outputs (a StackReference to itself) and compares the images it verified with the
 * settings'. A change that is not a release (a threshold, say) declares none of these steps, and
 * the verified release is carried over. A change to the containers' configuration that is not a
 * release (say, an environment variable) only verifies: its containers are replaced, and every
 * /health is checked again afterwards.
 */
import * as pulumi from "@pulumi/pulumi";
import { spawnSync } from "child_process";
import { isDeepStrictEqual } from "util";
import { projectRoot } from "../components/project-root";
import { HostCommand } from "../components/host-command";
import { OneShotContainer, OneShotArgs } from "../components/one-shot-container";
import { ContainerServiceArgs } from "../components/container-service";
import { BACKUP_BIN } from "../topology/host/backups";
import { SERVICES_BIN } from "../topology/host/services-files";
import { MAINTENANCE_BIN } from "../topology/host/maintenance";
import { Settings } from "../model/settings";

/** What a deploy records (the `verifiedRelease` output), and what the next one compares with. */
export interface VerifiedRelease {
    /** App images: what promotion moves to prod. */
    release: Record<string, string>;
    /** Every image reference of the stack: what decides whether an update is a release (absent in outputs of older versions). */
    images?: Record<string, string>;
    /** Fingerprint of what shapes the containers (containerFingerprint): a change verifies again. */
    containers?: string;
    /** The stores' part of it (storeFingerprint): a change replaces a store, so the whole checklist runs. */
    stores?: string;
    /** When verification last passed on the host, ISO 8601 UTC. */
    verifiedAt: string | null;
    /** The commit of this repository the update ran (deployCommit): what promotion holds prod to. */
    commit?: string;
    /** The rollback this release was deployed as (settings deploy.rollbackId), if it was one. */
    rollbackId?: string;
    /** The stores' schema after this deploy, and the oldest app schema that reads it (settings deploy.schema). */
    schema?: SchemaContract;
    /** The backup the deploy took before it changed anything: the way back for the data. */
    preDeployBackup?: string;
    /** The releases this stack verified, newest first (this one included): what a rollback may go back to. */
    history?: ReleaseRecord[];
}

/** The schema contract of a release: see settings deploy.schema. */
export interface SchemaContract {
    version: number;
    oldestCompatible: number;
}

/** One verified release of a stack's history. */
export type ReleaseRecord = Omit<VerifiedRelease, "history" | "containers" | "stores" | "rollbackId">;

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

/** A deploy's backup: up to 30 minutes behind a scheduled one, then its own. */
const BACKUP_STEP_SECONDS = 5400;

/** The deploy's name as an owner of the maintenance page and signal (windows and restores own theirs). */
export const DEPLOY_OWNER = "deploy";

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
        title: "Maintenance page on: clients get HTTP 503 with Retry-After from the front proxy; pages are suppressed (on a first deploy too: a host that is still starting is not an outage)",
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
    { id: "verify", title: "Resume and verify: the quiesced writers start again, then every container must run and every /health answer, from the host, after the last start stage", on: ["first", "release", "config"] },
    { id: "first-backup", title: "First backup: taken as soon as a new stack verifies, so backup age and staging's soak count from its first deploy, not from the first night", on: ["first"] },
    { id: "page-off", title: "Maintenance page off, pages back on; the verified release is recorded with its time (verifiedRelease)", on: ["first", "release"] },
];

export function deployStepsFor(kind: DeployKind): DeployStepSpec[] {
    return DEPLOY_STEPS.filter((s) => s.on.includes(kind));
}

/** Every image reference by catalog name, sorted, so that order never counts as a change. */
export function imagesOf(names: readonly string[], images: Record<string, string>): Record<string, string> {
    return Object.fromEntries([...names].sort().map((n) => [n, images[n]]));
}

/** Whether this update deploys a rollback (a new deploy.rollbackId against the stack's last). */
export function isRollback(s: Pick<Settings, "deploy">, previous: VerifiedRelease | undefined): boolean {
    return s.deploy.rollbackId !== undefined && s.deploy.rollbackId !== previous?.rollbackId;
}

export function deployKind(previous: VerifiedRelease | undefined, images: Record<string, string>, containers: string, rollbackId?: string, commit?: string, stores?: string): DeployKind {
    if (!previous?.verifiedAt) return "first";
    // A rollback is a deploy like any other, also back to the very release prod last verified
    // (after a failed deploy of a newer one): its backup, page, verification, page off.
    if (rollbackId !== undefined && rollbackId !== previous.rollbackId) return "release";
    // Recorded before outputs carried every image (the app release only): cannot tell, so back up.
    if (!previous.images || !isDeepStrictEqual(previous.images, images)) return "release";
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

export interface DeployChecklistArgs {
    settings: Settings;
    kind: DeployKind;
    previous: VerifiedRelease | undefined;
    instanceId: pulumi.Input<string>;
    /** The host scripts must be installed first (their associations). */
    hostReady: pulumi.Resource[];
    /** The version of the host scripts this update installs: each step waits for it on the host. */
    hostFiles: { marker: string; digest: pulumi.Input<string> }[];
    /** Every image reference: a new set runs the steps again where they already exist. */
    images: Record<string, string>;
    /** containerFingerprint: a new one runs verification again where it already exists. */
    containers: string;
    /** storeFingerprint, recorded with the verified release. */
    stores: string;
    /** This attempt at the deploy (deployAttempt()): a retry runs every step again, the migrations too. */
    attempt: string;
    /** The commit the update runs (deployCommit()), recorded with the verified release. */
    commit: string;
}

/**
 * The steps around the containers. Usage: `before` and `migrate` go to the containers; `finish`
 * is called with them all once they exist.
 */
export class DeployChecklist extends pulumi.ComponentResource {
    /** Every container waits for these (backup, maintenance page). */
    readonly before: pulumi.Resource[] = [];
    /** What the paging alarms wait for: on a first deploy the page, so a host still starting pages nobody. */
    readonly pagesAfter: pulumi.Resource[] = [];
    private verify?: HostCommand;
    private pageOff?: HostCommand;
    private backup?: HostCommand;
    private readonly args: DeployChecklistArgs;
    private readonly name: string;
    private readonly runs: Set<DeployStepSpec["id"]>;

    constructor(name: string, args: DeployChecklistArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:deploy:DeployChecklist", name, {}, opts);
        this.args = args;
        this.name = name;
        this.runs = new Set(deployStepsFor(args.kind).map((s) => s.id));
        // A rollback puts an older app on the stores' newer schema, which promotion checked it can
        // read (checkRollback): the old release's migration is not run against it.
        if (isRollback(args.settings, args.previous)) this.runs.delete("migrate");
        if (args.kind === "first" || args.kind === "release") {
            // In the update's log from the start: a container that never turns healthy fails the
            // update in the Docker provider, before any step of ours could say this.
            pulumi.log.info(`Release deploy (${this.steps.join(", ")}). If it fails: ${this.ifItFails}`, this);
        }
        const minutes = args.settings.deploy.maintenanceMinutes;
        const pageOn = this.runs.has("page-on") ? this.step("page-on", `${MAINTENANCE_BIN} page on ${minutes} ${DEPLOY_OWNER}`, args.hostReady) : undefined;
        if (pageOn && args.kind === "first") this.pagesAfter.push(pageOn.run);
        // Behind a scheduled backup that is still running, wait for it rather than fail the deploy.
        // The writers stay stopped for the backup's whole budget and the page's time after it (the
        // watchdog starts them only then, never in the middle of a deploy that is still going); a
        // failed backup starts them again and lifts the page itself: it changed nothing.
        const quiesced = Math.ceil(BACKUP_STEP_SECONDS / 60) + minutes;
        this.backup = this.runs.has("backup")
            ? this.step(
                  "backup",
                  `${SERVICES_BIN} quiesce ${quiesced} && { ${BACKUP_BIN} run --wait 1800 || { ${SERVICES_BIN} resume; ${MAINTENANCE_BIN} page off ${DEPLOY_OWNER}; exit 1; }; }`,
                  pageOn ? [pageOn.run] : args.hostReady,
                  BACKUP_STEP_SECONDS,
              )
            : undefined;
        const gate = this.backup ?? pageOn;
        if (gate) this.before.push(gate.run);
        this.registerOutputs({ kind: args.kind });
    }

    private step(id: DeployStepSpec["id"], command: string, after: pulumi.Resource[], timeoutSeconds = 900): HostCommand {
        const { settings: s, instanceId } = this.args;
        // Only a release can be rolled back by promotion; a configuration change is reverted.
        const cause = this.ifItFails;
        // A step after the page went up leaves it up: say how long, and how to lift it now.
        const resume = pulumi.interpolate`./scripts/ssm-run.sh ${instanceId} ${s.region} ${SERVICES_BIN} resume`;
        const lift = pulumi.interpolate`./scripts/ssm-run.sh ${instanceId} ${s.region} ${MAINTENANCE_BIN} page off ${DEPLOY_OWNER}`;
        const retry = `\nA retry (pulumi up --stack ${s.stack}) runs every step again, the page and the migrations too.`;
        const writers = this.runs.has("backup") && id === "migrate"
            ? pulumi.interpolate`\nThe writers (ingestors, time-series writer) stay stopped until the watchdog starts them ${Math.ceil(BACKUP_STEP_SECONDS / 60) + s.deploy.maintenanceMinutes} minutes after they stopped, or start them now: ${resume}`
            : "";
        const page =
            id === "backup"
                ? // The failed backup changed no container: it started the writers and lifted the page itself.
                  pulumi.interpolate`\nThe failed backup started the writers again and lifted the maintenance page itself; should either have failed too: ${resume}; ${lift}${retry}`
                : this.runs.has("page-on") && id !== "page-on"
                  ? pulumi.interpolate`${writers}\nClients get the maintenance page until it lapses (${s.deploy.maintenanceMinutes} minutes after it went up), or lift it now: ${lift}${retry}`
                  : "";
        const onFailure = pulumi.interpolate`${cause}${page}`;
        return new HostCommand(
            `${this.name}-${id}`,
            { instanceId, region: s.region, command, triggers: [JSON.stringify(this.args.images), this.args.containers, this.args.attempt], requires: this.args.hostFiles, after, timeoutSeconds, onFailure },
            { parent: this },
        );
    }

    /** Migrations, for the containers: run after the stores, before any app; apps wait for the result. */
    readonly migrate = (stores: pulumi.Resource[], migration: ContainerServiceArgs): pulumi.Resource[] => {
        if (!this.runs.has("migrate")) return [];
        // Labelled with the attempt: a retry replaces the container, so the migrations run again.
        const oneShot: OneShotArgs = { ...migration, containerName: `${migration.containerName}-migrate`, waitFor: [...this.before, ...stores], labels: { "sofia.deploy-attempt": this.args.attempt } };
        const run = new OneShotContainer(`${this.name}-migrations`, oneShot, { parent: this });
        const check = this.step("migrate", `${SERVICES_BIN} migrated ${oneShot.containerName}`, [run.container]);
        return [check.run];
    };

    /** Verify and lift the page, after every container; the verified release as the stack records it. */
    finish(containers: pulumi.Resource[], release: Record<string, string>): pulumi.Output<VerifiedRelease | null> {
        const { images, containers: fingerprint } = this.args;
        if (!this.runs.has("verify")) return pulumi.output(this.args.previous ?? null);
        this.verify = this.step("verify", `${SERVICES_BIN} resume && ${SERVICES_BIN} verify`, [...containers, ...this.args.hostReady]);
        let done: pulumi.Output<string> = this.verify.run.stdout;
        const firstBackup = this.runs.has("first-backup") ? this.step("first-backup", `${BACKUP_BIN} run --wait 1800`, [this.verify.run], BACKUP_STEP_SECONDS) : undefined;
        if (this.runs.has("page-off")) {
            this.pageOff = this.step("page-off", `${MAINTENANCE_BIN} page off ${DEPLOY_OWNER}`, [firstBackup?.run ?? this.verify.run]);
            done = pulumi.all([this.verify.run.stdout, this.pageOff.run.stdout]).apply(([v]) => v);
        }
        const { settings: s, previous } = this.args;
        const rollbackId = s.deploy.rollbackId;
        // After a rollback the stores keep the schema they had: the old release's migration did not run.
        const schema = isRollback(s, previous) ? previous?.schema : s.deploy.schema;
        const backupOut = this.backup ? this.backup.run.stdout : pulumi.output("");
        return pulumi.all([done, backupOut]).apply(([out, backupLog]) => {
            const preDeployBackup = /backup (\S+) complete \(/.exec(backupLog ?? "")?.[1];
            const record: ReleaseRecord = {
                release,
                images,
                verifiedAt: /^verified-at (\S+)$/m.exec(out ?? "")?.[1] ?? null,
                commit: this.args.commit,
                ...(schema ? { schema } : {}),
                ...(preDeployBackup ? { preDeployBackup } : {}),
            };
            return { ...record, containers: fingerprint, stores: this.args.stores, ...(rollbackId ? { rollbackId } : {}), history: record.verifiedAt ? nextHistory(record, previous) : previous?.history };
        });
    }

    /**
     * The way back when a step fails: a release is rolled back by promotion; a change that kept the
     * images (a configuration change, a store's among them) is reverted.
     */
    private get ifItFails(): string {
        const { settings: s, previous, kind, images } = this.args;
        const sameImages = kind === "config" || (previous?.images !== undefined && isDeepStrictEqual(previous.images, images) && !isRollback(s, previous));
        return sameImages
            ? `The release did not change: revert the configuration change (git revert it in Pulumi.${s.stack}.yaml or the catalog) and run pulumi up --stack ${s.stack}.`
            : rollbackCommand(s.stack, previous);
    }

    /** The steps this update runs, in order (a rollback's without the migrations). */
    get steps(): DeployStepSpec["id"][] {
        return DEPLOY_STEPS.filter((s) => this.runs.has(s.id)).map((s) => s.id);
    }

    /** The last step that ran, for what must follow the deploy (tuning, a restore). */
    get last(): pulumi.Resource[] {
        return [this.pageOff?.run ?? this.verify?.run].filter((r): r is NonNullable<typeof r> => r !== undefined);
    }
}
