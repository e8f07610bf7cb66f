/**
 * Sofia's CrossGuard policies, as plain data so that tests and `npm run policies` can run them on
 * the offline plan without the policy server. policies/index.ts packs them for `pulumi preview`.
 */
import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { isWorldCidr } from "../components/formats";
import { sofiaCatalog } from "../services/catalog";

/** Ports of the data stores, whichever time-series store a stack runs: never open to the world. */
const DATA_STORE_PORTS = new Set([...sofiaCatalog("questdb"), ...sofiaCatalog("timescaledb")].filter((e) => e.kind === "store").flatMap((e) => e.ports.map((p) => p.port)));

function portsOf(rule: { fromPort?: number; toPort?: number; ipProtocol?: string }): (port: number) => boolean {
    if (rule.ipProtocol === "-1") return () => true;
    return (port) => rule.fromPort !== undefined && rule.toPort !== undefined && port >= rule.fromPort && port <= rule.toPort;
}

export const policies: ResourceValidationPolicy[] = [
    {
        name: "ec2-imdsv2-required",
        description: "Instances require IMDSv2 session tokens: IMDSv1 lets any SSRF in Sofia's API read the host role's credentials.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.ec2.Instance, (i, _args, report) => {
            if (i.metadataOptions?.httpTokens !== "required") report("metadataOptions.httpTokens must be \"required\" (IMDSv2).");
        }),
    },
    {
        name: "ec2-detailed-monitoring",
        description: "Instances have detailed (1-minute) monitoring: the runbook checks every 5 minutes, 5-minute data cannot alarm in time.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.ec2.Instance, (i, _args, report) => {
            if (i.monitoring !== true) report("monitoring must be true.");
        }),
    },
    {
        name: "ebs-encrypted",
        description: "Every EBS volume, root and data, is encrypted at rest: it holds market data, positions and credentials.",
        enforcementLevel: "mandatory",
        validateResource: [
            validateResourceOfType(aws.ebs.Volume, (v, _args, report) => {
                if (v.encrypted !== true) report("encrypted must be true.");
            }),
            validateResourceOfType(aws.ec2.Instance, (i, _args, report) => {
                if (i.rootBlockDevice?.encrypted !== true) report("rootBlockDevice.encrypted must be true.");
                for (const d of i.ebsBlockDevices ?? []) if (d.encrypted !== true) report(`ebsBlockDevices ${d.deviceName}: encrypted must be true.`);
            }),
        ],
    },
    {
        name: "sg-no-world-admin-or-data-ports",
        description: "No SSH or data-store port is open to the whole internet: admin access goes through SSM or admin CIDRs, stores stay on loopback.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.vpc.SecurityGroupIngressRule, (r, _args, report) => {
            const cidr = r.cidrIpv4 ?? r.cidrIpv6;
            if (!cidr || !isWorldCidr(cidr)) return;
            const covers = portsOf(r);
            const bad = [22, ...DATA_STORE_PORTS].filter(covers);
            if (bad.length) report(`${cidr} may reach port(s) ${bad.join(", ")}.`);
        }),
    },
    {
        name: "sg-rules-described",
        description: "Every security-group rule says why it exists, so a reviewer can tell an intended opening from a mistake.",
        enforcementLevel: "advisory",
        validateResource: [
            validateResourceOfType(aws.vpc.SecurityGroupIngressRule, (r, _args, report) => {
                if (!r.description?.trim()) report("description is empty.");
            }),
            validateResourceOfType(aws.vpc.SecurityGroupEgressRule, (r, _args, report) => {
                if (!r.description?.trim()) report("description is empty.");
            }),
        ],
    },
];
