/**
 * What changes between two offline plans of one stack, as `pulumi preview --diff` would show it:
 * resources to create, update (with the changed inputs), replace (with the inputs that force it)
 * and delete; the deploy steps the change triggers; alarms and schedules whose values change; and,
 * first, whatever destroys data or widens access, named as what it is.
 */
import { isDeepStrictEqual } from "util";
import { policyStatements } from "../components/iam";
import { Plan, PlannedResource } from "./offline";
import { ignored, replacementCauses } from "./replacements";
import { startGraph, StartGraph } from "./start-graph";
import { DeploySummary, ReadOutputs } from "../release/outputs";

export type Op = "create" | "update" | "replace" | "delete";
export const OPS: readonly Op[] = ["replace", "delete", "create", "update"];

export interface InputChange {
    path: string;
    /** Absent: the input is new (create) or gone (delete). */
    before?: unknown;
    after?: unknown;
}

export interface ResourceDiff {
    op: Op;
    urn: string;
    type: string;
    name: string;
    /** Changed inputs (update, replace); empty for create and delete. */
    changes: InputChange[];
    /** The changed inputs that force the replacement. */
    causes: string[];
}

export interface Danger {
    op: Op;
    urn: string;
    /** What it does, as an operator would say it. */
    says: string;
}

export interface PlanDiff {
    stack: string;
    /** The ref the stack was planned at, and the commit it named. */
    base: { ref: string; commit: string };
    counts: Record<Op, number>;
    danger: Danger[];
    deploy?: DeploySummary;
    /** Alarms and schedules that change (also counted, not listed again among the resources). */
    watched: ResourceDiff[];
    resources: ResourceDiff[];
    /** Present when the start order changes. */
    startOrder?: { before: StartGraph; after: StartGraph };
    notes: string[];
}

const ALARM_TYPES = new Set(["aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm"]);
const SCHEDULE_TYPES = new Set(["aws:ssm/maintenanceWindow:MaintenanceWindow", "aws:ssm/association:Association", "aws:scheduler/schedule:Schedule", "aws:cloudwatch/eventRule:EventRule"]);

function isObject(v: unknown): v is Record<string, unknown> {
    return !!v && typeof v === "object" && !Array.isArray(v);
}

/** A JSON object or array held in a string (a policy, a dashboard, a document), else undefined. */
function jsonIn(v: unknown): unknown {
    if (typeof v !== "string" || !/^\s*[[{]/.test(v)) return undefined;
    try {
        return JSON.parse(v);
    } catch {
        return undefined;
    }
}

/**
 * Dotted paths (`a.b[2].c`) of the leaves that differ; arrays of a new length count as one leaf.
 * JSON held in strings is compared as data, its paths continuing the input's.
 */
export function changedInputs(before: unknown, after: unknown, path = ""): InputChange[] {
    if (isDeepStrictEqual(before, after)) return [];
    const [jb, ja] = [jsonIn(before), jsonIn(after)];
    if (jb !== undefined && ja !== undefined) return changedInputs(jb, ja, path);
    if (isObject(before) && isObject(after)) {
        const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
        return keys.flatMap((k) => changedInputs(before[k], after[k], path ? `${path}.${k}` : k));
    }
    if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
        return before.flatMap((b, i) => changedInputs(b, after[i], `${path}[${i}]`));
    }
    const change: InputChange = { path };
    if (before !== undefined) change.before = before;
    if (after !== undefined) change.after = after;
    return [change];
}

/** JSON with every object's keys sorted, at every depth: two equal statements give one text. */
function canonical(v: unknown): string {
    if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
    if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
    return JSON.stringify(v);
}

/** Statements of an IAM or resource policy input (a JSON string or an object), canonical. */
function statements(policy: unknown): string[] {
    return policyStatements(policy).map(canonical);
}

/** Whether statement `wide` allows all that `narrow` does: same principal and condition, its actions and resources among wide's. */
function grants(wide: Record<string, unknown>, narrow: Record<string, unknown>): boolean {
    const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)]);
    const among = (a: unknown, b: unknown) => list(a).every((x) => list(b).includes(x) || list(b).includes("*"));
    return (
        wide.Effect === "Allow" &&
        canonical(wide.Principal) === canonical(narrow.Principal) &&
        canonical(wide.Condition) === canonical(narrow.Condition) &&
        narrow.NotAction === undefined && narrow.NotResource === undefined &&
        among(narrow.Action, wide.Action) &&
        among(narrow.Resource, wide.Resource)
    );
}

