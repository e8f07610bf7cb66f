/**
 * The deployment checklist (topology/host/deploy-checklist.ts) in the real program under mocks: its steps exist
 * only when the release changes, in the checklist's order, and say how to roll back.
 */
import * as fs from "fs";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Plan, PlannedResource } from "../plan/offline";
import { lastDeployFromFile, stackSettings } from "../plan/stack-config";
import { releaseServiceNames, sofiaCatalog } from "../model/catalog";
import { DEPLOY_STEPS } from "../model/deploy-steps";
import { deployKind, rollbackCommand } from "../release/deploy";
import { promote } from "../release/promote";
import { ofType, planStack } from "./helpers/plan";
import { VerifiedRelease } from "../release/outputs";

const NEW_API = `ghcr.io/sofia-v2/api:2026.12.1@sha256:${"1".repeat(64)}`;
const NEW_REDIS = `redis:7.4.3@sha256:${"2".repeat(64)}`;
const catalog = sofiaCatalog("questdb");
/** Every part of the host files: each step waits for them all to be installed. */
const HOST_FILES = ["services", "backups", "monitoring", "maintenance", "certificate", "grafana", "diagnostics", "capacity"].map((p) => `sofia-host-files-${p}-association`);

const short = (urn: string) => urn.split("::").pop() as string;
const byName = (plan: Plan, name: string): PlannedResource | undefined => plan.resources.find((r) => r.name === name);
/** Every resource a deploy step declares (the checklist component itself is always there, empty). */
const deploySteps = (plan: Plan) => plan.resources.filter((r) => r.name.startsWith("sofia-deploy-"));
const after = (plan: Plan, name: string) => (byName(plan, name)?.dependsOn ?? []).map(short);
const env = (r: PlannedResource) => r.inputs.environment as Record<string, string>;

describe("a change that is not a release", () => {
    it("declares none of the steps: same release, a new alarm threshold, more log retention", async () => {
        for (const overrides of [[], ["alarms.apiP95Ms=200"], ["logRetentionDays=90"]]) {
            const plan = await planStack("staging", overrides);
            expect(deploySteps(plan), overrides.join(" ")).toEqual([]);
            expect(plan.outputs.deploy, overrides.join(" ")).toEqual({ kind: "none", steps: [], changes: [] });
            expect(plan.messages, overrides.join(" ")).toEqual([]);
        }
    });

    it("carries the verified release over from the last deploy", async () => {
        const plan = await planStack("staging", ["alarms.apiP95Ms=200"]);
        expect(plan.outputs.verifiedRelease).toEqual(lastDeployFromFile("staging").verifiedRelease);
    });
});

