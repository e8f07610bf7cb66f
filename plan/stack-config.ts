/**
 * Reads `Pulumi.<stack>.yaml` the way the Pulumi CLI hands config to a program: every value a
 * string, structured values as JSON text, `secure:` values secret. Ciphertext cannot be decrypted
 * without the stack's secrets provider, so it stands in as UNREADABLE_SECRET, still secret.
 */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { projectRoot } from "../components/project-root";

import { sofiaCatalog } from "../model/catalog";
import { containerFingerprint, storeFingerprint } from "../topology/host/containers";
import { imagesOf, releaseOf } from "../release/deploy";
import { placementOf } from "../topology/host/placement";
import { configSource, NAMESPACE, readSettings, Settings, UNREADABLE_SECRET } from "../model/settings";
import { OFFLINE_ATTEMPT, RunConfigValue } from "./offline";
import { ReadOutputs, VerifiedRelease } from "../release/outputs";

export const PROJECT_DIR = projectRoot();

/** A command-line input that is wrong (a stack, a file, an override, a ref): said in one line, no stack trace. */
export class InputError extends Error {}

/** Pulumi's own rule for stack names: it also keeps a stack file inside the project directory. */
const STACK_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** Object keys that would reach a prototype instead of a field. */
const UNSAFE_KEYS = new Set(["__proto__", "prototype", "constructor"]);

/** The project name from Pulumi.yaml: config keys of the project live under it. */
export function projectName(dir = PROJECT_DIR): string {
    const doc = parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) as { name?: unknown };
    if (typeof doc?.name !== "string") throw new Error("Pulumi.yaml has no project name");
    return doc.name;
}

export function stackFile(stack: string, dir = PROJECT_DIR): string {
    if (!STACK_NAME.test(stack) || stack.startsWith(".")) throw new InputError(`stack name "${stack}" is not allowed: letters, digits, "-", "_" and "." only`);
    return path.join(dir, `Pulumi.${stack}.yaml`);
}

/** The stacks that have a `Pulumi.<stack>.yaml` in the project directory. */
export function knownStacks(dir = PROJECT_DIR): string[] {
    return fs.readdirSync(dir).flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []).sort();
}

function isSecure(v: unknown): v is { secure: string } {
    return !!v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as { secure?: unknown }).secure === "string";
}

/** Replaces `secure:` leaves; reports whether there were any. */
function unsecure(v: unknown): [unknown, boolean] {
    if (isSecure(v)) return [UNREADABLE_SECRET, true];
    if (Array.isArray(v)) {
        const parts = v.map(unsecure);
        return [parts.map(([x]) => x), parts.some(([, s]) => s)];
    }
    if (v && typeof v === "object") {
        const parts = Object.entries(v).map(([k, x]) => [k, ...unsecure(x)] as const);
        return [Object.fromEntries(parts.map(([k, x]) => [k, x])), parts.some(([, , s]) => s)];
    }
    return [v, false];
}

function asConfigString(v: unknown): string {
    return typeof v === "string" ? v : JSON.stringify(v);
}

/** Reads `Pulumi.<stack>.yaml`, or `file` when given (a proposed or forked stack file). */
export function readStackConfig(stack: string, file = stackFile(stack)): Map<string, RunConfigValue> {
    if (!fs.existsSync(file)) {
        throw new InputError(`no stack file ${file}; known stacks: ${knownStacks().join(", ") || "none"}`);
    }
    let doc: { config?: Record<string, unknown> };
    try {
        doc = (parse(fs.readFileSync(file, "utf8")) ?? {}) as typeof doc;
    } catch (e) {
        // A duplicate key, a tab in the indentation: the parser's message names the line.
        throw new InputError(`${file} is not valid YAML: ${(e as Error).message}`);
    }
    if (doc.config !== undefined && (typeof doc.config !== "object" || doc.config === null || Array.isArray(doc.config))) throw new InputError(`${file}: "config" must be a mapping of keys to values`);
    const config = new Map<string, RunConfigValue>();
    for (const [key, raw] of Object.entries(doc.config ?? {})) {
        const [value, secret] = unsecure(raw);
        if (hasNonFinite(value)) throw new InputError(`${file}: ${key} holds NaN or an infinity, which no setting takes (a finite number is needed)`);
        config.set(key, { value: asConfigString(value), secret });
    }
    return config;
}

