/**
 * SofiaPlatform: the whole of Sofia V2 on one stack, wired from the validated settings and the
 * service catalog. Generic building blocks live in components/; this file only connects them.
 */
import * as pulumi from "@pulumi/pulumi";
import { metricsNamespace } from "../../model/metrics";
import { placementOf } from "./placement";
import { BackupBucket } from "../../components/backup-bucket";
import { Host, HostArgs } from "../../components/host";
import { HostCommand } from "../../components/host-command";
import { HostFiles } from "../../components/host-files";
import { clientPorts, sofiaCatalog, CatalogEntry, toolNames } from "../../model/catalog";
import { BACKUP_BUCKET_PREFIX, backupHostFiles, backupRetention, restoreStep, SofiaBackups } from "./backups";
import { deployAttempt, deployCommit, deployKind, imagesOf, releaseChanges, releaseOf } from "../../release/deploy";
import { DeployChecklist, deployGates } from "./deploy-checklist";
import { syntheticChecks } from "./synthetics";
import { SyntheticChecks } from "../../components/synthetic-checks";
import { LateGate } from "../../components/gate";
import { containerFingerprint, SofiaContainers, storeFingerprint } from "./containers";
import { sofiaHostFiles, tuningTable } from "./services-files";
import { failureRuleName, MaintenanceWindows } from "../../components/maintenance-window";
import { alarmPrefix } from "./alarms";
import { maintenanceHostFiles, maintenancePlan } from "./maintenance";
import { logGroupName, monitoringHostFiles, SofiaMonitoring } from "./monitoring";
import { Settings } from "../../model/settings";
import { certificateHostFiles } from "./certificate";
import { GRAFANA_ADMIN, grafanaHostFiles, grafanaReaderRole } from "./grafana";
import { diagnosticsCommands, diagnosticsHostFiles } from "./diagnostics";
import { CAPACITY_READ_POLICY, capacityHostFiles } from "./capacity";
import * as aws from "@pulumi/aws";
import { AlarmCommands } from "../../components/alarm-commands";
import { ACME, proxyTlsSource } from "./proxy-config";
import { DATA_PATH, HOST_FILES_MARKERS, HOST_NAMING, SERVICES_BIN } from "./layout";
import { DeclaredOutputs, VerifiedRelease } from "../../release/outputs";

/**
 * The host's arguments both topologies share (the ECS topology's store host is this host): one
 * place, so a stack moving between them keeps its host's inputs, and so its instance and data volume.
 */
export function hostArgs(s: Settings, backupBucket: BackupBucket): Omit<HostArgs, "clientPorts" | "clientCidrs" | "staticAddress"> {
    return {
        naming: HOST_NAMING,
        instanceType: s.instanceType,
        region: s.region,
        zone: s.zone,
        subnetId: s.subnetId,
        rootVolumeGb: s.rootVolumeGb,
        dataVolumeGb: s.dataVolumeGb,
        adminCidrs: s.adminCidrs,
        dockerAccess: s.dockerAccess,
        sshPublicKey: s.sshPublicKey,
        backupBucket: { arn: backupBucket.bucket.arn, prefix: s.stack, kmsKeyArn: s.backup.kmsKeyArn },
        scope: { metricsNamespace: metricsNamespace(s.stack), logGroupPrefix: logGroupName(s.stack, "") },
        hostFilesMarkerDir: HOST_FILES_MARKERS,
        registries: s.registry.address && s.registry.username ? [{ address: s.registry.address, username: s.registry.username, password: s.secrets.registryPassword }] : [],
        dataPath: DATA_PATH,
        tags: { Project: s.project, Stack: s.stack, ManagedBy: "pulumi" },
    };
}

export interface SofiaPlatformArgs {
    /** Validated stack settings (model/settings.ts). */
    settings: Settings;
    /** What this stack last deployed and verified (its own outputs); undefined before its first deploy. */
    previous: VerifiedRelease | undefined;
}

export class SofiaPlatform extends pulumi.ComponentResource {
    readonly catalog: CatalogEntry[];
    readonly host: Host;
    readonly backupBucket: BackupBucket;
    readonly containers: SofiaContainers;
    readonly outputs: DeclaredOutputs;

