import { describe, expect, it } from "vitest";
import { evaluate } from "../policies/evaluate";
import { policies } from "../policies/rules";
import { PlannedResource } from "../plan/offline";
import { planStack } from "./helpers/plan";

/** A hand-built resource as the plan records it. */
function resource(type: string, inputs: Record<string, unknown>, name = "r"): PlannedResource {
    return { urn: `urn:pulumi:t::sofia::${type}::${name}`, type, name, dependsOn: [], options: {}, inputs, custom: true };
}

const INSTANCE = "aws:ec2/instance:Instance";
const VOLUME = "aws:ebs/volume:Volume";
const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const goodInstance = { metadataOptions: { httpTokens: "required" }, monitoring: true, rootBlockDevice: { encrypted: true } };

async function violated(r: PlannedResource): Promise<string[]> {
    return (await evaluate(policies, [r])).map((v) => v.policy).sort();
}

describe("each policy on hand-built resources", () => {
    const cases: [string, PlannedResource, PlannedResource][] = [
        ["ec2-imdsv2-required", resource(INSTANCE, goodInstance), resource(INSTANCE, { ...goodInstance, metadataOptions: { httpTokens: "optional" } })],
        ["ec2-detailed-monitoring", resource(INSTANCE, goodInstance), resource(INSTANCE, { ...goodInstance, monitoring: false })],
        ["ebs-encrypted", resource(VOLUME, { encrypted: true }), resource(VOLUME, { encrypted: false })],
        ["ebs-encrypted", resource(INSTANCE, goodInstance), resource(INSTANCE, { ...goodInstance, rootBlockDevice: {} })],
        [
            "sg-no-world-admin-or-data-ports",
            resource(INGRESS, { ipProtocol: "tcp", fromPort: 8013, toPort: 8013, cidrIpv4: "0.0.0.0/0", description: "api" }),
            resource(INGRESS, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv4: "0.0.0.0/0", description: "redis" }),
        ],
        [
            "sg-no-world-admin-or-data-ports",
            resource(INGRESS, { ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "192.0.2.7/32", description: "admin" }),
            resource(INGRESS, { ipProtocol: "-1", cidrIpv6: "::/0", description: "everything" }),
        ],
        ["sg-rules-described", resource(INGRESS, { ipProtocol: "tcp", fromPort: 8013, toPort: 8013, cidrIpv4: "10.0.0.0/8", description: "api" }), resource(INGRESS, { ipProtocol: "tcp", fromPort: 8013, toPort: 8013, cidrIpv4: "10.0.0.0/8" })],
    ];
    for (const [policy, good, bad] of cases) {
        it(`${policy}: passes ${good.type.split(":").pop()} that complies, flags one that does not`, async () => {
            expect(await violated(good)).not.toContain(policy);
            expect(await violated(bad)).toContain(policy);
        });
    }

    it("names every policy with a description and an enforcement level", () => {
        for (const p of policies) {
            expect(p.name).toMatch(/^[a-z0-9-]+$/);
            expect(p.description.length).toBeGreaterThan(30);
            expect(["advisory", "mandatory", "remediate"]).toContain(p.enforcementLevel);
        }
    });
});

describe("the pack on the real program", () => {
    for (const stack of ["staging", "prod"]) {
        it(`${stack}: no violation`, async () => {
            const plan = await planStack(stack);
            expect(await evaluate(policies, plan.resources)).toEqual([]);
        });
    }
});
