/**
 * `npm run plan -- [--stack <name>] [--json] [--set key=value]... [--set-secret key=value]...`
 *
 * The offline plan: the real program, the stack's own Pulumi.<stack>.yaml, no cloud account.
 * Exit 0 with the plan on stdout; 1 with the problems on stderr (invalid settings, bad options).
 */
import { readArgs } from "./cli-args";
import { SettingsError } from "../model/settings";
import { planAtRef } from "../plan/at-ref";
import { diffPlans } from "../plan/diff";
import { renderDiff } from "../plan/diff-render";
import { KEEP_STACKS_ENV, runOffline, Plan } from "../plan/offline";
import { renderPlan } from "../plan/render";
import { applyOverride, InputError, lastDeployFromFile, projectName, readStackConfig } from "../plan/stack-config";

export const DEFAULT_STACK = "staging";

const USAGE = `usage: npm run plan -- [--stack <name>] [--stack-file <path>] [--diff <git-ref>] [--json] [--set key=value]... [--set-secret key=value]...
  --diff        what changes against the stack as of <git-ref> (its own program and stack file, in a
                temporary worktree), as pulumi preview --diff would show it: danger first (data
                destroyed, access widened), the deploy it triggers, alarms and schedules, resources
  --stack       stack whose Pulumi.<stack>.yaml is planned (default: ${DEFAULT_STACK})
  --stack-file  plan this file instead of Pulumi.<stack>.yaml (a proposed change, a fork's stack)
  --json        one JSON document: {stack, resources: [{urn, type, name, parent, custom, dependsOn, options, inputs}], outputs};
                with --diff, the diff as data
  --set         override a setting for this plan only (sofia: namespace by default; dotted keys set nested fields)
  --set-secret  the same, as a secret value
  --first-deploy  plan the stack's first deploy (default: the release in the stack file is taken
                as deployed and verified, so only --set images.<name>=... makes a release deploy)
  -h, --help    this text`;

export interface Io {
    out: (s: string) => void;
    err: (s: string) => void;
}

/** The JSON document of `--json`: exactly the fields reviewers and tools rely on. */
export function planJson(plan: Plan): string {
    return JSON.stringify(
        {
            stack: plan.stack,
            resources: plan.resources.map(({ urn, type, name, parent, custom, dependsOn, options, inputs }) => ({ urn, type, name, parent: parent ?? null, custom, dependsOn, options, inputs })),
            outputs: plan.outputs,
        },
        null,
        2,
    );
}

export async function main(argv: string[], io: Io): Promise<number> {
    const parsed = readArgs(
        "plan",
        USAGE,
        argv,
        {
            stack: { type: "string", default: DEFAULT_STACK },
            "stack-file": { type: "string" },
            json: { type: "boolean", default: false },
            diff: { type: "string" },
            set: { type: "string", multiple: true, default: [] },
            "set-secret": { type: "string", multiple: true, default: [] },
            "first-deploy": { type: "boolean", default: false },
        },
        false,
        { out: (s) => io.out(`${s}\n`), err: (s) => io.err(`${s}\n`) },
    );
    if (typeof parsed === "number") return parsed;
    const args = parsed.values;
    const stack = args.stack as string;
    try {
        const file = args["stack-file"] as string | undefined;
        const config = readStackConfig(stack, file);
        for (const s of args.set as string[]) applyOverride(config, s);
        for (const s of args["set-secret"] as string[]) applyOverride(config, s, true);
        const ref = args.diff as string | undefined;
        // Against a ref, the stack is taken as running what the ref verified: the deploy this
        // change triggers is the one the next update after the ref's would run.
        const base = ref === undefined ? undefined : planAtRef(ref, stack, projectName());
        const lastOutputs = args["first-deploy"] ? {} : base ? base.plan.outputs : lastDeployFromFile(stack, file);
        // Loaded here, not at the top: the SDK must see the mock runtime before the program loads.
        const program = (await import("../index")).default as unknown as () => unknown;
        const plan = await runOffline({ project: projectName(), stack, config, program, lastOutputs });
        if (base && ref !== undefined) {
            // The program's warnings (a guard switched off, say) belong in front of the reviewer.
            const diff = diffPlans(base.plan, plan, { ref, commit: base.commit }, [...base.notes, ...plan.messages.filter((m) => m.startsWith("warning:"))]);
            io.out(args.json ? JSON.stringify(diff, null, 2) + "\n" : renderDiff(diff));
            return 0;
        }
        io.out(args.json ? planJson(plan) + "\n" : renderPlan(plan));
        return 0;
    } catch (e) {
        const detail = (e as Error).stack ?? String(e);
        const hint = process.env[KEEP_STACKS_ENV] ? "" : `\n(for the full stack trace: ${KEEP_STACKS_ENV}=1 npm run plan ...)`;
        io.err(e instanceof SettingsError || e instanceof InputError ? `${e.message}\n` : `offline plan of stack "${stack}" failed: ${detail}${hint}\n`);
        return 1;
    }
}
