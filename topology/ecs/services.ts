/**
 * The catalog's apps as ECS services on Fargate, stage by stage: a stage's services are created or
 * updated only once every service of the stage before is steady with healthy tasks (Pulumi waits
 * for steady state), and ECS replaces an unhealthy task by itself, so no watchdog. A release's
 * migration runs first, from the new image, as a one-off task the update waits for.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { FargateService } from "../../components/fargate-service";
import { Gate } from "../../components/gate";
import { assumedBy } from "../../components/iam";
import { CatalogEntry } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { startStages } from "../../model/start-order";
import { talksTo } from "../host/networks";
import { containerName } from "../host/store-config";
import { SCRAPE_AGENT, SCRAPED_APP, scrapePolicy, scrapeSidecar } from "./scrape";
import { appShape, containerDefinition, ecsApps, ecsEnv, efsVolumeName, SCRATCH, secretEnvOf, StoreEndpoint } from "./tasks";

/** The cluster's name: the scripts and the dashboard name it before it exists. */
export function clusterName(stack: string): string {
    return `sofia-${stack}`;
}

export interface SofiaEcsServicesArgs {
    settings: Settings;
    catalog: readonly CatalogEntry[];
    subnetIds: string[];
    /** Each app's security group. */
    securityGroups: Record<string, pulumi.Input<string>>;
    /** Where each store is reached (ElastiCache, the store host). */
    endpoints: Record<string, pulumi.Input<StoreEndpoint>>;
    /** Secrets Manager ARN of each store's password, by store name. */
    passwordSecrets: Record<string, pulumi.Input<string>>;
    /** Secrets Manager ARN of the private registry's credentials, when the release is pulled from one. */
    registryCredentials?: pulumi.Input<string>;
    logGroups: Record<string, pulumi.Input<string>>;
    /** Target group per load-balanced app. */
    targetGroups: Record<string, pulumi.Input<string>>;
    /** The shared file system the apps' volumes live on, and an access point per volume. */
    files?: { fileSystemId: pulumi.Input<string>; fileSystemArn: pulumi.Input<string>; accessPoints: Record<string, { id: pulumi.Input<string>; arn: pulumi.Input<string> }> };
    /** What every service waits for (the pre-deploy backup, the migration, declared later). @default nothing */
    after?: Gate;
    tags: Record<string, string>;
}

export class SofiaEcsServices extends pulumi.ComponentResource {
    readonly cluster: aws.ecs.Cluster;
    readonly services: Record<string, FargateService> = {};
    readonly stages: string[][];
    readonly executionRole: aws.iam.Role;
    readonly namespace?: aws.servicediscovery.HttpNamespace;

    constructor(name: string, args: SofiaEcsServicesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:ecs:Services", name, {}, opts);
        const { settings: s, tags } = args;
        const child = { parent: this };
        const apps = ecsApps(args.catalog);
        const appNames = new Set(apps.map((e) => e.name));
        // Start order among the apps: the stores are up before any app (ElastiCache and the store host exist first).
        this.stages = startStages(args.catalog)
            .map((stage) => stage.filter((n) => appNames.has(n)))
            .filter((stage) => stage.length > 0);

        // Container Insights: running against desired tasks per service, what the alarms compare.
        this.cluster = new aws.ecs.Cluster(`${name}-cluster`, { name: clusterName(s.stack), settings: [{ name: "containerInsights", value: "enabled" }], tags }, child);
        // Apps that call another app (the UI the API) reach it by the name it has on the host's Docker network, through Service Connect.
        const calling = apps.filter((e) => talksTo(args.catalog, e).some((p) => appNames.has(p)));
        this.namespace = calling.length ? new aws.servicediscovery.HttpNamespace(`${name}-apps`, { name: `sofia-${s.stack}.apps`, description: "Sofia's apps that other apps call", tags }, child) : undefined;

        const secretArns = [...Object.values(args.passwordSecrets), ...(args.registryCredentials ? [args.registryCredentials] : [])];
        this.executionRole = new aws.iam.Role(`${name}-execution`, { assumeRolePolicy: assumedBy("ecs-tasks.amazonaws.com"), description: "Sofia ECS: pull images, write logs, read the stores' secrets", tags }, child);
        // Its own policy, not AWS's managed one (which reaches every log group and repository of the account): this stack's log groups and secrets.
        new aws.iam.RolePolicy(
            `${name}-execution-secrets`,
            {
                role: this.executionRole.id,
                policy: pulumi.all(secretArns).apply((arns) =>
                    JSON.stringify({
                        Version: "2012-10-17",
                        Statement: [
                            { Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: arns },
                            { Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `arn:aws:logs:${s.region}:*:log-group:/sofia/${s.stack}/*:*` },
                        ],
                    }),
                ),
            },
            { parent: this.executionRole },
        );

        const byName = new Map(apps.map((e) => [e.name, e]));
        let previous: Gate = args.after ?? [];
        for (const stage of this.stages) {
            const current: pulumi.Resource[] = [];
            for (const appName of stage) {
                const entry = byName.get(appName) as CatalogEntry;
                const service = this.app(name, entry, args, previous);
                this.services[appName] = service;
                current.push(service.service);
            }
            previous = current;
        }
        this.registerOutputs({ stages: this.stages });
    }