function describeStatement(text: string): string {
    try {
        const s = JSON.parse(text) as Record<string, unknown>;
        const list = (v: unknown) => (Array.isArray(v) ? v.join(", ") : String(v));
        const who = s.Principal === undefined ? "" : ` for ${JSON.stringify(s.Principal)}`;
        const when = s.Condition === undefined ? "" : ` when ${JSON.stringify(s.Condition)}`;
        return `${s.Effect} ${list(s.Action ?? s.NotAction)} on ${list(s.Resource ?? s.NotResource ?? "*")}${who}${when}`;
    } catch {
        return text;
    }
}

function ports(inputs: Record<string, unknown>): string[] {
    const list = Array.isArray(inputs.ports) ? (inputs.ports as Record<string, unknown>[]) : [];
    return list.map((p) => `${p.ip ?? "0.0.0.0"}:${p.external ?? p.internal}->${p.internal}/${p.protocol ?? "tcp"}`);
}

const VERB: Record<Op, string> = { create: "creates", update: "changes", replace: "replaces", delete: "deletes" };

/** What in this change destroys data or widens access, or nothing. */
function dangerOf(d: ResourceDiff, before: PlannedResource | undefined, after: PlannedResource | undefined, existingBuckets: ReadonlySet<unknown> = new Set()): string[] {
    const r = (after ?? before)!;
    const destroys = d.op === "replace" || d.op === "delete";
    const because = d.causes.length ? ` (because of ${d.causes.join(", ")})` : "";
    const protect = r.options?.protect ? "; it is protected, so the update stops there until the protection is lifted" : "";
    const found: string[] = [];
    if (destroys && r.type === "aws:ebs/volume:Volume") found.push(`${VERB[d.op]} the data volume ${r.name}${because}: every store on it is lost unless restored${protect}`);
    if (destroys && r.type === "aws:s3/bucket:Bucket") found.push(`${VERB[d.op]} the backup bucket ${r.name}${because}: every backup in it is lost${protect}`);
    if (d.op === "replace" && r.type === "aws:ec2/instance:Instance") found.push(`replaces the host ${r.name}${because}: the services are down until the new host has booted and started them; what is on its root volume is lost (the data volume is moved over)`);
    // Gone from the program, a resource the stack recorded with retainOnDelete is dropped from the stack, not deleted: the engine reads the option from the old state.
    const kept = d.op === "delete" && before?.options?.retainOnDelete === true;
    if (destroys && r.type === "docker:index/volume:Volume")
        found.push(kept ? `drops the Docker volume ${String(r.inputs.name ?? r.name)} from the stack: it stays on the host with what is stored in it (retainOnDelete); remove it by hand once nothing needs it` : `${VERB[d.op]} the Docker volume ${String(r.inputs.name ?? r.name)}${because}: what is stored in it is lost unless restored`);
    if (r.type.startsWith("aws:vpc/securityGroup") && d.op !== "delete") {
        const rule = after!.inputs;
        const reach = ["ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"];
        if (d.op === "create" || d.changes.some((c) => reach.includes(c.path))) {
            const way = r.type.includes("Ingress") ? "opens" : "allows egress of";
            const range = rule.fromPort === undefined ? "all ports" : rule.fromPort === rule.toPort ? `port ${rule.fromPort}` : `ports ${rule.fromPort}-${rule.toPort}`;
            const to = rule.cidrIpv4 ?? rule.cidrIpv6 ?? rule.prefixListId ?? rule.referencedSecurityGroupId;
            found.push(`${way} ${rule.ipProtocol} ${range} ${r.type.includes("Ingress") ? "to" : "towards"} ${to} (${r.name})`);
        }
    }
    for (const field of ["policy", "assumeRolePolicy"]) {
        const kind = field === "policy" ? "policy" : "trust";
        const was = statements(before?.inputs[field]);
        const now = d.op === "delete" ? [] : statements(after?.inputs[field]);
        // New Allows not already granted by an old statement (a narrowed statement is not new access).
        const added = now.filter((x) => !was.includes(x) && JSON.parse(x).Effect !== "Deny" && !was.some((o) => grants(JSON.parse(o), JSON.parse(x))));
        if (added.length) found.push(`adds ${kind} statements to ${r.name} (${r.type.split(":").pop()}): ${added.map(describeStatement).join("; ")}`);
        // A Deny taken away (the bucket's TLS-only rule, say) opens what it closed.
        const lifted = was.filter((x) => !now.includes(x) && JSON.parse(x).Effect === "Deny");
        if (lifted.length) found.push(`removes Deny statements from ${r.name} (${r.type.split(":").pop()}): ${lifted.map(describeStatement).join("; ")}`);
    }
    found.push(...weakened(d, r, before, after, existingBuckets));
    if (r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" && d.op !== "delete" && (d.op === "create" || d.causes.includes("policyArn"))) {
        found.push(`attaches the managed policy ${after!.inputs.policyArn} to ${r.name}`);
    }
    if (r.type === "docker:index/container:Container" && after) {
        const had = new Set(before ? ports(before.inputs) : []);
        const opened = ports(after.inputs).filter((p) => !had.has(p));
        if (opened.length) found.push(`publishes ${opened.join(", ")} from container ${String(after.inputs.name ?? r.name)} on the host`);
    }
    return found;
}

