/**
 * SofiaEcsPlatform: Sofia with its apps on ECS Fargate behind a load balancer, Redis as
 * ElastiCache, and the time-series store on a host of its own, built from the host topology's
 * parts. QuestDB is single-node by nature (one writer process owns its tables), so its host stays
 * one EC2 instance with its data volume, backups, restore and DR test as in the host topology.
 *
 * The backup bucket, the store host and its containers keep the host topology's names, so a stack
 * that moves from `topology: host` to `ecs` keeps its bucket, its host and QuestDB's data volume:
 * moving is a setting: the store host carries the host's Redis into ElastiCache (host/sofia-cache.sh).
 */
import { createHash } from "crypto";
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { BackupBucket } from "../../components/backup-bucket";
import { Host } from "../../components/host";
import { HostCommand, KEEP_LAST_OUTPUT } from "../../components/host-command";
import { HostFiles } from "../../components/host-files";
import { MaintenanceWindows } from "../../components/maintenance-window";
import { CatalogEntry, sofiaCatalog, toolNames } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { deployAttempt, deployCommit, deployKind, imagesOf, nextHistory, releaseChanges, releaseOf } from "../../release/deploy";
import { DeclaredOutputs, ReleaseRecord, VerifiedRelease } from "../../release/outputs";
import { alarmPrefix } from "../host/alarms";
import { BACKUP_BUCKET_PREFIX, backupHostFiles, backupRetention, restoreStep, SofiaBackups } from "../host/backups";
import { SofiaContainers } from "../host/containers";
import { syntheticChecks } from "../host/synthetics";
import { SyntheticChecks } from "../../components/synthetic-checks";
import { hostArgs } from "../host/platform";
import { containerName } from "../host/store-config";
import { startStages } from "../../model/start-order";
import { DeployKind, DeployStepSpec } from "../../model/deploy-steps";
import { APP_FILES_BIN, BACKUP_BIN, CACHE_BIN, DATA_PATH, HOST_FILES_MARKERS, HOST_NAMING, MAINTENANCE_BIN, SERVICES_BIN } from "../host/layout";
import { DEPLOY_OWNER } from "../host/deploy-checklist";
import { maintenanceHostFiles, maintenancePlan } from "../host/maintenance";
import { monitoringHostFiles } from "../host/monitoring";
import { EcsMonitoring } from "./monitoring";
import { allOf, LateGate } from "../../components/gate";
import { placementOf } from "../host/placement";
import { sofiaHostFiles, tuningTable } from "../host/services-files";
import { EcsSignals, ecsAlarms } from "./alarms";
import { AlarmSpec } from "../../components/escalation";
import { NOT_YET, sofiaDashboard } from "../host/dashboards";
import { GRAFANA_ADMIN, grafanaHostFiles, grafanaReaderRole } from "../host/grafana";
import { CACHE_PORT, cacheHostFiles, cacheTokenPolicy, SofiaCache } from "./cache";
import { SofiaEdge, clientListeners, edgeHostFiles, edgePagePolicy } from "./edge";
import { appFilesHostFiles, appVolumes, SharedFiles, sharedFileItems } from "./files";
import { allowFrom, allowOut, EcsNetwork, securityGroup } from "./network";
import { clusterName, SofiaEcsServices } from "./services";
import { ecsApps, ecsFingerprint } from "./tasks";
import { loggedOnEcs, storeHostCatalog } from "./split";
import { grafanaUrl } from "./operators";
import { ecsThemeTable, taskReadPolicy, themedApps } from "./theme";
import { talksTo } from "../host/networks";

/** The deployment checklist's steps on ECS, by kind (the model's ids; "verify" is the rollout check and the data flow). */
export function ecsDeploySteps(kind: DeployKind): DeployStepSpec["id"][] {
    return kind === "release" ? ["backup", "migrate", "verify"] : kind === "first" ? ["migrate", "verify"] : kind === "config" ? ["verify"] : [];
}

/** The maintenance owner of an ECS restore's page, from before the restore to after the cache's seed (sofia-restore's own is "restore"). */
export const ECS_RESTORE_OWNER = "restore-ecs";

/** What the host topology ran that the store host does not, as `<container>:<grace>` in reverse start order (the apps first, Redis last). */
export function retiredFromHost(catalog: readonly CatalogEntry[]): string[] {
    const kept = new Set(storeHostCatalog(catalog).map((e) => e.name));
    const byName = new Map(catalog.map((e) => [e.name, e]));
    return startStages(catalog)
        .flat()
        .reverse()
        .filter((n) => !kept.has(n))
        .map((n) => `${containerName({ name: n })}:${byName.get(n)!.stopGraceSeconds}`);
}