    /** One app: its own task role (its volumes' access points only), its task definition and service. */
    private app(name: string, entry: CatalogEntry, args: SofiaEcsServicesArgs, startAfter: Gate): FargateService {
        const { settings: s, tags } = args;
        const volumes = entry.volumes ?? [];
        const role = new aws.iam.Role(`${name}-${entry.name}-task`, { assumeRolePolicy: assumedBy("ecs-tasks.amazonaws.com"), description: `Sofia ECS: the ${entry.name} task (nothing but its volumes)`, tags }, { parent: this });
        const scraped = entry.name === SCRAPED_APP;
        if (scraped) new aws.iam.RolePolicy(`${name}-${entry.name}-scrape`, { role: role.id, policy: scrapePolicy(s) }, { parent: role });
        if (volumes.length) {
            const files = args.files;
            if (!files) throw new Error(`topology ecs: ${entry.name} has volumes but no shared file system was given`);
            new aws.iam.RolePolicy(
                `${name}-${entry.name}-files`,
                {
                    role: role.id,
                    policy: pulumi.all([files.fileSystemArn, ...volumes.map((v) => files.accessPoints[v.name].arn)]).apply(([fs, ...points]) =>
                        JSON.stringify({
                            Version: "2012-10-17",
                            Statement: [{ Effect: "Allow", Action: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"], Resource: fs, Condition: { StringEquals: { "elasticfilesystem:AccessPointArn": points } } }],
                        }),
                    ),
                },
                { parent: role },
            );
        }
        const shape = appShape(entry);
        const secrets = secretEnvOf(args.catalog, entry);
        const container = pulumi
            .all([pulumi.all(args.endpoints), pulumi.all(secrets.map((x) => args.passwordSecrets[x.store])), args.logGroups[entry.name], args.registryCredentials])
            .apply(([endpoints, arns, logGroup, registry]) =>
                containerDefinition(entry, {
                    settings: s,
                    env: ecsEnv(args.catalog, entry, s, endpoints),
                    secrets: secrets.map((x, i) => ({ name: x.env, valueFrom: arns[i] })),
                    logGroup,
                    registryCredentials: registry,
                }),
            );
        const client = entry.ports.find((p) => p.publish === "clients");
        const port = client?.port;
        const served = this.namespace && client && ecsApps(args.catalog).some((e) => talksTo(args.catalog, e).includes(entry.name));
        const calls = this.namespace && talksTo(args.catalog, entry).some((p) => ecsApps(args.catalog).some((e) => e.name === p));
        return new FargateService(
            `${name}-${entry.name}`,
            {
                cluster: this.cluster.arn,
                clusterName: this.cluster.name,
                name: entry.name,
                container,
                memoryMb: entry.memoryMb,
                vcpus: entry.vcpus,
                sidecars: scraped ? { containers: [pulumi.output(args.logGroups[entry.name]).apply((g) => scrapeSidecar(args.catalog, s, g))], memoryMb: SCRAPE_AGENT.memoryMb } : undefined,
                executionRoleArn: this.executionRole.arn,
                taskRoleArn: role.arn,
                subnetIds: args.subnetIds,
                securityGroupIds: [args.securityGroups[entry.name]],
                assignPublicIp: s.ecs.publicTaskIps,
                count:
                    shape === "scaled" && port !== undefined
                        ? { kind: "scaled", min: s.ecs.minTasks, max: s.ecs.maxTasks, targetCpuPercent: s.ecs.targetCpuPercent, targetGroupArn: args.targetGroups[entry.name], port }
                        : { kind: "singleton" },
                volumes: [
                    { name: SCRATCH.volume },
                    ...volumes.map((v) => ({
                        name: efsVolumeName(v.name),
                        efsVolumeConfiguration: {
                            fileSystemId: args.files!.fileSystemId,
                            transitEncryption: "ENABLED",
                            authorizationConfig: { accessPointId: args.files!.accessPoints[v.name].id, iam: "ENABLED" },
                        },
                    })),
                ],
                ...(served || calls
                    ? { serviceConnect: { namespaceArn: this.namespace!.arn, ...(served ? { serves: { portName: `${entry.name}-${client!.name}`, dnsName: containerName(entry), port: client!.port } } : {}) } }
                    : {}),
                startAfter,
                healthGraceSeconds: entry.check.startPeriodSeconds,
                tags,
            },
            { parent: this },
        );
    }
}
