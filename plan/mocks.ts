/**
 * TEST DOUBLE of the Pulumi engine's providers and the AWS control plane, for the offline plan and
 * the unit tests: it answers every resource registration with its inputs plus the attributes AWS
 * would compute (ids, ARNs, addresses), and every invoke the program makes with a fixed answer.
 * Ids are derived from resource names, so a plan is the same every time it is run.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";

export const OFFLINE_ACCOUNT = "123456789012";
/** TEST-NET-3 address: documentation-only, never routable. */
export const OFFLINE_PUBLIC_IP = "203.0.113.10";
/** The Elastic IP a stack with a DNS name (proxy.acme) gets, as the offline plan shows it. */
export const OFFLINE_ELASTIC_IP = "203.0.113.20";
export const OFFLINE_PRIVATE_IP = "10.0.0.10";

function hex(seed: string, length: number): string {
    return createHash("sha256").update(seed).digest("hex").slice(0, length);
}

/** AWS-style ids for the types whose ids appear in other resources' inputs. */
const ID_PREFIX: Record<string, string> = {
    "aws:ec2/instance:Instance": "i-",
    "aws:ebs/volume:Volume": "vol-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
};

function serviceOf(type: string): string {
    const module = type.split(":")[1]?.split("/")[0] ?? "unknown";
    return module === "cloudwatch" ? "cloudwatch" : module;
}

