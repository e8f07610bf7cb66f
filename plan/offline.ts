/**
 * Runs a Pulumi program with the real SDK under the SDK's mock runtime (no engine, no cloud
 * account, no network) and records what it would declare: every resource's URN, type, parent,
 * inputs, and the `dependsOn` of its resource options.
 *
 * The mock monitor does not hand `parent` or `dependsOn` to the mocks, so: the URN and parent are
 * read off each registration request at the monitor, and `dependsOn` is read off the resource
 * options by a stack transformation (DESIGN.md, "Testing in three layers").
 */
import * as pulumi from "@pulumi/pulumi";
import { DEPLOY_ATTEMPT_ENV, DEPLOY_COMMIT_ENV } from "../release/deploy";
import { OfflineMocks } from "./mocks";

/** The deploy attempt and commit an offline plan shows (release/deploy.ts deployAttempt, deployCommit). */
export const OFFLINE_ATTEMPT = "offline-plan";
const OFFLINE_ENV = [DEPLOY_ATTEMPT_ENV, DEPLOY_COMMIT_ENV];

/** What the Pulumi CLI calls the organization of a self-managed (DIY) backend. */
export const OFFLINE_ORGANIZATION = "organization";

// Internal SDK modules: the monitor instance and RPC (de)serialisation are not re-exported.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sdkSettings = require("@pulumi/pulumi/runtime/settings");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sdkRpc = require("@pulumi/pulumi/runtime/rpc");

export const SECRET_MASK = "[secret]";

export interface PlannedResource {
    urn: string;
    /** Pulumi type token, e.g. `aws:ec2/instance:Instance`. */
    type: string;
    name: string;
    /** URN of the parent; undefined only for the stack itself. */
    parent?: string;
    /** URNs named in the resource's `dependsOn` option. */
    dependsOn: string[];
    /** The resource options that change how the engine replaces or deletes it. */
    options: RecordedOptions;
    /** Inputs as the engine would receive them; secrets are replaced by `[secret]`. */
    inputs: Record<string, unknown>;
    custom: boolean;
}

export interface RecordedOptions {
    deleteBeforeReplace?: boolean;
    replaceOnChanges?: string[];
    ignoreChanges?: string[];
    retainOnDelete?: boolean;
    protect?: boolean;
}

const RECORDED_OPTIONS = ["deleteBeforeReplace", "replaceOnChanges", "ignoreChanges", "retainOnDelete", "protect"] as const;

export interface Plan {
    project: string;
    stack: string;
    resources: PlannedResource[];
    /** Stack outputs, secrets replaced by `[secret]`. */
    outputs: Record<string, unknown>;
    /** What the program logged (pulumi.log), as the engine would show it during the update. */
    messages: string[];
}

/** One config value for the run, as the engine would pass it (strings; objects as JSON text). */
export interface RunConfigValue {
    value: string;
    secret: boolean;
}

export interface OfflineRun {
    project: string;
    stack: string;
    /** Full keys (`sofia:instanceType`, `aws:region`). */
    config: ReadonlyMap<string, RunConfigValue>;
    /** The program: what `index.ts` exports. */
    program: () => unknown;
    /** The stack's outputs from its last update (see OfflineMocks); empty or absent: never deployed. */
    lastOutputs?: Record<string, unknown>;
}

/** Replaces every secret (serialized or `Output`-wrapped) by the mask, recursively. */
export function maskSecrets(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(maskSecrets);
    if (value && typeof value === "object") {
        const v = value as Record<string, unknown>;
        if (v[sdkRpc.specialSigKey] === sdkRpc.specialSecretSig) return SECRET_MASK;
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskSecrets(x)]));
    }
    return value;
}

async function urnsOf(dependsOn: unknown): Promise<string[]> {
    const resolved = pulumi.Output.isInstance(dependsOn) ? await (dependsOn as any).promise() : await dependsOn;
    if (resolved === undefined || resolved === null) return [];
    const list: unknown[] = Array.isArray(resolved) ? resolved : [resolved];
    const urns = await Promise.all(list.map(async (r) => (pulumi.Resource.isInstance(r) ? ((await (r.urn as any).promise()) as string) : urnsOf(r))));
    return urns.flat();
}

let running = false;

/**
 * The SDK formats an Error's stack for every promise it creates (debuggablePromise), a debugging
 * aid for the engine that costs an offline plan a third of its time. Stacks are off while the
 * program runs unless SOFIA_PLAN_STACKS is set; errors keep their messages either way.
 */
export const KEEP_STACKS_ENV = "SOFIA_PLAN_STACKS";

