/**
 * What changes between two offline plans of one stack, as `pulumi preview --diff` would show it:
 * resources to create, update (with the changed inputs), replace (with the inputs that force it)
 * and delete; the deploy steps the change triggers; alarms and schedules whose values change; and,
 * first, whatever destroys data or widens access, named as what it is.
 */
import { isDeepStrictEqual } from "util";
import { Plan, PlannedResource } from "./offline";
import { replacementCauses } from "./replacements";
import { startGraph, StartGraph } from "./start-graph";

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

export interface DeploySummary {
    kind: string;
    steps: string[];
    changes: string[];
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

/** Statements of an IAM or resource policy input (a JSON string or an object). */
function statements(policy: unknown): string[] {
    let doc = policy;
    if (typeof doc === "string") {
        try {
            doc = JSON.parse(doc);
        } catch {
            return [doc as string];
        }
    }
    const list = isObject(doc) ? doc.Statement : undefined;
    const all = Array.isArray(list) ? list : list === undefined ? [] : [list];
    return all.map((s) => JSON.stringify(s, Object.keys(s as object).sort()));
}

function describeStatement(text: string): string {
    try {
        const s = JSON.parse(text) as Record<string, unknown>;
        const list = (v: unknown) => (Array.isArray(v) ? v.join(", ") : String(v));
        const who = s.Principal === undefined ? "" : ` for ${JSON.stringify(s.Principal)}`;
        return `${s.Effect} ${list(s.Action ?? s.NotAction)} on ${list(s.Resource ?? s.NotResource ?? "*")}${who}`;
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
function dangerOf(d: ResourceDiff, before: PlannedResource | undefined, after: PlannedResource | undefined): string[] {
    const r = (after ?? before)!;
    const destroys = d.op === "replace" || d.op === "delete";
    const because = d.causes.length ? ` (because of ${d.causes.join(", ")})` : "";
    const protect = r.options?.protect ? "; it is protected, so the update stops there until the protection is lifted" : "";
    const found: string[] = [];
    if (destroys && r.type === "aws:ebs/volume:Volume") found.push(`${VERB[d.op]} the data volume ${r.name}${because}: every store on it is lost unless restored${protect}`);
    if (destroys && r.type === "aws:s3/bucket:Bucket") found.push(`${VERB[d.op]} the backup bucket ${r.name}${because}: every backup in it is lost${protect}`);
    if (d.op === "replace" && r.type === "aws:ec2/instance:Instance") found.push(`replaces the host ${r.name}${because}: the services are down until the new host has booted and started them; what is on its root volume is lost (the data volume is moved over)`);
    if (destroys && r.type === "docker:index/volume:Volume") found.push(`${VERB[d.op]} the Docker volume ${String(r.inputs.name ?? r.name)}${because}: what is stored in it is lost unless restored`);
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
        if (d.op === "delete" || !after || after.inputs[field] === undefined) continue;
        const had = new Set(statements(before?.inputs[field]));
        const added = statements(after.inputs[field]).filter((s) => !had.has(s));
        if (added.length) found.push(`adds ${field === "policy" ? "policy" : "trust"} statements to ${r.name} (${r.type.split(":").pop()}): ${added.map(describeStatement).join("; ")}`);
    }
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

/** Sorted by operation, then type and name, so that two runs of one change print the same diff. */
function order(a: ResourceDiff, b: ResourceDiff): number {
    return OPS.indexOf(a.op) - OPS.indexOf(b.op) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name);
}

export function diffPlans(base: Plan, head: Plan, ref: { ref: string; commit: string }, notes: string[] = []): PlanDiff {
    const before = new Map(base.resources.filter((r) => r.custom).map((r) => [r.urn, r]));
    const after = new Map(head.resources.filter((r) => r.custom).map((r) => [r.urn, r]));
    const all: ResourceDiff[] = [];
    const danger: Danger[] = [];
    for (const urn of [...new Set([...before.keys(), ...after.keys()])]) {
        const b = before.get(urn);
        const a = after.get(urn);
        const r = (a ?? b)!;
        let d: ResourceDiff;
        if (!b) d = { op: "create", urn, type: r.type, name: r.name, changes: [], causes: [] };
        else if (!a) d = { op: "delete", urn, type: r.type, name: r.name, changes: [], causes: [] };
        else {
            const changes = changedInputs(b.inputs, a.inputs);
            if (changes.length === 0) continue;
            const causes = replacementCauses(r.type, changes.map((c) => c.path), a.options);
            d = { op: causes.length ? "replace" : "update", urn, type: r.type, name: r.name, changes, causes };
        }
        all.push(d);
        for (const says of dangerOf(d, b, a)) danger.push({ op: d.op, urn, says });
    }
    all.sort(order);
    const counts = Object.fromEntries(OPS.map((op) => [op, all.filter((d) => d.op === op).length])) as Record<Op, number>;
    const watched = all.filter((d) => ALARM_TYPES.has(d.type) || SCHEDULE_TYPES.has(d.type));
    const graphs = { before: startGraph(base), after: startGraph(head) };
    return {
        stack: head.stack,
        base: ref,
        counts,
        danger,
        deploy: head.outputs.deploy as DeploySummary | undefined,
        watched,
        resources: all.filter((d) => !watched.includes(d)),
        startOrder: isDeepStrictEqual(graphs.before, graphs.after) ? undefined : graphs,
        notes,
    };
}