export class OfflineMocks implements pulumi.runtime.Mocks {
    /**
     * @param lastOutputs the stack's outputs from its last update, as a StackReference to itself
     * reads them (release/deploy.ts); empty: the stack was never deployed.
     */
    constructor(
        private readonly region: string,
        private readonly lastOutputs: Record<string, unknown> = {},
    ) {}

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, unknown> } {
        const { type, name, inputs } = args;
        let id = ID_PREFIX[type] ? `${ID_PREFIX[type]}0${hex(type + name, 16)}` : `${name}-id`;
        const state: Record<string, unknown> = { ...inputs };
        if (type === "aws:s3/bucket:Bucket") {
            // A bucket's id is its name; AWS completes a bucketPrefix with a unique suffix.
            id = (inputs.bucket as string | undefined) ?? `${inputs.bucketPrefix ?? `${name}-`}${hex(name, 12)}`;
            state.bucket = id;
        }
        // An ARN as AWS builds it from the resource's own name (policies match ARNs against names);
        // a resource that takes an ARN as input (a topic policy) keeps it.
        if (type.startsWith("aws:") && inputs.arn === undefined) {
            const own = String(inputs.name ?? inputs.alarmName ?? name);
            state.arn = type.startsWith("aws:s3/")
                ? `arn:aws:s3:::${type === "aws:s3/bucket:Bucket" ? id : (inputs.bucket ?? name)}`
                : type.startsWith("aws:cloudwatch/") && type.endsWith("Alarm")
                  ? `arn:aws:cloudwatch:${this.region}:${OFFLINE_ACCOUNT}:alarm:${own}`
                  : type === "aws:cloudwatch/eventRule:EventRule"
                    ? `arn:aws:events:${this.region}:${OFFLINE_ACCOUNT}:rule/${own}`
                    : `arn:aws:${serviceOf(type)}:${this.region}:${OFFLINE_ACCOUNT}:${type === "aws:sns/topic:Topic" ? own : name}`;
        }
        switch (type) {
            case "aws:lb/loadBalancer:LoadBalancer": {
                // As ELB names it: loadbalancer/app/<name>/<id>; its CloudWatch dimension is the part after.
                const suffix = `app/${inputs.name ?? name}/${hex(name, 16)}`;
                Object.assign(state, { arn: `arn:aws:elasticloadbalancing:${this.region}:${OFFLINE_ACCOUNT}:loadbalancer/${suffix}`, arnSuffix: suffix, dnsName: `${inputs.name ?? name}-${hex(name, 10)}.${this.region}.elb.amazonaws.com` });
                break;
            }
            case "aws:lb/listener:Listener":
                state.arn = `${String(inputs.loadBalancerArn).replace(":loadbalancer/", ":listener/")}/${hex(name, 16)}`;
                break;
            case "aws:ec2/instance:Instance":
                Object.assign(state, { publicIp: OFFLINE_PUBLIC_IP, privateIp: OFFLINE_PRIVATE_IP, availabilityZone: `${this.region}a`, instanceState: "running" });
                break;
            case "aws:ec2/eip:Eip":
                Object.assign(state, { publicIp: OFFLINE_ELASTIC_IP, allocationId: `eipalloc-${hex(name, 17)}` });
                break;
            case "aws:iam/role:Role":
            case "aws:iam/instanceProfile:InstanceProfile":
                state.name = inputs.name ?? name;
                break;
            case "aws:ssm/document:Document":
                Object.assign(state, { name: inputs.name ?? name, latestVersion: "1", defaultVersion: "1" });
                break;
            case "random:index/randomPassword:RandomPassword":
                // The provider marks `result` secret, so this placeholder only ever shows as [secret].
                state.result = `offline-${hex(name, 24)}`;
                break;
            case "pulumi:pulumi:StackReference":
                Object.assign(state, { outputs: this.lastOutputs, secretOutputNames: [] });
                break;
            case "docker:index/remoteImage:RemoteImage":
                state.imageId = `sha256:${hex(String(inputs.name), 64)}`;
                break;
            case "aws:acm/certificate:Certificate": {
                const domain = String(inputs.domainName);
                state.domainValidationOptions = [{ domainName: domain, resourceRecordName: `_${hex(domain, 32)}.${domain}.`, resourceRecordType: "CNAME", resourceRecordValue: `_${hex(name, 32)}.acm-validations.aws.` }];
                break;
            }
            case "aws:lb/loadBalancer:LoadBalancer":
            case "aws:lb/targetGroup:TargetGroup": {
                const lb = type === "aws:lb/loadBalancer:LoadBalancer";
                const own = String(inputs.name ?? name).slice(0, 32);
                state.name = own;
                state.arnSuffix = `${lb ? "app" : "targetgroup"}/${own}/${hex(name, 16)}`;
                state.arn = `arn:aws:elasticloadbalancing:${this.region}:${OFFLINE_ACCOUNT}:${lb ? "loadbalancer/" : ""}${state.arnSuffix}`;
                if (lb) state.dnsName = `${own}-${hex(name, 10)}.${this.region}.elb.amazonaws.com`;
                break;
            }
            case "aws:ecs/cluster:Cluster":
            case "aws:ecs/service:Service":
                state.name = inputs.name ?? name;
                if (type === "aws:ecs/cluster:Cluster") state.arn = `arn:aws:ecs:${this.region}:${OFFLINE_ACCOUNT}:cluster/${state.name}`;
                break;
            case "aws:ecs/taskDefinition:TaskDefinition":
                // As ECS names a registered revision: the family and its number.
                Object.assign(state, { revision: 1, arn: `arn:aws:ecs:${this.region}:${OFFLINE_ACCOUNT}:task-definition/${inputs.family}:1` });
                break;
            case "aws:elasticache/replicationGroup:ReplicationGroup": {
                const group = String(inputs.replicationGroupId ?? `${name}-${hex(name, 7)}`).toLowerCase();
                id = group;
                Object.assign(state, { replicationGroupId: group, primaryEndpointAddress: `master.${group}.${hex(name, 6)}.euc1.cache.amazonaws.com`, readerEndpointAddress: `replica.${group}.${hex(name, 6)}.euc1.cache.amazonaws.com` });
                break;
            }
        }
        return { id: args.custom === false ? undefined : id, state };
    }

    /** The zone of a subnet id: one of the default subnets' ids (…getSubnets below), else the region's first. */
    private zoneOf(id: unknown): string {
        const zone = ["a", "b", "c"].find((z) => id === `subnet-0${hex(`${this.region}${z}`, 16)}`);
        return `${this.region}${zone ?? "a"}`;
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        const inputs = args.inputs as Record<string, any>;
        switch (args.token) {
            case "aws:ec2/getAmi:getAmi": {
                const arch = inputs.filters?.find((f: any) => f.name === "architecture")?.values?.[0] ?? "x86_64";
                return { id: `ami-0${hex(arch, 16)}`, architecture: arch, name: "al2023-ami-2023.offline-plan" };
            }
            case "aws:ec2/getSubnet:getSubnet": {
                // The default VPC's subnets by zone; any other id, a subnet of the zone its id names (…a, …b), else the first.
                const zone = inputs.availabilityZone ?? this.zoneOf(inputs.id);
                return { id: inputs.id ?? `subnet-0${hex(String(zone), 16)}`, vpcId: `vpc-0${hex("default", 16)}`, availabilityZone: zone, cidrBlock: "172.31.0.0/20" };
            }
            case "aws:ec2/getVpc:getVpc":
                return { id: `vpc-0${hex("default", 16)}`, cidrBlock: "172.31.0.0/16", default: true };
            case "aws:ec2/getSubnets:getSubnets":
                // The default VPC's default subnets: one per zone, three zones.
                return { ids: ["a", "b", "c"].map((z) => `subnet-0${hex(`${this.region}${z}`, 16)}`) };
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return { accountId: OFFLINE_ACCOUNT, arn: `arn:aws:iam::${OFFLINE_ACCOUNT}:user/offline-plan`, userId: "offline-plan" };
            case "aws:index/getRegion:getRegion":
                return { name: this.region, region: this.region };
            default:
                throw new Error(`offline plan: no answer for invoke ${args.token}; add one to plan/mocks.ts`);
        }
    }
}