describe("a release deploy (a new API image)", () => {
    let plan: Plan;
    beforeAll(async () => {
        plan = await planStack("staging", [`images.api=${NEW_API}`]);
    });

    it("runs maintenance page, quiesce and backup, migrations, resume and verification, page off, in that order", () => {
        expect((plan.outputs.deploy as { steps: string[] }).steps).toEqual(["page-on", "backup", "migrate", "verify", "page-off"]);
        expect(after(plan, "sofia-deploy-page-on-run")).toEqual(HOST_FILES);
        expect(after(plan, "sofia-deploy-backup-run")).toEqual(["sofia-deploy-page-on-run"]);
        expect(after(plan, "sofia-deploy-migrations-container").sort()).toEqual(["sofia-deploy-backup-run", "sofia-services-questdb-container", "sofia-services-redis-container"]);
        expect(after(plan, "sofia-deploy-migrate-run")).toEqual(["sofia-deploy-migrations-container"]);
        const verify = after(plan, "sofia-deploy-verify-run");
        for (const e of catalog) expect(verify).toContain(`sofia-services-${e.name}-container`);
        expect(after(plan, "sofia-deploy-page-off-run")).toEqual(["sofia-deploy-verify-run"]);
        const commands = ["page-on", "backup", "migrate", "verify", "page-off"].map((s) => String(byName(plan, `sofia-deploy-${s}-run`)!.inputs.create).split(" eu-central-1 ")[1]);
        expect(commands).toEqual([
            "/usr/local/sbin/sofia-services pull-browser && /usr/local/sbin/sofia-maintenance page on 60 deploy",
            // Stopped for the backup's budget (90 minutes) and the page's time; a failed backup puts them back and lifts the page.
            "/usr/local/sbin/sofia-services quiesce 150 && { /usr/local/sbin/sofia-backup run --wait 1800 || { /usr/local/sbin/sofia-services resume; /usr/local/sbin/sofia-maintenance page off deploy; exit 1; }; }",
            "/usr/local/sbin/sofia-services migrated sofia-api-migrate",
            "/usr/local/sbin/sofia-services resume && /usr/local/sbin/sofia-services verify",
            "/usr/local/sbin/sofia-maintenance page off deploy",
        ]);
    });

    it("changes no container before the page and the backup (after the writers stopped): every container waits for them", () => {
        for (const e of catalog) expect(after(plan, `sofia-services-${e.name}-container`), e.name).toContain("sofia-deploy-backup-run");
    });

    it("migrates with the new API image after the stores, before any app; the apps wait for its exit code", () => {
        const migrations = byName(plan, "sofia-deploy-migrations-container")!;
        const image = ofType(plan, "docker:index/remoteImage:RemoteImage").find((i) => i.name === "sofia-deploy-migrations-image")!;
        expect(image.inputs.name).toBe(NEW_API);
        expect(migrations.inputs).toMatchObject({ name: "sofia-api-migrate", command: ["python", "-m", "src.db.migrate"], attach: true, restart: "no", mustRun: false });
        expect(migrations.inputs.ports).toBeUndefined();
        // It reaches the stores as the API does: same network, same connection env, password files.
        const envs = migrations.inputs.envs as string[];
        expect(envs).toContain("REDIS_PASSWORD_FILE=/run/secrets/redis-password");
        expect(migrations.inputs.uploads).toBe("[secret]");
        for (const e of catalog.filter((x) => x.kind === "app")) expect(after(plan, `sofia-services-${e.name}-container`), e.name).toContain("sofia-deploy-migrate-run");
        for (const e of catalog.filter((x) => x.kind !== "app")) expect(after(plan, `sofia-services-${e.name}-container`), e.name).not.toContain("sofia-deploy-migrate-run");
    });

    it("runs every step again for the next release, and each names itself and the exact rollback on failure", () => {
        const previous = lastDeployFromFile("staging").verifiedRelease as VerifiedRelease;
        for (const step of ["backup", "page-on", "migrate", "verify", "page-off"]) {
            const run = byName(plan, `sofia-deploy-${step}-run`)!;
            expect(JSON.parse((run.inputs.triggers as string[])[0]).api, step).toBe(NEW_API);
            expect(env(run).SSM_RUN_STEP, step).toBe(`sofia-deploy-${step}`);
            expect(env(run).SSM_RUN_ON_FAILURE.startsWith(rollbackCommand("staging", previous)), step).toBe(true);
        }
        // Up to 30 minutes behind a running scheduled backup, then the backup itself.
        expect(env(byName(plan, "sofia-deploy-backup-run")!).SSM_RUN_TIMEOUT).toBe("5400");
        // Also in the update's log from its start: a container that never turns healthy fails
        // the update inside the Docker provider, where no step of ours speaks.
        expect(plan.messages).toEqual([`info: Release deploy (page-on, backup, migrate, verify, page-off). If it fails: ${rollbackCommand("staging", previous)}`]);
        // A step after the writers stopped says how to start them; every step after the page, how to lift it.
        expect(env(byName(plan, "sofia-deploy-migrate-run")!).SSM_RUN_ON_FAILURE).toMatch(/The writers \(ingestors, time-series writer\) stay stopped until the watchdog starts them 150 minutes after they stopped, or start them now: \.\/scripts\/ssm-run\.sh \S+ eu-central-1 \/usr\/local\/sbin\/sofia-services resume\nClients get the maintenance page/);
        expect(env(byName(plan, "sofia-deploy-verify-run")!).SSM_RUN_ON_FAILURE).not.toContain("The writers");
    });

    it("records the new release as verified, after the page is off", () => {
        const v = plan.outputs.verifiedRelease as VerifiedRelease;
        expect(v.release.api).toBe(NEW_API);
        expect(v.images!.api).toBe(NEW_API);
        expect(v.images!.redis).toBe(catalog.find((e) => e.name === "redis")!.defaultImage);
        // The mocks run no command: the host's verified-at line is what fills this in.
        expect(v.verifiedAt).toBeNull();
    });
});