/** A leaf's value in a resource's inputs, by dotted path (`a.b`). */
function at(r: PlannedResource | undefined, path: string): unknown {
    return path.split(".").reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), r?.inputs);
}

/** Smallest expiration (days) any lifecycle rule sets, or undefined. */
function shortestExpiry(r: PlannedResource | undefined): number | undefined {
    const rules = Array.isArray(r?.inputs.rules) ? (r!.inputs.rules as Record<string, unknown>[]) : [];
    const days = rules.flatMap((x) => [at({ inputs: x } as PlannedResource, "expiration.days"), at({ inputs: x } as PlannedResource, "noncurrentVersionExpiration.noncurrentDays")]).filter((n): n is number => typeof n === "number");
    return days.length ? Math.min(...days) : undefined;
}

/** Protections taken away: guards on data, on the bucket and on the host and its containers. */
function weakened(d: ResourceDiff, r: PlannedResource, before: PlannedResource | undefined, after: PlannedResource | undefined, existingBuckets: ReadonlySet<unknown>): string[] {
    const found: string[] = [];
    const name = `${r.name} (${r.type.split(":").pop()})`;
    for (const opt of ["protect", "retainOnDelete"] as const) {
        if (!before?.options?.[opt]) continue;
        // Gone from the program, the old state's options hold: a protected resource stops the update; a retained one is left in place.
        if (d.op === "delete") {
            if (opt === "protect") found.push(`deletes the protected ${name}: the update stops there until the protection is lifted (pulumi state unprotect)`);
        } else if (!(after?.options?.[opt] ?? false)) found.push(`takes ${opt} off ${name}: the engine may now delete it`);
    }
    const became = (path: string, bad: (v: unknown) => boolean) => after !== undefined && bad(at(after, path)) && !bad(at(before, path));
    switch (r.type) {
        case "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
            if (d.op === "delete") found.push(`deletes the public access block of the bucket (${r.name}): the bucket can be made public`);
            for (const f of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) if (became(f, (v) => v !== true)) found.push(`turns ${f} off on ${name}`);
            break;
        case "aws:s3/bucket:Bucket":
            if (became("forceDestroy", (v) => v === true)) found.push(`sets forceDestroy on ${name}: deleting the bucket deletes every backup in it`);
            break;
        case "aws:s3/bucketVersioning:BucketVersioning":
            if (d.op === "delete" || became("versioningConfiguration.status", (v) => v !== "Enabled")) found.push(`suspends versioning of the backup bucket (${r.name}): an overwritten or deleted backup is gone`);
            break;
        case "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration":
            if (d.op === "delete") found.push(`deletes the Object Lock configuration of the backup bucket (${r.name}): new backups can be deleted at once`);
            break;
        case "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": {
            const [was, now] = [shortestExpiry(before), shortestExpiry(after)];
            // A new bucket's first rules expire nothing that was kept before; a bucket that kept its
            // objects forever and now gets rules does.
            const keptBefore = before !== undefined || existingBuckets.has(after?.inputs.bucket);
            if (keptBefore && now !== undefined && (was === undefined || now < was)) found.push(`expires backups sooner (${name}): after ${now} days${was === undefined ? "" : `, not ${was}`}`);
            break;
        }
        case "aws:ec2/instance:Instance":
            if (became("metadataOptions.httpTokens", (v) => v !== "required")) found.push(`allows IMDSv1 on ${name}: any request forgery on the host can read its credentials`);
            if (d.op === "update" && d.changes.some((c) => c.path === "instanceType" || c.path === "userData" || c.path.startsWith("userData"))) found.push(`stops and starts the host ${r.name} (${d.changes.map((c) => c.path).filter((p) => p === "instanceType" || p.startsWith("userData")).join(", ")}): the services are down meanwhile`);
            break;
        case "docker:index/container:Container": {
            const c = String(at(after ?? before, "name") ?? r.name);
            if (became("privileged", (v) => v === true)) found.push(`makes container ${c} privileged: it can take the host`);
            if (became("networkMode", (v) => v === "host")) found.push(`puts container ${c} on the host's network`);
            const mounts = (x: PlannedResource | undefined) => (Array.isArray(x?.inputs.volumes) ? (x!.inputs.volumes as Record<string, unknown>[]).map((v) => String(v.hostPath ?? "")) : []);
            if (mounts(after).some((m) => /docker\.sock$/.test(m)) && !mounts(before).some((m) => /docker\.sock$/.test(m))) found.push(`mounts the Docker socket into container ${c}: it can take the host`);
            break;
        }
        case "random:index/randomPassword:RandomPassword":
            if (d.op === "replace") found.push(`replaces the generated password ${r.name}: every client of that store must be restarted with the new one`);
            break;
    }
    return found;
}

