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
    subnetIds: string[];
}

/** The subnets of the settings, or the default VPC's default subnets (one per zone). */
export async function ecsNetwork(s: Settings, parent?: pulumi.Resource): Promise<EcsNetwork> {
    if (s.ecs.subnetIds) {
        const first = await aws.ec2.getSubnet({ id: s.ecs.subnetIds[0] }, { parent });
        return { vpcId: first.vpcId, subnetIds: s.ecs.subnetIds };
    }
    const vpc = await aws.ec2.getVpc({ default: true }, { parent });
    const subnets = await aws.ec2.getSubnets({ filters: [{ name: "vpc-id", values: [vpc.id] }, { name: "default-for-az", values: ["true"] }] }, { parent });
    if (subnets.ids.length < 2) throw new Error(`topology ecs: the default VPC ${vpc.id} has ${subnets.ids.length} default subnet(s); the load balancer and ElastiCache's failover need two zones: set sofia:ecs.subnetIds`);
    return { vpcId: vpc.id, subnetIds: [...subnets.ids].sort() };
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
