/**
 * Stack settings, read and validated in one place at the edge. Nothing else in the program calls
 * `new pulumi.Config()`: components receive the typed `Settings` object built here.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { PlainSettings, SecretSettingName, secretSettings, settingsSchema } from "./settings-schema";
import { reachesInternet } from "../components/formats";
import { AWS_LIMITS } from "../components/aws-limits";

export const NAMESPACE = "sofia";

/** One config value as the engine hands it over. `value` is undefined for a secret nobody can read here. */
export interface ConfigValue {
    value: string | undefined;
    secret: boolean;
}

/** All config of a stack, keyed by full key (`sofia:instanceType`, `aws:region`). */
export type ConfigSource = ReadonlyMap<string, ConfigValue>;

export interface Settings extends PlainSettings {
    project: string;
    stack: string;
    /** `aws:region`, which the AWS provider reads too. */
    region: string;
    /** Zone of the host: `availabilityZone`, or the region's first zone. */
    zone: string;
    /** Secret settings, still secret. Absent when not set. */
    secrets: { [K in SecretSettingName]?: pulumi.Output<string> };
}

/** Every problem found in a stack's settings, one message each, all naming their key. */
export class SettingsError extends Error {
    constructor(
        readonly stackName: string,
        readonly problems: string[],
    ) {
        super(`Invalid settings for stack "${stackName}" (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` + problems.map((p) => `  - ${p}`).join("\n"));
        this.name = "SettingsError";
    }
}

/** Config values arrive as strings; structured values and numbers as JSON text. */
export function parseConfigValue(raw: string): unknown {
    if (/^\s*([[{"]|-?\d|true$|false$|null$)/.test(raw)) {
        try {
            return JSON.parse(raw);
        } catch {
            return raw;
        }
    }
    return raw;
}

function keyOf(path: readonly PropertyKey[]): string {
    return path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : `${acc}.${String(p)}`), NAMESPACE).replace(`${NAMESPACE}.`, `${NAMESPACE}:`);
}

/** Unwraps defaults, optionals and refinements down to the schema that describes values. */
function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
    for (let guard = 0; guard < 10 && !("shape" in (schema as object)); guard++) {
        const def = (schema as { _zod: { def: { innerType?: z.core.$ZodType; in?: z.core.$ZodType } } })._zod.def;
        const next = def.innerType ?? def.in;
        if (!next) break;
        schema = next;
    }
    return schema;
}

/** The (wrapped) schema of the setting at `path`, or undefined when there is none. */
function schemaAt(path: readonly PropertyKey[]): z.core.$ZodType | undefined {
    let schema: z.core.$ZodType = settingsSchema;
    for (const p of path) {
        const shape = (unwrap(schema) as unknown as { shape?: Record<string, z.core.$ZodType> }).shape;
        if (!shape || typeof p !== "string" || !(p in shape)) return undefined;
        schema = shape[p];
    }
    return schema;
}

/** The keys an object schema allows at `path`, for "unknown key" messages. */
function allowedKeysAt(path: readonly PropertyKey[]): string[] {
    const schema = schemaAt(path);
    return Object.keys((schema && (unwrap(schema) as unknown as { shape?: object }).shape) ?? {});
}

function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
    return path.reduce<unknown>((o, k) => (o !== null && typeof o === "object" ? (o as Record<PropertyKey, unknown>)[k] : undefined), obj);
}

