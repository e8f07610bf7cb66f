/** Runs the real program offline for a stack, with optional overrides, as `npm run plan` does. */
import { gunzipSync } from "zlib";
import program from "../../index";
import { Plan, PlannedResource, runOffline } from "../../plan/offline";
import { applyOverride, lastDeployFromFile, projectName, readStackConfig } from "../../plan/stack-config";

/**
 * As `npm run plan`: the stack file's release counts as deployed and verified, unless
 * `lastOutputs` says otherwise ({} for a first deploy).
 */
export async function planStack(stack: string, overrides: string[] = [], secretOverrides: string[] = [], lastOutputs?: Record<string, unknown>): Promise<Plan> {
    // The same arguments and environment give the same plan (the program is deterministic under the
    // mocks; a deploy's attempt and commit come from the environment): one run per test file, and
    // each caller gets its own copy, free to change it.
    const key = JSON.stringify([stack, overrides, secretOverrides, lastOutputs ?? null, process.env]);
    let planned = plans.get(key);
    if (!planned) {
        const config = readStackConfig(stack);
        for (const o of overrides) applyOverride(config, o);
        for (const o of secretOverrides) applyOverride(config, o, true);
        planned = runOffline({ project: projectName(), stack, config, program: program as unknown as () => unknown, lastOutputs: lastOutputs ?? lastDeployFromFile(stack) });
        plans.set(key, planned);
        // A refused plan is not kept: the next caller sees the refusal again, from a fresh run.
        planned.catch(() => plans.delete(key));
    }
    return structuredClone(await planned);
}

const plans = new Map<string, Promise<Plan>>();

export function ofType(plan: Plan, type: string): PlannedResource[] {
    return plan.resources.filter((r) => r.type === type);
}

export function one(plan: Plan, type: string): PlannedResource {
    const found = ofType(plan, type);
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    return found[0];
}

/** The host files the plan's installer documents would write: path, mode and content of each, and its part (other documents are left out). */
export function installedFiles(plan: Plan): { path: string; mode: string; content: string; part: string }[] {
    return ofType(plan, "aws:ssm/document:Document").flatMap((doc) => {
        const script = JSON.parse(doc.inputs.content as string).mainSteps[0].inputs.runCommand[0] as string;
        const payload = /<<'EOF'\n([\s\S]*?)\nEOF\n/.exec(script);
        if (!payload) return [];
        const all = gunzipSync(Buffer.from(payload[1].replace(/\n/g, ""), "base64"));
        return [...script.matchAll(/^ {2}"(\/\S+) (0[0-7]{3}) [0-9a-f]{64} (\d+) (\d+)"$/gm)].map((m) => ({
            path: m[1],
            mode: m[2],
            content: all.subarray(Number(m[3]), Number(m[3]) + Number(m[4])).toString("utf8"),
            part: doc.name.replace(/^sofia-host-files-|-document$/g, ""),
        }));
    });
}
