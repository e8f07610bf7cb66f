/**
 * The deployment checklist (model/deploy-steps.ts) on the host, as resources that exist only in an
 * update whose deploy kind runs them (release/deploy.ts deployKind), in this order:
 *
 *   maintenance page on → writers quiesced, backup → (stores) → migrations → (apps, in catalog
 *   order) → writers resumed, verify → maintenance page off, and the verified release recorded.
 *
 * It is declared after the containers, which it checks, in one constructor: what it holds back
 * (every container, the apps, the paging alarms) waits at gates it is given and opens, typed
 * promises of its steps' resources (components/gate.ts), so nothing creates resources under
 * another component or depends on methods being called in the right order.
 */
import * as pulumi from "@pulumi/pulumi";
import { isDeepStrictEqual } from "util";
import { LateGate } from "../../components/gate";
import { HostCommand } from "../../components/host-command";
import { OneShotContainer, OneShotArgs } from "../../components/one-shot-container";
import { ContainerServiceArgs } from "../../components/container-service";
import { DEPLOY_STEPS, DeployKind, DeployStepSpec, deployStepsFor } from "../../model/deploy-steps";
import { Settings } from "../../model/settings";
import { isRollback, nextHistory, rollbackCommand } from "../../release/deploy";
import { BACKUP_BIN, MAINTENANCE_BIN, SERVICES_BIN } from "./layout";
import { ReleaseRecord, VerifiedRelease } from "../../release/outputs";

/** A deploy's backup: up to 30 minutes behind a scheduled one, then its own. */
const BACKUP_STEP_SECONDS = 5400;

/** The deploy's name as an owner of the maintenance page and signal (windows and restores own theirs). */
export const DEPLOY_OWNER = "deploy";

/**
 * What the checklist holds back, declared before it (they are what it checks): it opens each once
 * its steps exist, empty when this deploy runs no such step.
 */
export interface DeployGates {
    /** Every container waits for it: the maintenance page and the backup. */
    containers: LateGate;
    /** The apps wait for it: the migrations' result. */
    apps: LateGate;
    /** The paging alarms wait for it: on a first deploy the page, so a host still starting pages nobody. */
    pages: LateGate;
}

export function deployGates(): DeployGates {
    return { containers: new LateGate("the containers, behind the deploy's page and backup"), apps: new LateGate("the apps, behind the migrations"), pages: new LateGate("the paging alarms, behind a first deploy's page") };
}

export interface DeployChecklistArgs {
    settings: Settings;
    /** What this deploy is (release/deploy.ts deployKind): which steps it runs. */
    deployKind: DeployKind;
    previous: VerifiedRelease | undefined;
    instanceId: pulumi.Input<string>;
    /** The host scripts must be installed first (their associations). */
    hostReady: pulumi.Resource[];
    /** The version of the host scripts this update installs: each step waits for it on the host. */
    hostFiles: { marker: string; digest: pulumi.Input<string> }[];
    /** Every image reference: a new set runs the steps again where they already exist. */
    images: Record<string, string>;
    /** The app images (release/deploy.ts releaseOf), recorded as the verified release. */
    release: Record<string, string>;
    /** containerFingerprint: a new one runs verification again where it already exists. */
    containers: string;
    /** storeFingerprint, recorded with the verified release. */
    stores: string;
    /** This attempt at the deploy (deployAttempt()): a retry runs every step again, the migrations too. */
    attempt: string;
    /** The commit the update runs (deployCommit()), recorded with the verified release. */
    commit: string;
    /** What it checks: the stores (the migrations wait for them) and every container (verification does). */
    declared: { stores: pulumi.Resource[]; all: pulumi.Resource[]; migration?: ContainerServiceArgs };
    /** What it holds back, opened here (deployGates()). */
    gates: DeployGates;
}

/** The steps around the containers, declared after them; the containers wait through the gates. */
export class DeployChecklist extends pulumi.ComponentResource {
    /** The release as the stack records it once verified (the verifiedRelease output). */
    readonly verifiedRelease: pulumi.Output<VerifiedRelease | null>;
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
        this.runs = new Set(deployStepsFor(args.deployKind).map((s) => s.id));
        // A rollback puts an older app on the stores' newer schema, which promotion checked it can
        // read (checkRollback): the old release's migration is not run against it.
        if (isRollback(args.settings, args.previous)) this.runs.delete("migrate");
        if (args.deployKind === "first" || args.deployKind === "release") {
            // In the update's log from the start: a container that never turns healthy fails the
            // update in the Docker provider, before any step of ours could say this.
            pulumi.log.info(`Release deploy (${this.steps.join(", ")}). If it fails: ${this.ifItFails}`, this);
        }
        const minutes = args.settings.deploy.maintenanceMinutes;
        const pageOn = this.runs.has("page-on") ? this.step("page-on", `${SERVICES_BIN} pull-browser && ${MAINTENANCE_BIN} page on ${minutes} ${DEPLOY_OWNER}`, args.hostReady) : undefined;
        args.gates.pages.open(pageOn && args.deployKind === "first" ? [pageOn.run] : []);
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
        const before = [(this.backup ?? pageOn)?.run].filter((r): r is NonNullable<typeof r> => r !== undefined);
        args.gates.containers.open(before);
        args.gates.apps.open(this.migrations(before));
        this.verifiedRelease = this.finish();
        this.registerOutputs({ kind: args.deployKind });
    }

    /** Migrations: run after the stores, before any app; the apps wait for the result. */
    private migrations(before: pulumi.Resource[]): pulumi.Resource[] {
        const { migration, stores } = this.args.declared;
        if (!this.runs.has("migrate") || !migration) return [];
        // Labelled with the attempt: a retry replaces the container, so the migrations run again.
        const oneShot: OneShotArgs = { ...migration, containerName: `${migration.containerName}-migrate`, waitFor: [...before, ...stores], labels: { "sofia.deploy-attempt": this.args.attempt } };
        const run = new OneShotContainer(`${this.name}-migrations`, oneShot, { parent: this });
        const check = this.step("migrate", `${SERVICES_BIN} migrated ${oneShot.containerName}`, [run.container]);
        return [check.run];
    }

    /** Verify and lift the page, after every container; the verified release as the stack records it. */
    private finish(): pulumi.Output<VerifiedRelease | null> {
        const { images, containers: fingerprint, release } = this.args;
        if (!this.runs.has("verify")) return pulumi.output(this.args.previous ?? null);
        this.verify = this.step("verify", `${SERVICES_BIN} resume && ${SERVICES_BIN} verify`, [...this.args.declared.all, ...this.args.hostReady]);
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

    /**
     * The way back when a step fails: a release is rolled back by promotion; a change that kept the
     * images (a configuration change, a store's among them) is reverted.
     */
    private get ifItFails(): string {
        const { settings: s, previous, deployKind, images } = this.args;
        const sameImages = deployKind === "config" || (previous?.images !== undefined && isDeepStrictEqual(previous.images, images) && !isRollback(s, previous));
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
