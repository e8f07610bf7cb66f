/**
 * `npm run policies -- [--stack <name>] [--stack-file <path>] [--set key=value]... [--config-only]`
 *
 * Runs the policy pack on the resources the real program declares for a stack (the offline plan)
 * with that stack's policy configuration; prints every violation and a final line
 * `N policies, M violations (K mandatory)`. Exit 1 when any is mandatory. --config-only prints the
 * `--policy-pack-config` JSON for `pulumi preview` instead.
 */
import { readArgs } from "./cli-args";
import program from "../index";
import { runOffline } from "../plan/offline";
import { applyOverride, projectName, readStackConfig } from "../plan/stack-config";
import { policyConfig } from "../policies/config";
import { evaluate } from "../policies/evaluate";
import { policies } from "../policies/rules";
import { configSource, readSettings, SettingsError } from "../model/settings";

const USAGE = `usage: npm run policies -- [--stack <name>] [--stack-file <path>] [--set key=value]... [--config-only]

Runs the policy pack on the offline plan of a stack (default staging) with that stack's policy
configuration and prints every violation; exit 1 when any is mandatory. --set overrides a setting
as the plan's does (e.g. --set topology=ecs). --config-only prints the
--policy-pack-config JSON for pulumi preview instead.`;

async function main(): Promise<number> {
    const parsed = readArgs("policies", USAGE, process.argv.slice(2), { stack: { type: "string", default: "staging" }, "stack-file": { type: "string" }, set: { type: "string", multiple: true, default: [] }, "config-only": { type: "boolean", default: false } });
    if (typeof parsed === "number") return parsed;
    const { values } = parsed;
    const stack = values.stack as string;
    const config = readStackConfig(stack, values["stack-file"] as string | undefined);
    for (const o of values.set as string[]) applyOverride(config, o);
    const settings = readSettings(projectName(), stack, configSource(config));
    const pconfig = policyConfig(settings);
    if (values["config-only"]) {
        process.stdout.write(JSON.stringify(pconfig, null, 2) + "\n");
        return 0;
    }
    const plan = await runOffline({ project: projectName(), stack, config, program: program as unknown as () => unknown });
    const violations = await evaluate(policies, plan.resources, pconfig);
    for (const v of violations) console.log(`${v.enforcementLevel.padEnd(9)} ${v.policy}: ${v.message}\n          ${v.urn}`);
    const mandatory = violations.filter((v) => v.enforcementLevel === "mandatory").length;
    console.log(`${policies.length} policies, ${violations.length} violations (${mandatory} mandatory)`);
    return mandatory > 0 ? 1 : 0;
}

main().then(
    (code) => (process.exitCode = code),
    (e) => {
        console.error(e instanceof SettingsError ? e.message : e?.stack ?? e);
        process.exitCode = 1;
    },
);