describe("which updates are releases", () => {
    it("a store's image is part of the release too: a new Redis is backed up first", async () => {
        const plan = await planStack("staging", [`images.redis=${NEW_REDIS}`]);
        expect((plan.outputs.deploy as { steps: string[]; changes: string[] }).steps).toEqual(DEPLOY_STEPS.filter((s) => s.on.includes("release")).map((s) => s.id));
        expect((plan.outputs.deploy as { changes: string[] }).changes).toEqual([`redis: ${catalog.find((e) => e.name === "redis")!.defaultImage} -> ${NEW_REDIS}`]);
    });

    it("a first deploy is quiet and ready to promote: page on, migrate, verify, its first backup, page off; nothing pages before the page is up", async () => {
        const plan = await planStack("staging", [], [], {});
        expect((plan.outputs.deploy as { steps: string[] }).steps).toEqual(["page-on", "migrate", "verify", "first-backup", "page-off"]);
        // Nothing to back up before it; the page goes up as soon as the host scripts are there.
        expect(byName(plan, "sofia-deploy-backup-run")).toBeUndefined();
        expect(after(plan, "sofia-deploy-page-on-run")).toEqual(HOST_FILES);
        // The first backup after verification: backup age and the soak count from this deploy.
        expect(after(plan, "sofia-deploy-first-backup-run")).toEqual(["sofia-deploy-verify-run"]);
        expect(String(byName(plan, "sofia-deploy-first-backup-run")!.inputs.create)).toMatch(/ \/usr\/local\/sbin\/sofia-backup run --wait 1800$/);
        expect(after(plan, "sofia-deploy-page-off-run")).toEqual(["sofia-deploy-first-backup-run"]);
        // Every paging alarm is created only once the signal is up: a host still starting pages nobody.
        const composites = ofType(plan, "aws:cloudwatch/compositeAlarm:CompositeAlarm");
        expect(composites.length).toBeGreaterThan(10);
        for (const c of composites) expect(after(plan, c.name), c.name).toContain("sofia-deploy-page-on-run");
        expect(env(byName(plan, "sofia-deploy-verify-run")!).SSM_RUN_ON_FAILURE).toMatch(/none possible, this is the first release of stack staging/);
    });

    it("a later release does not hold the paging alarms back", async () => {
        const plan = await planStack("staging", [`images.api=${NEW_API}`]);
        for (const c of ofType(plan, "aws:cloudwatch/compositeAlarm:CompositeAlarm")) expect(after(plan, c.name), c.name).not.toContain("sofia-deploy-page-on-run");
    });

    it("a last deploy that never verified counts as none: the next update runs the whole first-deploy checklist", () => {
        const images = { api: NEW_API };
        const at = "2026-11-30T10:00:00Z";
        expect(deployKind({ release: images, images, containers: "c1", verifiedAt: null }, images, "c1")).toBe("first");
        expect(deployKind({ release: images, images, containers: "c1", verifiedAt: at }, images, "c1")).toBe("none");
        expect(deployKind({ release: images, images, containers: "c1", verifiedAt: at }, { api: "x" }, "c1")).toBe("release");
        expect(deployKind({ release: images, images, containers: "c1", verifiedAt: at }, images, "c2")).toBe("config");
        // A tool's image, new or changed, changes its container only: verified, no page or backup.
        const withTool = { ...images, grafana: "grafana/grafana:11.6.0" };
        expect(deployKind({ release: images, images, containers: "c1", verifiedAt: at }, withTool, "c2", undefined, undefined, undefined, ["grafana"])).toBe("config");
        expect(deployKind({ release: images, images: withTool, containers: "c1", verifiedAt: at }, { ...withTool, grafana: "grafana/grafana:12" }, "c2", undefined, undefined, undefined, ["grafana"])).toBe("config");
        expect(deployKind({ release: images, images, containers: "c1", verifiedAt: at }, withTool, "c2")).toBe("release");
        // A stack last deployed by a version that recorded only the app release: backed up first.
        expect(deployKind({ release: images, verifiedAt: at }, images, "c1")).toBe("release");
    });

    it("a change to the containers that is not a release only verifies, after the replaced containers", async () => {
        for (const overrides of [["serviceEnv={api: {WORKERS: '8'}}"], ["equityPrimary=yahoo"]]) {
            const plan = await planStack("staging", overrides);
            const what = overrides.join(" ");
            expect(plan.outputs.deploy, what).toEqual({ kind: "config", steps: ["verify"], changes: [] });
            expect(deploySteps(plan).map((r) => r.name).sort(), what).toEqual(["sofia-deploy-verify", "sofia-deploy-verify-run"]);
            const verify = after(plan, "sofia-deploy-verify-run");
            for (const e of catalog) expect(verify, what).toContain(`sofia-services-${e.name}-container`);
            // The release stays; what was verified now includes the new container configuration.
            const v = plan.outputs.verifiedRelease as VerifiedRelease;
            expect(v.release, what).toEqual((lastDeployFromFile("staging").verifiedRelease as VerifiedRelease).release);
            expect(v.containers, what).not.toBe((lastDeployFromFile("staging").verifiedRelease as VerifiedRelease).containers);
            expect(plan.messages, what).toEqual([]);
            expect(env(byName(plan, "sofia-deploy-verify-run")!).SSM_RUN_ON_FAILURE, what).toMatch(/^The release did not change: revert the configuration change/);
        }
    });

    it("a change that replaces a store runs the whole checklist, backup and page first: a store restarting is an outage of everything on it", async () => {
        for (const overrides of [["redis.maxmemoryMb=1024"], ["questdb.retentionDays=31", "redis.maxmemoryPolicy=allkeys-lru"]]) {
            const plan = await planStack("staging", overrides);
            const what = overrides.join(" ");
            expect(plan.outputs.deploy, what).toEqual({ kind: "release", steps: ["page-on", "backup", "migrate", "verify", "page-off"], changes: [] });
            // Nothing to roll back by promotion: the images did not change; the way back is a revert.
            expect(env(byName(plan, "sofia-deploy-backup-run")!).SSM_RUN_ON_FAILURE, what).toMatch(/^The release did not change: revert the configuration change/);
            expect(plan.messages[0], what).toMatch(/^info: Release deploy \(page-on, backup, migrate, verify, page-off\)\. If it fails: The release did not change/);
        }
        // Outputs that record the stores' fingerprint: an app's change alone stays a verification.
        const last = lastDeployFromFile("staging").verifiedRelease as VerifiedRelease;
        expect(deployKind({ ...last, stores: "a" }, last.images!, "other", undefined, last.commit, "a")).toBe("config");
        expect(deployKind({ ...last, stores: "a" }, last.images!, "other", undefined, last.commit, "b")).toBe("release");
        // Older outputs cannot tell: the whole checklist, to be safe.
        expect(deployKind({ ...last, stores: undefined }, last.images!, "other", undefined, last.commit, "b")).toBe("release");
    });
});