/** Runs the program once, offline. Throws whatever the program throws (e.g. a `SettingsError`). */
export async function runOffline(run: OfflineRun): Promise<Plan> {
    if (running) throw new Error("runOffline: one offline run at a time (the Pulumi runtime is process-global)");
    running = true;
    const stackLimit = Error.stackTraceLimit;
    // A plan is not an attempt at a deploy of a commit: the same inputs give the same plan.
    const saved = Object.fromEntries(OFFLINE_ENV.map((k) => [k, process.env[k]]));
    for (const k of OFFLINE_ENV) process.env[k] = process.env[k] || OFFLINE_ATTEMPT;
    const print = { log: console.log, warn: console.warn };
    if (!process.env[KEEP_STACKS_ENV]) Error.stackTraceLimit = 0;
    try {
        const config: Record<string, string> = {};
        const secretKeys: string[] = [];
        for (const [key, { value, secret }] of run.config) {
            config[key] = value;
            if (secret) secretKeys.push(key);
        }
        pulumi.runtime.setAllConfig(config, secretKeys);
        await pulumi.runtime.setMocks(new OfflineMocks(run.config.get("aws:region")?.value ?? "us-east-1", run.lastOutputs), run.project, run.stack, false, OFFLINE_ORGANIZATION);

        const registered = new Map<string, Omit<PlannedResource, "dependsOn" | "options">>();
        const monitor = sdkSettings.getMonitor();
        const register = monitor.registerResource.bind(monitor);
        monitor.registerResource = (req: any, callback: (err: unknown, resp: any) => void) =>
            register(req, (err: unknown, resp: any) => {
                if (!err) {
                    const urn: string = resp.getUrn();
                    registered.set(urn, {
                        urn,
                        type: req.getType(),
                        name: req.getName(),
                        parent: req.getParent() || undefined,
                        inputs: maskSecrets(sdkRpc.deserializeProperties(req.getObject())) as Record<string, unknown>,
                        custom: req.getCustom(),
                    });
                }
                callback(err, resp);
            });

        // Outputs as serialized for the engine: secrets still carry their signature here, whereas
        // the value runInPulumiStack resolves to has them unwrapped.
        const outputs = new Map<string, Record<string, unknown>>();
        const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
        monitor.registerResourceOutputs = (req: any, callback: (err: unknown, resp: any) => void) => {
            outputs.set(req.getUrn(), maskSecrets(sdkRpc.deserializeProperties(req.getOutputs())) as Record<string, unknown>);
            registerOutputs(req, callback);
        };

        // A transformation runs before its resource is registered, so the URN is read afterwards.
        const options: { resource: pulumi.Resource; dependsOn: unknown; recorded: RecordedOptions }[] = [];
        // The program's own error (say, invalid settings) is caught inside the stack and rethrown
        // after it: thrown through the stack, it would also reject promises nobody awaits.
        let programError: { error: unknown } | undefined;
        // Without an engine the SDK prints pulumi.log messages on stdout; they belong in the plan.
        const messages: string[] = [];
        const capture = (write: (...a: unknown[]) => void) => (...a: unknown[]) => {
            const m = typeof a[0] === "string" ? /^(info|warning): \[runtime\] ([\s\S]*)$/.exec(a[0]) : null;
            if (m) messages.push(`${m[1]}: ${m[2]}`);
            else write(...a);
        };
        console.log = capture(print.log);
        console.warn = capture(print.warn);
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((args) => {
                const opts = args.opts as Record<string, unknown>;
                const recorded = Object.fromEntries(RECORDED_OPTIONS.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]])) as RecordedOptions;
                options.push({ resource: args.resource, dependsOn: args.opts.dependsOn, recorded });
                return undefined;
            });
            try {
                return await run.program();
            } catch (error) {
                programError = { error };
                return {};
            }
        });
        await sdkSettings.waitForRPCs();
        Object.assign(console, print);
        if (programError) throw programError.error;
        const byUrn = new Map(
            await Promise.all(options.map(async (o) => [(await (o.resource.urn as any).promise()) as string, { dependsOn: await urnsOf(o.dependsOn), options: o.recorded }] as const)),
        );

        const resources = [...registered.values()].map((r) => ({ ...r, dependsOn: byUrn.get(r.urn)?.dependsOn ?? [], options: byUrn.get(r.urn)?.options ?? {} }));
        const stack = resources.find((r) => r.type === "pulumi:pulumi:Stack");
        return { project: run.project, stack: run.stack, resources, outputs: (stack && outputs.get(stack.urn)) ?? {}, messages };
    } finally {
        Object.assign(console, print);
        Error.stackTraceLimit = stackLimit;
        for (const [k, v] of Object.entries(saved)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
        running = false;
    }
}