export interface SofiaEcsPlatformArgs {
    settings: Settings;
    previous: VerifiedRelease | undefined;
    network: EcsNetwork;
}

export class SofiaEcsPlatform extends pulumi.ComponentResource {
    readonly outputs: DeclaredOutputs;

    constructor(name: string, args: SofiaEcsPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        // The host topology's type and name: the bucket and the store host keep their URNs across the move.
        super("sofia:platform:SofiaPlatform", name, {}, opts);
        const s = args.settings;
        const { vpcId, subnetIds } = args.network;
        const catalog = sofiaCatalog(s.timeseriesStore);
        // The scripts name the cluster before it exists (services.ts gives it this name).
        const cluster = clusterName(s.stack);
        const onHost = storeHostCatalog(catalog);
        const stores = onHost.filter((e) => e.kind === "store");
        const tags = { Project: s.project, Stack: s.stack, ManagedBy: "pulumi" };

        const backupBucket = new BackupBucket(
            `${name}-backups`,
            {
                bucketPrefix: BACKUP_BUCKET_PREFIX,
                retention: backupRetention(s),
                lockDays: s.backup.retentionDays,
                kmsKeyArn: s.backup.kmsKeyArn,
                objectLock: s.backup.objectLock,
                objectLockMode: s.backup.objectLockMode,
                tags,
            },
            { parent: this },
        );

        // A security group per app: what it may reach is what the catalog says it talks to (as the host's Docker networks), no more.
        const appSgs = Object.fromEntries(
            ecsApps(catalog).map((e) => {
                const sg = securityGroup(`${name}-${e.name}-sg`, vpcId, `Sofia ECS ${e.name}: in from what talks to it only`, tags, this);
                allowOut(`${name}-${e.name}-out`, sg, tags);
                return [e.name, sg];
            }),
        );
        const talkers = (store: string) => ecsApps(catalog).filter((e) => talksTo(catalog, e).includes(store));
        const host = new Host(
            `${name}-host`,
            // The host topology's own arguments: the move keeps the instance and its data volume. No
            // client port here (the load balancer has them), and no fixed address (nothing points at it).
            { ...hostArgs(s, backupBucket), clientPorts: [], clientCidrs: [], staticAddress: false },
            { parent: this },
        );
        // The tasks reach the store on its ports, by security group; nothing else does.
        for (const store of stores) {
            for (const app of talkers(store.name)) {
                for (const port of store.ports) allowFrom(`${name}-store-${store.name}-${port.port}-${app.name}`, host.securityGroup, appSgs[app.name], port.port, `Sofia ${store.name} (${port.name}) for ${app.name}`, tags);
            }
        }
        // Redis: ElastiCache, reached by its apps and by the store host, which carries data into it (sofia-cache).
        const cacheSg = securityGroup(`${name}-cache-sg`, vpcId, "Sofia ElastiCache: Redis from its apps and the store host only", tags, this);
        for (const app of talkers("redis")) allowFrom(`${name}-cache-in-${app.name}`, cacheSg, appSgs[app.name], CACHE_PORT, `Redis for ${app.name}`, tags);
        allowFrom(`${name}-cache-in-store-host`, cacheSg, host.securityGroup, CACHE_PORT, "Redis for the store host (a move or a restore copies into it)", tags);
        const monitoring = new EcsMonitoring(`${name}-monitoring`, { settings: s, catalog: loggedOnEcs(catalog), tags }, { parent: this });
        // ElastiCache's engine log into Redis' log group: its error-line alarm has a publisher, as on the host.
        const cache = new SofiaCache(`${name}-cache`, { settings: s, subnetIds, securityGroupId: cacheSg.id, engineLogGroup: monitoring.logGroups.redis, tags }, { parent: this });
        new aws.iam.RolePolicy(`${name}-cache-token`, { role: host.role.id, policy: cacheTokenPolicy(cache.tokenSecretArn) }, { parent: host.role });
        const hostRedisPort = catalog.find((e) => e.name === "redis")?.ports[0]?.port ?? CACHE_PORT;

        const edge = new SofiaEdge(`${name}-edge`, { settings: s, catalog, vpcId, subnetIds, storeHostId: host.instance.id, tags }, { parent: this });
        // The operators' tools on the store host, through the load balancer (staffCidrs only).
        for (const { entry, port } of edge.staffPorts) allowFrom(`${name}-store-${entry.name}-${port}-edge`, host.securityGroup, edge.securityGroup, port, `Sofia ${entry.name} for the operators, through the load balancer`, tags);
        // What AWS's alarms watch: the cluster (by its name: it exists only once the services do), the load balancer, the cache.
        const signals = (storeInstanceId: pulumi.Input<string>): EcsSignals => ({
            clusterName: cluster,
            loadBalancer: edge.loadBalancer.arnSuffix,
            targetGroups: Object.fromEntries(Object.entries(edge.targetGroups).map(([k, g]) => [k, g.arnSuffix])),
            cacheNodes: cache.nodeIds,
            storeInstanceId,
        });
        // Grafana on the store host, as on the host: its dashboard drawn from this topology's alarm table.
        const grafana = onHost.find((e) => e.name === "grafana");
        const grafanaReader = grafana ? grafanaReaderRole(name, host.role, tags, this) : undefined;
        const grafanaDashboard = pulumi.output(ecsAlarms(catalog, s, signals(NOT_YET))).apply((alarms) => JSON.stringify(sofiaDashboard(catalog, s, alarms as AlarmSpec[])));
        // The maintenance page is the load balancer's (sofia-maintenance on the store host puts it up).
        new aws.iam.RolePolicy(`${name}-edge-page`, { role: host.role.id, policy: edgePagePolicy(edge.loadBalancer.arn) }, { parent: host.role });
        // The apps' volumes: on EFS, mounted by the store host too (its backups take them; a move carries them in).
        const volumes = appVolumes(catalog);
        const files = volumes.length
            ? new SharedFiles(`${name}-files`, { volumes, vpcId, subnetIds: args.network.perZone, clients: [...ecsApps(catalog).filter((e) => e.volumes?.length).map((e) => appSgs[e.name]), host.securityGroup], tags }, { parent: this })
            : undefined;
        const hostFiles = new HostFiles(
            `${name}-host-files`,
            {
                instanceId: host.instance.id,
                parts: [
                    // The data flow and the theme of the whole stack, checked from here (the tasks write into this host's store).
                    sofiaHostFiles(onHost, s, DATA_PATH, catalog, ecsThemeTable(catalog, s)),
                    // Redis is ElastiCache's: the store host's backups take a live copy of it (the "cache" item, on
                    // the Redis-only schedule too), and the apps' files from their file system.
                    backupHostFiles(onHost, s, backupBucket.bucket.bucket, DATA_PATH, { shared: files ? sharedFileItems(catalog) : [], cache: true }),
                    monitoringHostFiles(onHost, s.stack, DATA_PATH),
                    maintenanceHostFiles(),
                    cacheHostFiles(s, cache.group.primaryEndpointAddress, cache.group.readerEndpointAddress, cache.tokenSecretArn, hostRedisPort),
                    ...(files ? [appFilesHostFiles(catalog, files.fileSystem.id, DATA_PATH)] : []),
                    edgeHostFiles(s, edge.listeners.map((l) => l.arn)),
                    ...(grafanaReader ? [grafanaHostFiles(catalog, s, grafanaReader.arn, grafanaDashboard)] : []),
                ],
                markerDir: HOST_FILES_MARKERS,
                after: [host.ready.run],
                tags,
            },
            { parent: this },
        );
        const logGroups = monitoring.logGroups;
        const storeContainers = new SofiaContainers(
            `${name}-services`,
            {
                catalog: onHost,
                settings: s,
                provider: host.dockerProvider,
                logGroups,
                hostPrivateIp: host.instance.privateIp,
                storesOnPrivateIp: true,
                staffOnPrivateIp: edge.staffPorts.length > 0,
                gates: { beforeContainers: [], beforeApps: [] },
            },
            { parent: this },
        );

        // The stores' passwords for the tasks, in Secrets Manager.
        const passwordSecrets: Record<string, pulumi.Input<string>> = { redis: cache.tokenSecretArn };
        for (const store of stores) {
            const secret = new aws.secretsmanager.Secret(`${name}-${store.name}-secret`, { namePrefix: `sofia-${s.stack}-${store.name}-`, description: `Sofia's ${store.name} password (the tasks' ${store.connectionEnv}_PASSWORD)`, recoveryWindowInDays: 7, tags }, { parent: this });
            new aws.secretsmanager.SecretVersion(`${name}-${store.name}-secret-value`, { secretId: secret.id, secretString: storeContainers.passwords[store.name] }, { parent: secret });
            passwordSecrets[store.name] = secret.arn;
        }
        let registryCredentials: pulumi.Output<string> | undefined;
        if (s.registry.address && s.registry.username) {
            const secret = new aws.secretsmanager.Secret(`${name}-registry`, { namePrefix: `sofia-${s.stack}-registry-`, description: `Pull credentials for ${s.registry.address}`, recoveryWindowInDays: 7, tags }, { parent: this });
            // The token: the registryPassword secret, or DOCKER_REGISTRY_PASS where pulumi runs (as the host topology's Docker provider reads it).
            const password = s.secrets.registryPassword ?? pulumi.secret(process.env.DOCKER_REGISTRY_PASS ?? "");
            // Checked on every update, where it runs (the offline plan runs no command): an empty token
            // would let the update pass and every later task launch fail (CannotPullContainerError).
            const check = s.secrets.registryPassword
                ? undefined
                : new command.local.Command(
                      `${name}-registry-check`,
                      {
                          create: `test -n "\${DOCKER_REGISTRY_PASS:-}" || { echo "topology ecs pulls the release from ${s.registry.address} with a secret: set sofia:registryPassword (pulumi config set --secret registryPassword ...) or DOCKER_REGISTRY_PASS where pulumi runs" >&2; exit 1; }`,
                          triggers: [deployAttempt()],
                      },
                      { parent: this, replaceOnChanges: ["triggers"] },
                  );
            new aws.secretsmanager.SecretVersion(`${name}-registry-value`, { secretId: secret.id, secretString: pulumi.secret(pulumi.all([password]).apply(([p]) => JSON.stringify({ username: s.registry.username, password: p }))) }, { parent: secret, dependsOn: check ? [check] : [] });
            registryCredentials = secret.arn;
        }

        for (const { entry, port } of clientListeners(catalog)) {
            allowFrom(`${name}-tasks-in-${entry.name}`, appSgs[entry.name], edge.securityGroup, port, `Sofia ${entry.name} from the load balancer`, tags);
            // A deploy's theme check: the store host's browser, straight at each task (theme.ts).
            if (themedApps(catalog).includes(entry)) allowFrom(`${name}-tasks-in-${entry.name}-theme`, appSgs[entry.name], host.securityGroup, port, `Sofia ${entry.name} for the store host's theme check`, tags);
            // An app that calls another (the UI the API) reaches it on its port, by Service Connect (services.ts).
            for (const caller of talkers(entry.name)) allowFrom(`${name}-${entry.name}-in-${caller.name}`, appSgs[entry.name], appSgs[caller.name], port, `Sofia ${entry.name} for ${caller.name}`, tags);
        }

        // The deploy checklist in ECS terms (README "Scale"): backup first, migrations, rolling deployment, verified when steady.
        const images = imagesOf(catalog.map((e) => e.name), s.images);
        const release = releaseOf(catalog, s.images);
        const fingerprint = ecsFingerprint(catalog, s);
        const commit = deployCommit();
        // A tool (Grafana, on the store host) is no part of the release, as on the host.
        const kind = deployKind(args.previous, images, fingerprint, s.deploy.rollbackId, commit, undefined, toolNames(catalog));
        // The stores' containers: what the tasks, the move and a restore wait for (not Grafana, which only reads them).
        const storeRuns = stores.map((e) => storeContainers.containers[e.name]);
        // A stack moving from the host topology: what the host ran and no longer does stops before any
        // task starts (never two writers or alerters): its apps first (Grafana stays), then its Redis is
        // carried into ElastiCache, key by key, with nothing writing to it, and stops. Once each: a new
        // stack's host has none of them.
        const hostStep = (id: string, command: string, after: pulumi.Resource[], triggers: pulumi.Input<unknown>[] = ["host-to-ecs"]) =>
            new HostCommand(`${name}-${id}`, { instanceId: host.instance.id, region: s.region, command, triggers, requires: hostFiles.installed, after: [...after, ...hostFiles.associations], timeoutSeconds: 3600 }, { parent: this }).run;
        const retired = retiredFromHost(catalog);
        const retireApps = hostStep("retire-host-apps", `${SERVICES_BIN} retire ${retired.filter((c) => !c.startsWith(`${containerName({ name: "redis" })}:`)).join(" ")}`, storeRuns);
        // The apps' files: the file system mounted on the store host (again whenever it or the host is
        // replaced), and the host topology's volumes carried in once the apps that write them have
        // stopped; before the cache moves, whose record tells a stack that moved before this step existed.
        const filesMoved = files
            ? [hostStep("move-app-files", `${APP_FILES_BIN} move`, [retireApps, hostStep("mount-app-files", `${APP_FILES_BIN} mount`, files.mountTargets, [files.fileSystem.id, host.instance.id])])]
            : [];
        const moveCache = hostStep("move-cache", `${CACHE_BIN} move`, [retireApps, cache.group, ...filesMoved]);
        const retireRedis = hostStep("retire-host-redis", `${SERVICES_BIN} retire ${retired.filter((c) => c.startsWith(`${containerName({ name: "redis" })}:`)).join(" ")}`, [moveCache]);
        // restore.from: the writers held at no task, the backup's Redis copied into the cache and the
        // store host's stores restored, then the writers back (ecs-scale.sh; services not created yet are passed over).
        let restore: ReturnType<typeof restoreStep> | undefined;
        let restored: pulumi.Resource[] = [retireRedis];
        if (s.restore.from) {
            const writers = ecsApps(catalog).filter((e) => e.quiesce).map((e) => e.name);
            const scale = (id: string, count: number | "restart", after: pulumi.Resource[], services = writers) =>
                new command.local.Command(
                    `${name}-restore-${id}`,
                    { create: `./scripts/ecs-scale.sh ${s.region} ${cluster} ${count} ${services.join(" ")}`, update: KEEP_LAST_OUTPUT, addPreviousOutputInEnv: true, triggers: [s.restore.from] },
                    { parent: this, dependsOn: after, replaceOnChanges: ["triggers"] },
                );
            // After the move's steps: the host's Redis carried and the apps' files on EFS, mounted.
            // The maintenance page at the load balancer (and the signal): clients see it, not data in the
            // middle of its swap, until the cache is seeded and the writers are back. Its own owner:
            // sofia-restore raises and lowers the page as "restore" around its swap alone.
            const on = hostStep("restore-signal-on", `${MAINTENANCE_BIN} page on ${2 * s.alarms.recoveryTimeMinutes} ${ECS_RESTORE_OWNER}`, [retireRedis, ...filesMoved], [s.restore.from]);
            const hold = scale("hold-writers", 0, [on]);
            // The cache as it was, first: a restore replaces it whole.
            const snapshot = new command.local.Command(
                `${name}-restore-cache-snapshot`,
                { create: pulumi.interpolate`./scripts/ecs-cache-snapshot.sh ${s.region} ${cache.group.id} sofia-${s.stack}-prerestore-${createHash("sha256").update(s.restore.from).digest("hex").slice(0, 12)} ${s.backup.retentionDays}`, update: KEEP_LAST_OUTPUT, addPreviousOutputInEnv: true, triggers: [s.restore.from] },
                { parent: this, dependsOn: [hold], replaceOnChanges: ["triggers"] },
            );
            // The store host's stores first (sofia-restore puts the data from before back if it fails); the cache only once they are restored.
            restore = restoreStep(`${name}-restore`, { from: s.restore.from, instanceId: host.instance.id, region: s.region, requires: hostFiles.installed, after: [...storeRuns, ...hostFiles.associations, hold, snapshot] }, { parent: this });
            // The apps' files were swapped under their tasks' mounts: new tasks mount the restored ones.
            const withFiles = ecsApps(catalog).filter((e) => e.volumes?.length).map((e) => e.name);
            const remounted = files && withFiles.length ? [scale("restart-file-users", "restart", [restore.command.run], withFiles)] : [];
            // The page again, by the seed itself: a retried seed may come after the first one has lapsed.
            const seed = hostStep("restore-cache", `${CACHE_BIN} seed ${s.restore.from} --page ${2 * s.alarms.recoveryTimeMinutes} ${ECS_RESTORE_OWNER}`, [restore.command.run, ...remounted], [s.restore.from]);
            const released = scale("release-writers", 1, [seed]);
            restored = [hostStep("restore-signal-off", `${MAINTENANCE_BIN} page off ${ECS_RESTORE_OWNER}`, [released], [s.restore.from])];
        }
        const before: pulumi.Resource[] = [...storeRuns, cache.group, ...restored, ...filesMoved];
        // A release: the writers (the catalog's `quiesce`) held at no task, so the backups and the
        // migration see data nobody is changing (as the host topology quiesces them); then Redis'
        // snapshot and the store host's backup, waited for. The writers get their task back once the
        // services have their new task definitions (below).
        const writers = ecsApps(catalog).filter((e) => e.quiesce).map((e) => e.name);
        // What each writer runs before the release (or the tasks' shape) changes the services: a roll-back
        // goes back to exactly that. Once per release and shape, not per attempt: a retry after an
        // attempt killed with the services moved would record the new definitions.
        const recorded = new command.local.Command(
            `${name}-deploy-record-writers`,
            { create: `./scripts/ecs-scale.sh ${s.region} ${cluster} record ${writers.join(" ")}`, update: KEEP_LAST_OUTPUT, addPreviousOutputInEnv: true, triggers: [JSON.stringify(release), fingerprint] },
            { parent: this, dependsOn: [...before], replaceOnChanges: ["triggers"] },
        );
        before.push(recorded);
        // The theme check's browser image on the store host before any service changes, as the host's
        // deploy pulls it before its page: a registry that fails stops the update with nothing changed.
        if (kind !== "none" && themedApps(catalog).length) before.push(hostStep("deploy-pull-browser", `${SERVICES_BIN} pull-browser`, [...before], [JSON.stringify(release), fingerprint, deployAttempt()]));
        const releaseTriggers = [JSON.stringify(release), deployAttempt()];
        const scaleWriters = `./scripts/ecs-scale.sh ${s.region} ${cluster}`;
        const heldHint = `The writers (${writers.join(", ")}) are held at no task: any next update gives them back, or now: ${scaleWriters} 1 ${writers.join(" ")}`;
        let held: command.local.Command | undefined;
        let signalled: pulumi.Resource | undefined;
        if (kind === "release") {
            // Pages are suppressed while the writers are held (the freshness alarms would fire); the signal lapses by itself should the deploy die.
            signalled = hostStep("deploy-signal-on", `${MAINTENANCE_BIN} signal on ${s.deploy.maintenanceMinutes} ${DEPLOY_OWNER}`, before, releaseTriggers);
            held = new command.local.Command(`${name}-deploy-hold-writers`, { create: `${scaleWriters} 0 ${writers.join(" ")}`, update: KEEP_LAST_OUTPUT, addPreviousOutputInEnv: true, triggers: releaseTriggers }, { parent: this, dependsOn: [...before, signalled], replaceOnChanges: ["triggers"] });
            const snapshotName = `sofia-${s.stack}-predeploy-${createHash("sha256").update(deployAttempt()).digest("hex").slice(0, 12)}`;
            const cacheSnapshot = new command.local.Command(
                `${name}-deploy-cache-snapshot`,
                { create: pulumi.interpolate`./scripts/ecs-cache-snapshot.sh ${s.region} ${cache.group.id} ${snapshotName} ${s.backup.retentionDays}`, update: KEEP_LAST_OUTPUT, addPreviousOutputInEnv: true, triggers: releaseTriggers },
                { parent: this, dependsOn: [held], replaceOnChanges: ["triggers"] },
            );
            const backup = new HostCommand(
                `${name}-deploy-backup`,
                { instanceId: host.instance.id, region: s.region, command: `${BACKUP_BIN} run --wait 1800`, triggers: releaseTriggers, requires: hostFiles.installed, after: [...hostFiles.associations, ...before, held], timeoutSeconds: 3600, onFailure: heldHint },
                { parent: this },
            ).run;
            before.push(held, cacheSnapshot, backup);
        }
        // The migration runs the new task definition, which the services' component declares: the services wait at this gate.
        const migrated = new LateGate("ECS migrations");
        const services = LateGate.declaring([migrated], () => {
            const services = new SofiaEcsServices(
            `${name}-ecs`,
            {
                settings: s,
                catalog,
                subnetIds,
                securityGroups: Object.fromEntries(Object.entries(appSgs).map(([k, g]) => [k, g.id])),
                endpoints: {
                    redis: cache.group.primaryEndpointAddress.apply((host) => ({ host, tls: true })),
                    ...Object.fromEntries(stores.map((e) => [e.name, host.instance.privateIp.apply((ip) => ({ host: ip, tls: false }))])),
                },
                passwordSecrets,
                registryCredentials,
                logGroups,
                targetGroups: Object.fromEntries(Object.entries(edge.targetGroups).map(([k, g]) => [k, g.arn])),
                files: files ? { fileSystemId: files.fileSystem.id, fileSystemArn: files.fileSystem.arn, accessPoints: Object.fromEntries(Object.entries(files.accessPoints).map(([k, p]) => [k, { id: p.id, arn: p.arn }])) } : undefined,
                after: allOf([...before, ...edge.listeners, ...(files ? [files] : [])], migrated.resources),
                tags,
            },
            { parent: this },
        );

            // The migration: a one-off task of the migrating app's new task definition, waited for, before any service moves.
            const migrator = ecsApps(catalog).find((e) => e.migration);
            if (migrator?.migration && (kind === "release" || kind === "first")) {
                const task = services.services[migrator.name].taskDefinition;
                const migrate = new command.local.Command(
                    `${name}-deploy-migrate`,
                    {
                        create: pulumi.interpolate`./scripts/ecs-run-task.sh ${s.region} ${services.cluster.name} ${task.arn} ${migrator.name} '${JSON.stringify(migrator.migration)}'`,
                        environment: {
                            ECS_RUN_SUBNETS: subnetIds.join(","),
                            ECS_RUN_SECURITY_GROUP: appSgs[migrator.name].id,
                            ECS_RUN_PUBLIC_IP: s.ecs.publicTaskIps ? "ENABLED" : "DISABLED",
                            ECS_RUN_TIMEOUT: "900",
                            ...(held ? { ECS_RUN_ON_FAILURE: heldHint } : {}),
                        },
                        // Only a new release or attempt runs it again, never another input's change.
                        update: KEEP_LAST_OUTPUT,
                        addPreviousOutputInEnv: true,
                        triggers: [JSON.stringify(release), deployAttempt()],
                    },
                    { parent: this, dependsOn: [...before, task], replaceOnChanges: ["triggers"] },
                );
                migrated.open([migrate]);
            } else migrated.open([]);
            return services;
        });

        // The theme check finds the themed apps' tasks by their addresses.
        const taskReader = themedApps(catalog).length
            ? new aws.iam.RolePolicy(`${name}-theme-tasks`, { role: host.role.id, policy: services.cluster.arn.apply(taskReadPolicy) }, { parent: host.role })
            : undefined;
        const prefix = alarmPrefix(s.stack);
        const escalation = monitoring.escalate(ecsAlarms(catalog, s, signals(host.instance.id)));
        // The runbook's theme and critical paths from outside, as on the host: through the load balancer, by the clients' DNS name.
        const checks = syntheticChecks(catalog, s, prefix);
        const synthetics = checks.length ? new SyntheticChecks(`${name}-synthetics`, { prefix, checks: checks.map(({ canary: _c, service: _s, ...check }) => check), tags }, { parent: this }) : undefined;
        new SofiaBackups(`${name}-backup`, { settings: s, instanceId: host.instance.id }, { parent: this });
        new MaintenanceWindows(
            `${name}-maintenance`,
            {
                title: HOST_NAMING.title,
                prefix,
                instanceId: host.instance.id,
                windows: maintenancePlan(s),
                logGroupName: `/sofia/${s.stack}/maintenance`,
                logRetentionDays: s.logRetentionDays,
                failureTopicArn: escalation.topicArns[2],
                tags,
            },
            { parent: this },
        );
        const containers = storeRuns;
        new HostCommand(
            `${name}-tune`,
            { instanceId: host.instance.id, region: s.region, command: `${SERVICES_BIN} tune`, triggers: [tuningTable(onHost, s), host.instance.id], requires: hostFiles.installed, after: [...containers, ...hostFiles.associations] },
            { parent: this },
        );
        const address = s.proxy.acme?.domain ?? edge.loadBalancer.dnsName;
        const endpoints = Object.fromEntries(clientListeners(catalog).map(({ entry, port }) => [entry.name, pulumi.interpolate`https://${address}:${port}`]));
        // Verified: every service steady with healthy tasks (Pulumi waited for each), then the writers' rows arriving in the store (the catalog's `writes`), checked on the store host.
        // A rollback by the circuit breaker also ends steady: each service must run what this update declared.
        // Every update gives the writers their task (idempotent): one that held them and failed, or a
        // restore that did, leaves them at none until the next update, whatever that one is.
        // A writer's new image that crash-loops is rolled back to the task definition it ran before
        // (the circuit breaker sees nothing: it rolled out at no task), and the update fails.
        const released = new command.local.Command(
            `${name}-deploy-release-writers`,
            { create: `./scripts/ecs-scale.sh --roll-back ${s.region} ${cluster} 1 ${writers.join(" ")}`, environment: { ECS_SCALE_ROLL_BACK_TO: recorded.stdout }, update: KEEP_LAST_OUTPUT, addPreviousOutputInEnv: true, triggers: [deployAttempt()] },
            { parent: this, dependsOn: Object.values(services.services).map((x) => x.service), replaceOnChanges: ["triggers"] },
        );
        const rollout =
            kind === "none"
                ? undefined
                : new command.local.Command(
                      `${name}-deploy-rollout`,
                      {
                          create: pulumi
                              .all(Object.entries(services.services).map(([app, svc]) => pulumi.interpolate`${app}=${svc.taskDefinition.arn}`))
                              .apply((pairs) => `./scripts/ecs-rollout-check.sh ${s.region} ${cluster} ${pairs.join(" ")}`),
                          update: KEEP_LAST_OUTPUT,
                          addPreviousOutputInEnv: true,
                          triggers: [JSON.stringify(release), fingerprint, deployAttempt()],
                      },
                      { parent: this, dependsOn: [...Object.values(services.services).map((x) => x.service), released], replaceOnChanges: ["triggers"] },
                  );
        // The theme and critical paths, by the canaries' own checks (the host's deploy runs the same in
        // a browser beside the UI): their first runs after the rollout must pass.
        const canaries =
            rollout && synthetics
                ? new command.local.Command(
                      `${name}-deploy-canaries`,
                      { create: `./scripts/canary-wait.sh ${s.region} ${checks.map((c) => c.canary).join(" ")}`, update: KEEP_LAST_OUTPUT, addPreviousOutputInEnv: true, triggers: [JSON.stringify(release), fingerprint, deployAttempt()] },
                      { parent: this, dependsOn: [rollout, ...synthetics.canaries], replaceOnChanges: ["triggers"] },
                  )
                : undefined;
        const verify = !rollout
            ? undefined
            : new HostCommand(
                  `${name}-deploy-verify`,
                  {
                      instanceId: host.instance.id,
                      region: s.region,
                      command: `${SERVICES_BIN} flows --wait`,
                      triggers: [JSON.stringify(release), fingerprint, deployAttempt()],
                      requires: hostFiles.installed,
                      // The writers' rows (minutes), then a browser at each UI task (sofia-services' per-task bound).
                      timeoutSeconds: 3600,
                      after: [rollout, ...(canaries ? [canaries] : []), ...(taskReader ? [taskReader] : []), ...hostFiles.associations],
                  },
                  { parent: this },
              );
        if (signalled && verify) hostStep("deploy-signal-off", `${MAINTENANCE_BIN} signal off ${DEPLOY_OWNER}`, [verify.run], releaseTriggers);
        const verifiedRelease = verify
            ? verify.run.stdout.apply((out): VerifiedRelease | null => {
                  const record: ReleaseRecord = { release, images, verifiedAt: /^verified-at (\S+)$/m.exec(out ?? "")?.[1] ?? null, commit, ...(s.deploy.schema ? { schema: s.deploy.schema } : {}) };
                  return { ...record, containers: fingerprint, history: record.verifiedAt ? nextHistory(record, args.previous) : args.previous?.history };
              })
            : pulumi.output(args.previous ?? null);
        this.outputs = {
            instanceId: host.instance.id,
            publicIp: host.publicIp,
            endpoints,
            startStages: [...storeContainers.stages, ...services.stages],
            alarmTopics: { level2: escalation.topicArns[2], level3: escalation.topicArns[3] },
            dashboard: `sofia-${s.stack}`,
            release,
            verifiedRelease,
            deploy: { kind, steps: ecsDeploySteps(kind), changes: releaseChanges(args.previous, images) },
            backups: pulumi.interpolate`s3://${backupBucket.bucket.bucket}/${s.stack}/`,
            placement: placementOf(s),
            topology: "ecs",
            loadBalancer: edge.loadBalancer.dnsName,
            ...(grafana ? { grafana: grafanaUrl(catalog, s, address, host.instance.id).apply((reach) => ({ ...reach, user: GRAFANA_ADMIN })), grafanaAdminPassword: pulumi.secret(storeContainers.passwords[grafana.name]) } : {}),
            ...(edge.validationRecord ? { certificateValidation: edge.validationRecord } : {}),
            ...(restore ? { lastRestore: restore.summary } : {}),
        };
        this.registerOutputs(this.outputs);
    }
}