/** One message per problem: key, the offending value (as given, not its parent object), what is allowed. */
function describeIssue(issue: z.core.$ZodIssue, given: unknown): string[] {
    const key = keyOf(issue.path);
    if (issue.code === "unrecognized_keys") {
        const allowed = allowedKeysAt(issue.path);
        return issue.keys.map((k) => `${keyOf([...issue.path, k])}: unknown setting (a typo?); allowed here: ${allowed.join(", ")}`);
    }
    if (issue.code === "invalid_key") {
        return [`${key}: ${JSON.stringify(issue.path.at(-1))} is not allowed: ${issue.issues.map((i) => i.message).join("; ")}`];
    }
    // A refinement on an object reports the object as its input; the value at the key is clearer.
    const input = valueAt(given, issue.path) ?? (issue as { input?: unknown }).input;
    if (input === undefined) {
        const schema = schemaAt(issue.path);
        const description = schema && z.globalRegistry.get(schema)?.description;
        return [`${key}: missing; required${description ? `: ${description}` : ""}`];
    }
    let allowed = issue.message.replace(/^Invalid input: /, "");
    if (issue.code === "invalid_value") allowed = `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    return [`${key}: ${JSON.stringify(input)} is not allowed: ${allowed}`];
}

/** Config namespaces read by the providers and the engine, not by this program. */
const READ_ELSEWHERE = ["aws", "docker", "command", "random", "pulumi"];

/** Production stacks: restores must be confirmed by naming them, every policy is mandatory. */
export const PRODUCTION_STACKS = ["prod"];

/** Production's Redis is off the host within 15 minutes unless its settings say otherwise. */
export const PRODUCTION_REDIS_SCHEDULE = "rate(15 minutes)";

/** Prod keeps a month of backups at least, and nobody can delete them early. */
export const PRODUCTION_MIN_RETENTION_DAYS = 30;
function productionBackupGuard(b: PlainSettings["backup"]): string[] {
    const problems: string[] = [];
    if (b.retentionDays < PRODUCTION_MIN_RETENTION_DAYS) problems.push(`${NAMESPACE}:backup.retentionDays: ${b.retentionDays} is not allowed: prod keeps its backups at least ${PRODUCTION_MIN_RETENTION_DAYS} days (the runbook's month)`);
    if (!b.objectLock) problems.push(`${NAMESPACE}:backup.objectLock: false is not allowed: prod's backups must be locked against deletion (Object Lock), so that no credential can delete them early`);
    return problems;
}

/**
 * Public means TLS: the API and UI are served over TLS when any client block reaches across the
 * internet, and always in prod (its clients may sit anywhere).
 */
function publicTlsGuard(stack: string, s: PlainSettings): string[] {
    // On ECS the load balancer serves TLS (ecsGuard), not the proxy.
    if (s.proxy.tlsCertificate || s.proxy.acme || s.topology === "ecs") return [];
    const open = s.clientCidrs.filter(reachesInternet);
    const why = open.length ? `the API and UI would be served to ${open.join(", ")} (addresses on the internet) over plain HTTP` : PRODUCTION_STACKS.includes(stack) ? `${stack} serves its clients over TLS only` : undefined;
    if (!why) return [];
    return [
        `${NAMESPACE}:proxy: ${why}: set proxy.acme.domain and proxy.acme.email (a certificate from Let's Encrypt, obtained and renewed on the host), or proxy.tlsCertificate with the proxyTlsKey secret${open.length && !PRODUCTION_STACKS.includes(stack) ? ", or limit clientCidrs to private ranges" : ""}`,
    ];
}

/**
 * The ECS topology's load balancer serves TLS only (policies: alb-tls-only): from an ACM certificate
 * given by ARN, or one requested for the proxy's DNS name. A PEM in proxy.tlsCertificate is the
 * host's proxy's and is not imported.
 */
function ecsGuard(s: PlainSettings): string[] {
    if (s.topology !== "ecs") return [];
    const problems: string[] = [];
    if (!s.ecs.certificateArn && !s.proxy.acme) problems.push(`${NAMESPACE}:ecs.certificateArn: missing; topology ecs serves clients over TLS only: set ecs.certificateArn (an ACM certificate in this region), or proxy.acme.domain for a certificate ACM issues`);
    // ElastiCache keeps its snapshots 35 days at most: Redis would be kept shorter than promised.
    if (s.backup.retentionDays > ECS_MAX_SNAPSHOT_DAYS) problems.push(`${NAMESPACE}:backup.retentionDays: ${s.backup.retentionDays} is not allowed with topology ecs: ElastiCache keeps Redis' snapshots ${ECS_MAX_SNAPSHOT_DAYS} days at most`);
    return problems;
}

const ECS_MAX_SNAPSHOT_DAYS = AWS_LIMITS.cacheSnapshotRetentionDays.max;

/** A restore into prod must name it; a confirmation must name the stack it is set on. */
function restoreGuard(stack: string, r: PlainSettings["restore"]): string[] {
    const key = `${NAMESPACE}:restore.confirm`;
    if (r.confirm !== undefined && r.confirm !== stack) return [`${key}: ${JSON.stringify(r.confirm)} is not allowed: it must name this stack, "${stack}"`];
    if (r.from !== undefined && PRODUCTION_STACKS.includes(stack) && r.confirm !== stack) {
        return [`${key}: missing; restoring into ${stack} replaces its live data: also run pulumi config set --path restore.confirm ${stack}`];
    }
    return [];
}

/**
 * Validates a stack's config into `Settings`, or throws a `SettingsError` listing every problem.
 * Pure apart from wrapping secrets: tests call it with hand-made sources.
 */
export function readSettings(project: string, stack: string, source: ConfigSource): Settings {
    const problems: string[] = [];
    const plain: Record<string, unknown> = {};
    const secrets: Settings["secrets"] = {};

    for (const [fullKey, { value, secret }] of source) {
        const [ns, key] = fullKey.split(/:(.*)/s, 2);
        if (ns !== NAMESPACE) {
            // A typo of the namespace (`sofa:`) would otherwise leave the setting silently unset.
            if (!READ_ELSEWHERE.includes(ns)) problems.push(`${fullKey}: the namespace "${ns}" is not one this stack reads (${[NAMESPACE, ...READ_ELSEWHERE].join(", ")}); did you mean ${NAMESPACE}:${key ?? ""}?`);
            continue;
        }
        // Own keys only: `toString` is in every object.
        if (Object.hasOwn(secretSettings, key)) {
            const name = key as SecretSettingName;
            if (!secret) {
                problems.push(`${fullKey}: must be set as a secret (pulumi config set --secret ${key} …); a plain value would sit readable in Pulumi.${stack}.yaml`);
                continue;
            }
            const problem = value === undefined ? undefined : secretSettings[name].problem(value);
            if (problem) problems.push(`${fullKey}: [secret] is not allowed: ${problem}`);
            else secrets[name] = pulumi.secret(value ?? "[secret]");
            continue;
        }
        if (secret) {
            problems.push(`${fullKey}: is not a secret setting; set it without --secret (secret settings: ${Object.keys(secretSettings).join(", ")})`);
            continue;
        }
        plain[key] = value === undefined ? undefined : parseConfigValue(value);
    }

    const region = source.get("aws:region")?.value;
    if (region === undefined) problems.push(`aws:region: missing; set the AWS region, e.g. pulumi config set aws:region eu-central-1`);
    else if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region)) problems.push(`aws:region: ${JSON.stringify(region)} is not allowed: expected an AWS region like "eu-central-1"`);

    const parsed = settingsSchema.safeParse(plain, { reportInput: true });
    if (!parsed.success) problems.push(...parsed.error.issues.flatMap((i) => describeIssue(i, plain)));
    if (parsed.success && region && parsed.data.availabilityZone && !parsed.data.availabilityZone.startsWith(region)) {
        problems.push(`${NAMESPACE}:availabilityZone: ${JSON.stringify(parsed.data.availabilityZone)} is not allowed: it must be a zone of aws:region ${region}`);
    }
    if (parsed.success) problems.push(...restoreGuard(stack, parsed.data.restore));
    if (parsed.success && PRODUCTION_STACKS.includes(stack)) problems.push(...productionBackupGuard(parsed.data.backup));
    if (parsed.success && parsed.data.acceptDataLoss !== undefined && parsed.data.acceptDataLoss !== stack) {
        problems.push(`${NAMESPACE}:acceptDataLoss: ${JSON.stringify(parsed.data.acceptDataLoss)} is not allowed: it must name this stack, "${stack}"`);
    }
    // A certificate without its key (or the reverse) would fail inside nginx, on the host.
    const hasKey = source.has(`${NAMESPACE}:proxyTlsKey`);
    if (parsed.success && (parsed.data.proxy.tlsCertificate !== undefined) !== hasKey) {
        problems.push(hasKey ? `${NAMESPACE}:proxy.tlsCertificate: missing; proxyTlsKey is set, so the proxy needs its certificate too` : `${NAMESPACE}:proxyTlsKey: missing; proxy.tlsCertificate is set: pulumi config set --secret proxyTlsKey < key.pem`);
    }
    if (parsed.success) problems.push(...publicTlsGuard(stack, parsed.data), ...ecsGuard(parsed.data));
    if (problems.length > 0 || !parsed.success || !region) throw new SettingsError(stack, problems);

    const backup = { ...parsed.data.backup, redisSchedule: parsed.data.backup.redisSchedule ?? (PRODUCTION_STACKS.includes(stack) ? PRODUCTION_REDIS_SCHEDULE : undefined) };
    return { ...parsed.data, backup, project, stack, region, zone: parsed.data.availabilityZone ?? `${region}a`, secrets };
}

/**
 * What the offline plan puts in place of a `secure:` value it has no key to decrypt: the setting
 * is known to be present and secret, its content is not checked.
 */
export const UNREADABLE_SECRET = "[secret: encrypted, not readable offline]";

/** Config values as the engine (or the offline plan) passes them, with unreadable secrets as unknown. */
export function configSource(values: Iterable<[string, { value: string; secret: boolean }]>): ConfigSource {
    return new Map([...values].map(([key, { value, secret }]) => [key, { value: secret && value === UNREADABLE_SECRET ? undefined : value, secret }]));
}

/** The running stack's settings, from the engine's config (also under the offline plan's mocks). */
export function loadSettings(): Settings {
    // `isConfigSecret` is marked internal in the SDK's typings but is what `Config` itself uses
    // to tell which keys the engine delivered as secrets.
    const { isConfigSecret } = pulumi.runtime as unknown as { isConfigSecret(key: string): boolean };
    const values = Object.entries(pulumi.runtime.allConfig()).map(([key, value]) => [key, { value, secret: isConfigSecret(key) }] as [string, { value: string; secret: boolean }]);
    return readSettings(pulumi.getProject(), pulumi.getStack(), configSource(values));
}