describe("the rollback command", () => {
    it("promotes the previous verified release back into the stack file, and only that", () => {
        const file = fs.readFileSync(path.join(__dirname, "..", "Pulumi.staging.yaml"), "utf8");
        const previous = lastDeployFromFile("staging").verifiedRelease as VerifiedRelease;
        const command = rollbackCommand("staging", previous);
        expect(command).toContain("npm run promote -- --rollback --prod-file Pulumi.staging.yaml --prod-outputs <(pulumi stack output --stack staging --json) --from-file <(echo '");
        expect(command).toContain("pulumi up --stack staging");
        // The outputs the command feeds to promotion, against a stack file that moved on to a new API.
        const outputs = JSON.parse(/echo '(.*?)'\)/.exec(command)![1]);
        const moved = file.replace(previous.release.api, NEW_API);
        // As the command runs it: the catalog's defaults stand for images the file does not set.
        const defaults = Object.fromEntries(sofiaCatalog(stackSettings("staging").timeseriesStore).flatMap((e) => (e.defaultImage ? [[e.name, e.defaultImage]] : [])));
        const result = promote(moved, outputs, releaseServiceNames, defaults);
        expect(result.changes).toEqual([{ service: "api", from: NEW_API, to: previous.release.api }]);
        expect(result.text).toBe(file);
    });
});