/** Sorted by operation, then type and name, so that two runs of one change print the same diff. */
function order(a: ResourceDiff, b: ResourceDiff): number {
    return OPS.indexOf(a.op) - OPS.indexOf(b.op) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name);
}

export function diffPlans(base: Plan, head: Plan, ref: { ref: string; commit: string }, notes: string[] = []): PlanDiff {
    const before = new Map(base.resources.filter((r) => r.custom).map((r) => [r.urn, r]));
    const after = new Map(head.resources.filter((r) => r.custom).map((r) => [r.urn, r]));
    const all: ResourceDiff[] = [];
    const danger: Danger[] = [];
    // Buckets the base already had, by the name their settings resources give them.
    const existingBuckets = new Set([...before.values()].filter((r) => r.type.startsWith("aws:s3/bucket") && r.type !== "aws:s3/bucket:Bucket").map((r) => r.inputs.bucket));
    for (const urn of [...new Set([...before.keys(), ...after.keys()])]) {
        const b = before.get(urn);
        const a = after.get(urn);
        const r = (a ?? b)!;
        let d: ResourceDiff;
        if (!b) d = { op: "create", urn, type: r.type, name: r.name, changes: [], causes: [] };
        else if (!a) d = { op: "delete", urn, type: r.type, name: r.name, changes: [], causes: [] };
        else {
            // Resource options are what the engine may do: a guard taken off is a change.
            const changes = [...changedInputs(b.inputs, a.inputs).filter((c) => !ignored(a.options ?? {}, c.path)), ...changedInputs(b.options ?? {}, a.options ?? {}).map((c) => ({ ...c, path: `(option) ${c.path}` }))];
            if (changes.length === 0) continue;
            const causes = replacementCauses(r.type, changes.map((c) => c.path).filter((p) => !p.startsWith("(option)")), a.options);
            d = { op: causes.length ? "replace" : "update", urn, type: r.type, name: r.name, changes, causes };
        }
        all.push(d);
        for (const says of dangerOf(d, b, a, existingBuckets)) danger.push({ op: d.op, urn, says });
    }
    all.sort(order);
    const counts = Object.fromEntries(OPS.map((op) => [op, all.filter((d) => d.op === op).length])) as Record<Op, number>;
    // Alarms, and resources that run on a schedule (an association without one runs on change only).
    const scheduled = (d: ResourceDiff) => SCHEDULE_TYPES.has(d.type) && (d.type !== "aws:ssm/association:Association" || [before.get(d.urn), after.get(d.urn)].some((r) => r?.inputs.scheduleExpression !== undefined));
    const watched = all.filter((d) => ALARM_TYPES.has(d.type) || scheduled(d));
    const graphs = { before: startGraph(base), after: startGraph(head) };
    return {
        stack: head.stack,
        base: ref,
        counts,
        danger,
        deploy: (head.outputs as ReadOutputs).deploy,
        watched,
        resources: all.filter((d) => !watched.includes(d)),
        startOrder: isDeepStrictEqual(graphs.before, graphs.after) ? undefined : graphs,
        notes,
    };
}