    constructor(name: string, args: SofiaPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:platform:SofiaPlatform", name, {}, opts);
        const s = args.settings;
        this.catalog = sofiaCatalog(s.timeseriesStore);
        const tags = { Project: s.project, Stack: s.stack, ManagedBy: "pulumi" };
        const published = clientPorts(this.catalog);

        this.backupBucket = new BackupBucket(
            `${name}-backups`,
            { bucketPrefix: BACKUP_BUCKET_PREFIX, retention: backupRetention(s), lockDays: s.backup.retentionDays, kmsKeyArn: s.backup.kmsKeyArn, objectLock: s.backup.objectLock, objectLockMode: s.backup.objectLockMode, tags },
            { parent: this },
        );

        this.host = new Host(
            `${name}-host`,
            {
                ...hostArgs(s, this.backupBucket),
                clientPorts: published.map(({ service, port }) =>
                    port.publish === "staff" ? { port: port.port, description: `Sofia ${service} (${port.name}) for the operators`, cidrs: s.staffCidrs } : { port: port.port, description: `Sofia ${service} (${port.name}) for clients` },
                ),
                clientCidrs: s.clientCidrs,
                // An ACME CA checks the domain from anywhere, on port 80: nothing but its challenge is served there.
                worldPorts: proxyTlsSource(s) === "acme" ? [{ port: ACME.httpPort, description: "ACME HTTP-01 challenges for the proxy's certificate (nothing else is served)" }] : [],
                staticAddress: proxyTlsSource(s) === "acme",
            },
            { parent: this },
        );

        const grafana = this.catalog.find((e) => e.name === "grafana");
        const grafanaReader = grafana ? grafanaReaderRole(name, this.host.role, tags, this) : undefined;
        const installs = [
            sofiaHostFiles(this.catalog, s, DATA_PATH),
            backupHostFiles(this.catalog, s, this.backupBucket.bucket.bucket, DATA_PATH),
            monitoringHostFiles(this.catalog, s.stack, DATA_PATH),
            maintenanceHostFiles(),
            ...certificateHostFiles(s),
            ...(grafanaReader ? [grafanaHostFiles(this.catalog, s, grafanaReader.arn)] : []),
            diagnosticsHostFiles(this.catalog, s, this.backupBucket.bucket.bucket),
            capacityHostFiles(this.catalog, s, this.backupBucket.bucket.bucket),
        ];
        // The monthly capacity report reads metric statistics (topology/host/capacity.ts).
        new aws.iam.RolePolicy(`${name}-capacity-report`, { role: this.host.role.id, policy: CAPACITY_READ_POLICY }, { parent: this.host.role });
        const hostFiles = new HostFiles(
            `${name}-host-files`,
            { instanceId: this.host.instance.id, parts: installs, markerDir: HOST_FILES_MARKERS, after: [this.host.ready.run], tags },
            { parent: this },
        );

        // The deployment checklist, when (and only when) the release changes: deploy-checklist.ts.
        const images = imagesOf(this.catalog.map((e) => e.name), s.images);
        const release = releaseOf(this.catalog, s.images);
        const containersFingerprint = containerFingerprint(this.catalog, s);
        const commit = deployCommit();
        const storesFingerprint = storeFingerprint(this.catalog, s);
        const thisDeploy = deployKind(args.previous, images, containersFingerprint, s.deploy.rollbackId, commit, storesFingerprint, toolNames(this.catalog));
        // The checklist comes after what it checks; what it holds back waits at its gates, which it opens.
        const gates = deployGates();
        // Should anything below throw before the checklist opens its gates, they fail with that error.
        const { monitoring, deploy, containers, sofiaContainers } = LateGate.declaring([gates.containers, gates.apps, gates.pages], () => {
            // On a first deploy the paging alarms wait for the maintenance page.
            const monitoring = new SofiaMonitoring(
                `${name}-monitoring`,
                {
                    catalog: this.catalog,
                    settings: s,
                    instanceId: this.host.instance.id,
                    dataPath: DATA_PATH,
                    level2Rules: [failureRuleName(alarmPrefix(s.stack))],
                    pagesAfter: gates.pages.resources,
                    tags,
                },
                { parent: this },
            );
            // The runbook's theme regression and critical paths, from outside (synthetics.ts).
            const checks = syntheticChecks(this.catalog, s, alarmPrefix(s.stack));
            if (checks.length) new SyntheticChecks(`${name}-synthetics`, { prefix: alarmPrefix(s.stack), checks: checks.map(({ canary: _c, service: _s, ...check }) => check), tags }, { parent: this });

            const sofiaContainers = new SofiaContainers(
                `${name}-services`,
                {
                    catalog: this.catalog,
                    settings: s,
                    provider: this.host.dockerProvider,
                    logGroups: monitoring.logGroups,
                    hostPrivateIp: this.host.instance.privateIp,
                    gates: { beforeContainers: gates.containers.resources, beforeApps: gates.apps.resources },
                },
                { parent: this },
            );
            const containers = Object.values(sofiaContainers.containers);
            const deploy = new DeployChecklist(
                `${name}-deploy`,
                {
                    settings: s,
                    deployKind: thisDeploy,
                    previous: args.previous,
                    instanceId: this.host.instance.id,
                    hostReady: hostFiles.associations,
                    hostFiles: hostFiles.installed,
                    images,
                    release,
                    containers: containersFingerprint,
                    stores: storesFingerprint,
                    attempt: deployAttempt(),
                    commit,
                    declared: { stores: sofiaContainers.stores, all: containers, migration: sofiaContainers.migration },
                    gates,
                },
                { parent: this },
            );
            return { monitoring, deploy, containers, sofiaContainers };
        });
        this.containers = sofiaContainers;
        // The runbook's debugging procedures, collected the moment their alarms fire (diagnostics.ts).
        new AlarmCommands(`${name}-diagnostics`, { prefix: alarmPrefix(s.stack), instanceId: this.host.instance.id, commands: diagnosticsCommands(this.catalog, s), tags }, { parent: this });
        new SofiaBackups(`${name}-backup`, { settings: s, instanceId: this.host.instance.id }, { parent: this });
        new MaintenanceWindows(
            `${name}-maintenance`,
            {
                title: HOST_NAMING.title,
                prefix: alarmPrefix(s.stack),
                instanceId: this.host.instance.id,
                windows: maintenancePlan(s),
                logGroupName: logGroupName(s.stack, "maintenance"),
                logRetentionDays: s.logRetentionDays,
                failureTopicArn: monitoring.escalation.topicArns[2],
                tags,
            },
            { parent: this },
        );

        // Retention and compression, again whenever the tuning changes (idempotent; waits for the table).
        new HostCommand(
            `${name}-tune`,
            {
                instanceId: this.host.instance.id,
                region: s.region,
                command: `${SERVICES_BIN} tune`,
                // A new host (same data) is tuned again; a script change alone does not tune again.
                triggers: [tuningTable(this.catalog, s), this.host.instance.id],
                requires: hostFiles.installed,
                after: [...containers, ...hostFiles.associations, ...deploy.last],
            },
            { parent: this },
        );

        const restore = s.restore.from
            ? restoreStep(`${name}-restore`, { from: s.restore.from, instanceId: this.host.instance.id, region: s.region, requires: hostFiles.installed, after: [...containers, ...hostFiles.associations, ...deploy.last] }, { parent: this })
            : undefined;

        const endpoints = Object.fromEntries(
            // Through the front proxy: HTTPS on the same ports once a certificate is set.
            published.map(({ service, port }) => [service, pulumi.interpolate`${proxyTlsSource(s) ? "https" : "http"}://${s.proxy.acme?.domain ?? this.host.publicIp}:${port.port}`]),
        );
        this.outputs = {
            instanceId: this.host.instance.id,
            publicIp: this.host.publicIp,
            endpoints,
            startStages: this.containers.stages,
            alarmTopics: { level2: monitoring.escalation.topicArns[2], level3: monitoring.escalation.topicArns[3] },
            dashboard: `sofia-${s.stack}`,
            release,
            // What promotion reads, and the next update compares with: the release verified, and when.
            verifiedRelease: deploy.verifiedRelease,
            // What this update does beyond the resources: the deployment checklist's steps, in order.
            deploy: { kind: thisDeploy, steps: deploy.steps, changes: releaseChanges(args.previous, images) },
            backups: pulumi.interpolate`s3://${this.backupBucket.bucket.bucket}/${s.stack}/`,
            // Where the data lives: the next update refuses a change that would replace it (topology/host/placement.ts).
            placement: placementOf(s),
            ...(grafana ? { grafana: { url: endpoints[grafana.name], user: GRAFANA_ADMIN }, grafanaAdminPassword: pulumi.secret(sofiaContainers.passwords[grafana.name]) } : {}),
            ...(restore ? { lastRestore: restore.summary } : {}),
        };
        this.registerOutputs(this.outputs);
    }
}
