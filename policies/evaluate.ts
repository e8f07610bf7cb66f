/**
 * Runs the policies on recorded resources the way the policy server would: same arguments to
 * `validateResource`, violations collected instead of sent. Used on the offline plan.
 */
import { EnforcementLevel, ResourceValidationPolicy } from "@pulumi/policy";
import { PlannedResource } from "../plan/offline";

export interface Violation {
    policy: string;
    enforcementLevel: EnforcementLevel;
    urn: string;
    message: string;
}

function isTypeOf(type: string, resourceClass: unknown): boolean {
    const c = resourceClass as { __pulumiType?: string; isInstance?: (o: unknown) => boolean };
    return c.__pulumiType ? c.__pulumiType === type : c.isInstance?.({ __pulumiType: type }) === true;
}

export async function evaluate(policies: ResourceValidationPolicy[], resources: PlannedResource[]): Promise<Violation[]> {
    const violations: Violation[] = [];
    for (const p of policies) {
        const level = p.enforcementLevel ?? "advisory";
        if (level === "disabled") continue;
        const validations = (Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource]).filter((v) => v !== undefined);
        for (const r of resources) {
            for (const validate of validations) {
                const args = {
                    type: r.type,
                    props: r.inputs,
                    urn: r.urn,
                    name: r.name,
                    opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: {}, additionalSecretOutputs: [] },
                    stackTags: new Map<string, string>(),
                    isType: (cls: unknown) => isTypeOf(r.type, cls),
                    asType: (cls: unknown) => (isTypeOf(r.type, cls) ? r.inputs : undefined),
                    getConfig: () => ({}),
                    notApplicable: (reason?: string) => {
                        throw Object.assign(new Error(reason ?? "not applicable"), { notApplicable: true });
                    },
                };
                try {
                    await validate(args as never, (message: string, urn?: string) => violations.push({ policy: p.name, enforcementLevel: level, urn: urn ?? r.urn, message }));
                } catch (e) {
                    if (!(e as { notApplicable?: boolean }).notApplicable) throw e;
                }
            }
        }
    }
    return violations;
}
