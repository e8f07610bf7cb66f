/** Runs the real program offline for a stack, with optional overrides, as `npm run plan` does. */
import program from "../../index";
import { Plan, PlannedResource, runOffline } from "../../plan/offline";
import { applyOverride, lastDeployFromFile, projectName, readStackConfig } from "../../plan/stack-config";

/**
 * As `npm run plan`: the stack file's release counts as deployed and verified, unless
 * `lastOutputs` says otherwise ({} for a first deploy).
 */
export async function planStack(stack: string, overrides: string[] = [], secretOverrides: string[] = [], lastOutputs?: Record<string, unknown>): Promise<Plan> {
    const config = readStackConfig(stack);
    for (const o of overrides) applyOverride(config, o);
    for (const o of secretOverrides) applyOverride(config, o, true);
    return runOffline({ project: projectName(), stack, config, program: program as unknown as () => unknown, lastOutputs: lastOutputs ?? lastDeployFromFile(stack) });
}

export function ofType(plan: Plan, type: string): PlannedResource[] {
    return plan.resources.filter((r) => r.type === type);
}

export function one(plan: Plan, type: string): PlannedResource {
    const found = ofType(plan, type);
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    return found[0];
}
