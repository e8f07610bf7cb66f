/**
 * `npm run plan -- [--stack <name>] [--json] [--set key=value]... [--set-secret key=value]...`
 *
 * The offline plan: the real program, the stack's own Pulumi.<stack>.yaml, no cloud account.
 * Exit 0 with the plan on stdout; 1 with the problems on stderr (invalid settings, bad options).
 */
import { parseArgs } from "util";
import { SettingsError } from "../services/settings";
import { KEEP_STACKS_ENV, runOffline, Plan } from "./offline";
import { renderPlan } from "./render";
import { applyOverride, lastDeployFromFile, projectName, readStackConfig } from "./stack-config";

export const DEFAULT_STACK = "staging";

const USAGE = `usage: npm run plan -- [--stack <name>] [--stack-file <path>] [--json] [--set key=value]... [--set-secret key=value]...
  --stack       stack whose Pulumi.<stack>.yaml is planned (default: ${DEFAULT_STACK})
  --stack-file  plan this file instead of Pulumi.<stack>.yaml (a proposed change, a fork's stack)
  --json        one JSON document: {stack, resources: [{urn, type, name, parent, dependsOn, inputs}], outputs}
  --set         override a setting for this plan only (sofia: namespace by default; dotted keys set nested fields)
  --set-secret  the same, as a secret value
  --first-deploy  plan the stack's first deploy (default: the release in the stack file is taken
                as deployed and verified, so only --set images.<name>=... makes a release deploy)`;

export interface Io {
    out: (s: string) => void;
    err: (s: string) => void;
}

/** The JSON document of `--json`: exactly the fields reviewers and tools rely on. */
export function planJson(plan: Plan): string {
    return JSON.stringify(
        {
            stack: plan.stack,
            resources: plan.resources.map(({ urn, type, name, parent, dependsOn, inputs }) => ({ urn, type, name, parent: parent ?? null, dependsOn, inputs })),
            outputs: plan.outputs,
        },
        null,
        2,
    );
}

export async function main(argv: string[], io: Io): Promise<number> {
    let args;
    try {
        args = parseArgs({
            args: argv,
            options: {
                stack: { type: "string", default: DEFAULT_STACK },
                "stack-file": { type: "string" },
                json: { type: "boolean", default: false },
                set: { type: "string", multiple: true, default: [] },
                "set-secret": { type: "string", multiple: true, default: [] },
                "first-deploy": { type: "boolean", default: false },
                help: { type: "boolean", default: false },
            },
            strict: true,
            allowPositionals: false,
        }).values;
    } catch (e) {
        io.err(`${(e as Error).message}\n${USAGE}\n`);
        return 1;
    }
    if (args.help) {
        io.out(USAGE + "\n");
        return 0;
    }
    const stack = args.stack as string;
    try {
        const file = args["stack-file"] as string | undefined;
        const config = readStackConfig(stack, file);
        const lastOutputs = args["first-deploy"] ? {} : lastDeployFromFile(stack, file);
        for (const s of args.set as string[]) applyOverride(config, s);
        for (const s of args["set-secret"] as string[]) applyOverride(config, s, true);
        // Loaded here, not at the top: the SDK must see the mock runtime before the program loads.
        const program = (await import("../index")).default as unknown as () => unknown;
        const plan = await runOffline({ project: projectName(), stack, config, program, lastOutputs });
        io.out(args.json ? planJson(plan) + "\n" : renderPlan(plan));
        return 0;
    } catch (e) {
        const detail = (e as Error).stack ?? String(e);
        const hint = process.env[KEEP_STACKS_ENV] ? "" : `\n(for the full stack trace: ${KEEP_STACKS_ENV}=1 npm run plan ...)`;
        io.err(e instanceof SettingsError ? `${e.message}\n` : `offline plan of stack "${stack}" failed: ${detail}${hint}\n`);
        return 1;
    }
}
