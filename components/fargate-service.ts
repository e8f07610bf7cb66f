/**
 * FargateService: one container as an ECS service on Fargate: its task definition, the service,
 * and, behind a load balancer, target-tracking autoscaling. Two shapes, because they fail in
 * opposite ways: a scaled service must keep serving while it deploys (new tasks first), a
 * singleton must never run twice (the old task stops before the new one starts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { fargateSize } from "./aws-limits";
import { Gate } from "./gate";

/** How many tasks run, and how a deployment replaces them. */
export type TaskCount =
    /** Exactly one task, ever: deployments stop the old task before starting the new (max 100 %, min 0 %). */
    | { kind: "singleton" }
    /** Between min and max tasks behind a target group, scaled on average CPU; deployments start new tasks before stopping old ones. */
    | { kind: "scaled"; min: number; max: number; targetCpuPercent: number; targetGroupArn: pulumi.Input<string>; port: number };

/** Memory AWS recommends leaving in a task for the Service Connect proxy it adds. */
export const SERVICE_CONNECT_PROXY_MB = 256;

export interface FargateServiceArgs {
    /** The cluster's ARN. */
    cluster: pulumi.Input<string>;
    /** The cluster's name (autoscaling names the service by it). */
    clusterName: pulumi.Input<string>;
    /** Service name and task definition family. */
    name: string;
    /** The container definition (ECS's JSON shape); its `name` is the service's. */
    container: pulumi.Input<Record<string, unknown>>;
    /** Memory the container needs, MiB: the task gets the smallest Fargate size that holds it and its sidecars'. */
    memoryMb: number;
    /** vCPUs the app needs at least. @default the least Fargate gives its memory */
    vcpus?: number;
    /** Containers beside it in the task (an agent), and the memory they need together, MiB. @default none */
    sidecars?: { containers: pulumi.Input<Record<string, unknown>>[]; memoryMb: number };
    /** The role ECS pulls images and reads secrets with. */
    executionRoleArn: pulumi.Input<string>;
    /** The role the task's code runs as. */
    taskRoleArn: pulumi.Input<string>;
    /** Subnets the tasks run in (two zones at least). */
    subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    /** Security groups of the tasks. */
    securityGroupIds: pulumi.Input<string>[];
    /** A public address for the task's way out, where the subnets have no NAT gateway. */
    assignPublicIp: boolean;
    /** One task that never runs twice, or a scaled set behind a target group. */
    count: TaskCount;
    /** Task volumes (EFS) the container mounts. @default none */
    volumes?: aws.types.input.ecs.TaskDefinitionVolume[];
    /** What must be done first: the services before it in the start order (steady), a migration. @default none */
    startAfter?: Gate;
    /** Seconds a new task's failing health checks do not count (scaled only). @default 60 */
    healthGraceSeconds?: number;
    /**
     * ECS Service Connect: a client of the namespace's services, and, with `serves`, one itself,
     * reached by other tasks as `dnsName:port` (the name it has on the host's Docker network). @default none
     */
    serviceConnect?: { namespaceArn: pulumi.Input<string>; serves?: { portName: string; dnsName: string; port: number } };
    /** Tags for every taggable child. @default none */
    tags?: Record<string, string>;
}

export class FargateService extends pulumi.ComponentResource {
    readonly taskDefinition: aws.ecs.TaskDefinition;
    readonly service: aws.ecs.Service;

    constructor(name: string, args: FargateServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:ecs:FargateService", name, {}, opts);
        const sidecars = args.sidecars?.containers ?? [];
        // ECS adds Service Connect's proxy to the task: AWS asks room for it (256 MiB).
        const size = fargateSize(args.memoryMb + (args.sidecars?.memoryMb ?? 0) + (args.serviceConnect ? SERVICE_CONNECT_PROXY_MB : 0), args.vcpus);
        this.taskDefinition = new aws.ecs.TaskDefinition(
            `${name}-task`,
            {
                family: args.name,
                requiresCompatibilities: ["FARGATE"],
                networkMode: "awsvpc",
                cpu: String(size.cpu),
                memory: String(size.memoryMb),
                runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
                executionRoleArn: args.executionRoleArn,
                taskRoleArn: args.taskRoleArn,
                containerDefinitions: pulumi.all([args.container, ...sidecars]).apply((containers) => JSON.stringify(containers)),
                volumes: args.volumes,
                tags: args.tags,
            },
            { parent: this },
        );
        const scaled = args.count.kind === "scaled" ? args.count : undefined;
        this.service = new aws.ecs.Service(
            `${name}-service`,
            {
                name: args.name,
                cluster: args.cluster,
                taskDefinition: this.taskDefinition.arn,
                launchType: "FARGATE",
                desiredCount: scaled ? scaled.min : 1,
                // A singleton: never two at once (duplicate ticks, duplicate alerts). Scaled: never fewer than serve.
                deploymentMaximumPercent: scaled ? 200 : 100,
                deploymentMinimumHealthyPercent: scaled ? 100 : 0,
                deploymentCircuitBreaker: { enable: true, rollback: true },
                // Pulumi waits until the service is steady (tasks healthy): what the next start stage waits for.
                waitForSteadyState: true,
                networkConfiguration: { subnets: args.subnetIds, securityGroups: args.securityGroupIds, assignPublicIp: args.assignPublicIp },
                ...(scaled
                    ? {
                          loadBalancers: [{ targetGroupArn: scaled.targetGroupArn, containerName: args.name, containerPort: scaled.port }],
                          healthCheckGracePeriodSeconds: args.healthGraceSeconds ?? 60,
                          availabilityZoneRebalancing: "ENABLED",
                      }
                    : {}),
                ...(args.serviceConnect
                    ? {
                          serviceConnectConfiguration: {
                              enabled: true,
                              namespace: args.serviceConnect.namespaceArn,
                              ...(args.serviceConnect.serves
                                  ? { services: [{ portName: args.serviceConnect.serves.portName, discoveryName: args.name, clientAlias: [{ port: args.serviceConnect.serves.port, dnsName: args.serviceConnect.serves.dnsName }] }] }
                                  : {}),
                          },
                      }
                    : {}),
                propagateTags: "SERVICE",
                tags: args.tags,
            },
            // Autoscaling owns the count once the service exists: an update must not reset it.
            { parent: this, dependsOn: args.startAfter ?? [], ...(scaled ? { ignoreChanges: ["desiredCount"] } : {}) },
        );
        if (scaled) {
            const target = new aws.appautoscaling.Target(
                `${name}-scaling`,
                {
                    serviceNamespace: "ecs",
                    scalableDimension: "ecs:service:DesiredCount",
                    resourceId: pulumi.interpolate`service/${args.clusterName}/${this.service.name}`,
                    minCapacity: scaled.min,
                    maxCapacity: scaled.max,
                    tags: args.tags,
                },
                { parent: this },
            );
            new aws.appautoscaling.Policy(
                `${name}-cpu`,
                {
                    policyType: "TargetTrackingScaling",
                    serviceNamespace: target.serviceNamespace,
                    scalableDimension: target.scalableDimension,
                    resourceId: target.resourceId,
                    targetTrackingScalingPolicyConfiguration: {
                        predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" },
                        targetValue: scaled.targetCpuPercent,
                        // Out fast, in slowly: a spike of clients is served before it is measured twice.
                        scaleOutCooldown: 60,
                        scaleInCooldown: 300,
                    },
                },
                { parent: this },
            );
        }
        this.registerOutputs({ service: this.service.name });
    }
}
