/**
 * Where the ECS topology runs: its subnets (two zones at least) and the security groups between
 * the load balancer, the tasks, ElastiCache, the shared files and the store host. Each group lets
 * in only the one before it, by group, never by address.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Settings } from "../../model/settings";

export interface EcsNetwork {
    vpcId: string;
    /** Every subnet given (or the default VPC's default subnets): the load balancer's, the tasks', ElastiCache's. */
    subnetIds: string[];
    /** One subnet per zone (the first given in each): EFS takes one mount target per zone. */
    perZone: string[];
}

/**
 * The subnets of the settings, or the default VPC's default subnets (one per zone). Refused, naming
 * the setting: subnets in fewer than two zones (the load balancer and ElastiCache's failover need
 * two), in more than one VPC, or in another VPC than the store host's.
 */
export async function ecsNetwork(s: Settings, parent?: pulumi.Resource): Promise<EcsNetwork> {
    let ids = s.ecs.subnetIds;
    if (!ids) {
        const vpc = await aws.ec2.getVpc({ default: true }, { parent });
        ids = [...(await aws.ec2.getSubnets({ filters: [{ name: "vpc-id", values: [vpc.id] }, { name: "default-for-az", values: ["true"] }] }, { parent })).ids].sort();
    }
    const subnets = await Promise.all(ids.map((id) => aws.ec2.getSubnet({ id }, { parent })));
    const where = s.ecs.subnetIds ? "sofia:ecs.subnetIds" : "the default VPC's default subnets";
    const vpcs = [...new Set(subnets.map((x) => x.vpcId))];
    if (vpcs.length !== 1) throw new Error(`topology ecs: ${where} are in ${vpcs.length} VPCs (${vpcs.join(", ")}); give subnets of one VPC`);
    const zones = new Map<string, string>();
    for (const x of subnets) if (!zones.has(x.availabilityZone)) zones.set(x.availabilityZone, x.id);
    if (zones.size < 2) throw new Error(`topology ecs: ${where} are all in ${[...zones.keys()].join(", ") || "no zone"}; the load balancer and ElastiCache's failover need subnets in two zones`);
    if (s.ecs.subnetIds) {
        const host = s.subnetId ? await aws.ec2.getSubnet({ id: s.subnetId }, { parent }) : undefined;
        if (host?.vpcId !== vpcs[0]) throw new Error(`topology ecs: the store host's subnet (sofia:subnetId: ${s.subnetId ?? "unset, so the default VPC's"}) must be in the VPC of sofia:ecs.subnetIds (${vpcs[0]}): the tasks reach the store by security group, within one VPC`);
    }
    return { vpcId: vpcs[0], subnetIds: ids, perZone: [...zones.values()] };
}

/** One security group with a description, its rules added by the caller. */
export function securityGroup(name: string, vpcId: string, description: string, tags: Record<string, string>, parent: pulumi.Resource): aws.ec2.SecurityGroup {
    return new aws.ec2.SecurityGroup(name, { vpcId, description, revokeRulesOnDelete: true, tags: { ...tags, Name: name } }, { parent });
}

/** Lets `from` reach `to` on one port (TCP), by group. */
export function allowFrom(name: string, to: aws.ec2.SecurityGroup, from: aws.ec2.SecurityGroup, port: number, description: string, tags: Record<string, string>): void {
    new aws.vpc.SecurityGroupIngressRule(name, { securityGroupId: to.id, referencedSecurityGroupId: from.id, ipProtocol: "tcp", fromPort: port, toPort: port, description, tags }, { parent: to });
}

/** Everything out (images, feeds, AWS APIs): what the tasks and the load balancer's targets need. */
export function allowOut(name: string, group: aws.ec2.SecurityGroup, tags: Record<string, string>): void {
    new aws.vpc.SecurityGroupEgressRule(`${name}-v4`, { securityGroupId: group.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "Out to anywhere", tags }, { parent: group });
}
