/**
 * The shipped stacks' plans, resource for resource: a digest of each resource's URN, type, parent,
 * dependsOn, replacement options and inputs (secrets masked), and of the stack's outputs. A move of
 * code that changes none of them leaves these files as they are; a change that does shows here
 * which resources it touches, and is accepted by updating the files in the same commit
 * (`npx vitest run test/plan-golden.test.ts --update`), where review sees it. For what changed inside a
 * resource: `npm run plan -- --stack <stack> --diff <ref>`.
 */
import { createHash } from "crypto";
import { describe, expect, it } from "vitest";
import { Plan } from "../plan/offline";
import { planStack } from "./helpers/plan";

/** Object keys sorted at every level, so the digest is that of the content, not of its order. */
function canonical(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(canonical);
    if (value && typeof value === "object") return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
    return value;
}

const digest = (value: unknown) => createHash("sha256").update(JSON.stringify(canonical(value))).digest("hex").slice(0, 16);

export function planDigest(plan: Plan): string {
    const lines = plan.resources
        .map(({ urn, type, parent, dependsOn, options, inputs }) => `${digest({ type, parent, dependsOn: [...dependsOn].sort(), options, inputs })} ${urn}`)
        .sort((a, b) => a.slice(17).localeCompare(b.slice(17)));
    return [...lines, `${digest(plan.outputs)} outputs`, ""].join("\n");
}

describe("the shipped stacks' plans", () => {
    for (const stack of ["staging", "prod"]) {
        it(`${stack}: every resource and the outputs as reviewed (a change here is a change to what is deployed)`, async () => {
            const plan = await planStack(stack);
            // The digest must see a change of any input: one input changed gives a different line.
            const instance = plan.resources.find((r) => r.type === "aws:ec2/instance:Instance")!;
            const changed = { ...plan, resources: plan.resources.map((r) => (r === instance ? { ...r, inputs: { ...r.inputs, instanceType: "x1e.32xlarge" } } : r)) };
            expect(planDigest(changed)).not.toBe(planDigest(plan));
            await expect(planDigest(plan)).toMatchFileSnapshot(`fixtures/plan-${stack}.digest`);
        });
    }
});
