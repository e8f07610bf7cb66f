/**
 * Runs the policies on recorded resources the way the policy server would: the same arguments to
 * `validateResource` and `validateStack`, config merged over each policy's schema defaults,
 * enforcement levels from the config; violations collected instead of sent.
 */
import { EnforcementLevel, PolicyResource } from "@pulumi/policy";
import { PlannedResource } from "../plan/offline";
import { PolicyConfig } from "./config";
import { SofiaPolicy } from "./rules";

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

function levelOf(p: SofiaPolicy, config: PolicyConfig): EnforcementLevel {
    const own = config[p.name];
    if (typeof own === "string") return own;
    if (own && typeof own === "object" && typeof own.enforcementLevel === "string") return own.enforcementLevel as EnforcementLevel;
    return config.all ?? p.enforcementLevel ?? "advisory";
}

function configOf(p: SofiaPolicy, config: PolicyConfig): Record<string, unknown> {
    const defaults = Object.fromEntries(Object.entries(p.configSchema?.properties ?? {}).map(([k, v]) => [k, (v as { default?: unknown }).default]));
    const own = config[p.name];
    return { ...defaults, ...(own && typeof own === "object" ? own : {}) };
}

const NOT_APPLICABLE = Symbol("not applicable");

/** The resources as policies see them: props, options, parent links and type helpers. */
function policyResources(resources: PlannedResource[]): PolicyResource[] {
    const byUrn = new Map<string, PolicyResource>();
    for (const r of resources) {
        byUrn.set(r.urn, {
            type: r.type,
            props: r.inputs,
            urn: r.urn,
            name: r.name,
            opts: { protect: r.options.protect ?? false, ignoreChanges: r.options.ignoreChanges ?? [], deleteBeforeReplace: r.options.deleteBeforeReplace, aliases: [], additionalSecretOutputs: [], customTimeouts: {} } as never,
            dependencies: [],
            propertyDependencies: {},
            isType: ((cls: unknown) => isTypeOf(r.type, cls)) as never,
            asType: ((cls: unknown) => (isTypeOf(r.type, cls) ? r.inputs : undefined)) as never,
        });
    }
    // A parent outside the given resources still links its children (as the engine's always would).
    const stub = (urn: string) => ({ urn, type: urn.split("::")[2]?.split("$").pop() ?? "", name: urn.split("::").pop() ?? "", props: {}, dependencies: [], propertyDependencies: {} }) as unknown as PolicyResource;
    for (const r of resources) if (r.parent) byUrn.get(r.urn)!.parent = byUrn.get(r.parent) ?? stub(r.parent);
    return [...byUrn.values()];
}

export async function evaluate(policies: SofiaPolicy[], resources: PlannedResource[], config: PolicyConfig = {}): Promise<Violation[]> {
    const violations: Violation[] = [];
    const all = policyResources(resources);
    for (const p of policies) {
        const level = levelOf(p, config);
        if (level === "disabled") continue;
        const common = {
            stackTags: new Map<string, string>(),
            getConfig: () => configOf(p, config),
            notApplicable: () => {
                throw NOT_APPLICABLE;
            },
        };
        const run = async (fn: () => unknown) => {
            try {
                await fn();
            } catch (e) {
                if (e !== NOT_APPLICABLE) throw e;
            }
        };
        if ("validateStack" in p && p.validateStack) {
            await run(() => p.validateStack!({ resources: all, ...common } as never, (message: string, urn?: string) => violations.push({ policy: p.name, enforcementLevel: level, urn: urn ?? "", message })));
            continue;
        }
        const rp = p as { validateResource?: unknown };
        const validations = (Array.isArray(rp.validateResource) ? rp.validateResource : [rp.validateResource]).filter((v) => v !== undefined) as ((a: unknown, r: unknown) => unknown)[];
        for (const r of all) {
            for (const validate of validations) {
                await run(() => validate({ ...r, ...common }, (message: string, urn?: string) => violations.push({ policy: p.name, enforcementLevel: level, urn: urn ?? r.urn, message })));
            }
        }
    }
    return violations;
}