function hasNonFinite(v: unknown): boolean {
    if (typeof v === "number") return !Number.isFinite(v);
    if (v && typeof v === "object") return Object.values(v).some(hasNonFinite);
    return false;
}

/** `instanceType` and `alarms.staleRatio` are `sofia:` keys; `aws:region` keeps its namespace. */
function splitKey(key: string): [string, string[]] {
    const full = key.includes(":") ? key : `${NAMESPACE}:${key}`;
    const [ns, rest] = full.split(/:(.*)/s, 2);
    const [top, ...pathParts] = rest.split(".");
    return [`${ns}:${top}`, pathParts];
}

/**
 * Applies `key=value` overrides like `pulumi config set [--path] [--secret]`: the value is read as
 * YAML (so `30`, `true`, `[a, b]` keep their types), multi-line text as it is, and a dotted key
 * sets a nested field.
 */
export function applyOverride(config: Map<string, RunConfigValue>, assignment: string, secret = false): void {
    const eq = assignment.indexOf("=");
    // A secret's text is never repeated, even in a mistake.
    if (eq <= 0) throw new InputError(secret ? "--set-secret expects key=value (the value is not shown)" : `--set expects key=value, got "${assignment}"`);
    const [fullKey, pathParts] = splitKey(assignment.slice(0, eq));
    const bad = [fullKey.split(":")[1], ...pathParts].find((p) => UNSAFE_KEYS.has(p) || p === "");
    if (bad !== undefined) throw new InputError(`--set ${assignment.slice(0, eq)}: "${bad}" is not a setting name`);
    const text = assignment.slice(eq + 1);
    // Multi-line text (a PEM certificate) is a string as given: YAML would fold its lines.
    // As pulumi config set keeps it: a value YAML would read as other text (a "#" comment cut off,
    // quotes taken away) stays the text given.
    const parsed: unknown = secret || text.includes("\n") ? text : parse(text);
    const value: unknown = typeof parsed === "string" && parsed !== text.trim() && !/^(['"]).*\1$/.test(text.trim()) ? text : parsed;
    // JSON has no NaN or Infinity: they would reach the settings as null and be reported as that.
    if (hasNonFinite(value)) throw new InputError(`--set ${assignment.slice(0, eq)}: ${JSON.stringify(text)} is not a finite number`);
    if (pathParts.length === 0) {
        config.set(fullKey, { value: asConfigString(value), secret: secret || (config.get(fullKey)?.secret ?? false) });
        return;
    }
    const existing = config.get(fullKey);
    let root: unknown = {};
    if (existing) {
        try {
            root = JSON.parse(existing.value);
        } catch {
            throw new InputError(`--set ${assignment.slice(0, eq)}: ${fullKey} holds text, not a mapping with fields`);
        }
    }
    if (typeof root !== "object" || root === null || Array.isArray(root)) throw new InputError(`--set ${assignment.slice(0, eq)}: ${fullKey} is not a mapping with fields`);
    let node = root as Record<string, any>;
    for (const part of pathParts.slice(0, -1)) {
        if (typeof node[part] !== "object" || node[part] === null || !Object.hasOwn(node, part)) node[part] = {};
        node = node[part];
    }
    node[pathParts[pathParts.length - 1]] = value;
    config.set(fullKey, { value: JSON.stringify(root), secret: secret || (existing?.secret ?? false) });
}

/** A stack's validated settings straight from its stack file (for tools that need no program run). */
export function stackSettings(stack: string, file?: string): Settings {
    return readSettings(projectName(), stack, configSource(readStackConfig(stack, file)));
}

/**
 * What the offline plan takes as the stack's last deploy: the release its stack file holds, as if
 * deployed and verified. A plan with `--set images.<name>=…` then shows a release deploy; one that
 * changes anything else shows none.
 */
export function lastDeployFromFile(stack: string, file?: string): ReadOutputs {
    const s = stackSettings(stack, file);
    const catalog = sofiaCatalog(s.timeseriesStore);
    const verifiedRelease: VerifiedRelease = {
        release: releaseOf(catalog, s.images),
        images: imagesOf(catalog.map((e) => e.name), s.images),
        containers: containerFingerprint(catalog, s),
        stores: storeFingerprint(catalog, s),
        verifiedAt: `(as in ${path.basename(file ?? stackFile(stack))})`,
        // The commit the offline plan stands for (plan/offline.ts): the file's code, as deployed.
        commit: OFFLINE_ATTEMPT,
    };
    return { verifiedRelease, placement: placementOf(s) };
}
