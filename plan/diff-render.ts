/**
 * The offline diff as text: danger first, then the deploy it triggers, the alarms and schedules
 * that change, the start order when it changes, and every resource with its changed inputs.
 */
import { diffLines } from "diff";
import { installedDigests } from "../components/host-files";
import { InputChange, Op, OPS, PlanDiff, ResourceDiff } from "./diff";

const MARK: Record<Op, string> = { create: "+", update: "~", replace: "+-", delete: "-" };
/** Changed lines shown of one multi-line input (a script, a document); the rest is counted. */
const MAX_TEXT_LINES = 24;
const BASE64_LINE = /^[A-Za-z0-9+/]{40,}={0,2}$/;

function value(v: unknown): string {
    const s = typeof v === "string" ? JSON.stringify(v) : v === undefined ? "(none)" : JSON.stringify(v);
    return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

/** A multi-line text shown as its changed lines, like a unified diff without context. */
function textChange(before: string, after: string, pad: string): string[] {
    const changed = diffLines(before, after).flatMap((part) => (part.added || part.removed ? part.value.replace(/\n$/, "").split("\n").map((l) => ({ added: !!part.added, l })) : []));
    // An encoded payload (gzip+base64 host files) says nothing line by line.
    if (changed.filter(({ l }) => BASE64_LINE.test(l)).length * 2 > changed.length) return [`${pad}  (an encoded payload: ${changed.length} lines differ; the plan of each side shows what it holds)`];
    const lines = changed.map(({ added, l }) => `${pad}${added ? "+" : "-"} ${l}`);
    return lines.length > MAX_TEXT_LINES ? [...lines.slice(0, MAX_TEXT_LINES), `${pad}  ... ${lines.length - MAX_TEXT_LINES} more changed lines`] : lines;
}

/** Two long one-line strings: only where they differ, with a little context. */
function stringChange(before: string, after: string): string {
    let start = 0;
    while (start < before.length && start < after.length && before[start] === after[start]) start++;
    let end = 0;
    while (end < before.length - start && end < after.length - start && before[before.length - 1 - end] === after[after.length - 1 - end]) end++;
    const from = Math.max(0, start - 40);
    const cut = (s: string) => `${from > 0 ? "..." : ""}${s.slice(from, s.length - end + 40 > s.length ? s.length : s.length - end + 40)}${end > 40 ? "..." : ""}`;
    return `${value(cut(before))} -> ${value(cut(after))}`;
}

/** An install script's change as the host files it changes (their bytes travel compressed). */
function hostFilesChange(before: string, after: string): string | undefined {
    const [b, a] = [installedDigests(before), installedDigests(after)];
    if (b.size === 0 && a.size === 0) return undefined;
    const changed = [...a.keys()].filter((p) => b.has(p) && b.get(p) !== a.get(p));
    const added = [...a.keys()].filter((p) => !b.has(p));
    const removed = [...b.keys()].filter((p) => !a.has(p));
    const parts = [changed.length ? `changes ${changed.join(", ")}` : "", added.length ? `adds ${added.join(", ")}` : "", removed.length ? `removes ${removed.join(", ")}` : ""].filter(Boolean);
    return `host files: ${parts.join("; ") || "the same files, installed differently"}`;
}

function change(c: InputChange, pad: string): string[] {
    const files = typeof c.before === "string" && typeof c.after === "string" ? hostFilesChange(c.before, c.after) : undefined;
    if (files) return [`${pad}${c.path}: ${files}`];
    if (typeof c.before === "string" && typeof c.after === "string" && c.before.length + c.after.length > 160 && !c.before.includes("\n") && !c.after.includes("\n")) {
        return [`${pad}${c.path}: ${stringChange(c.before, c.after)}`];
    }
    if (typeof c.before === "string" && typeof c.after === "string" && (c.before.includes("\n") || c.after.includes("\n"))) {
        return [`${pad}${c.path}: (text, ${c.before.split("\n").length} -> ${c.after.split("\n").length} lines)`, ...textChange(c.before, c.after, `${pad}  `)];
    }
    return [`${pad}${c.path}: ${value(c.before)} -> ${value(c.after)}`];
}

function resource(d: ResourceDiff): string[] {
    const why = d.op === "replace" ? `  replaced because of ${d.causes.join(", ")}` : "";
    return [`  ${MARK[d.op]} ${d.name}  (${d.type})${why}`, ...d.changes.flatMap((c) => change(c, "      "))];
}

const DEPLOY_KIND: Record<string, string> = {
    none: "none: the release and the containers' shape are unchanged",
    config: "verification only: the containers' shape or the code changes, not the release",
    release: "a release deploy",
    first: "the stack's first deploy",
};

export function renderDeploySummary(diff: PlanDiff): string {
    const d = diff.deploy;
    if (!d) return "Deploy: (the plan has no deploy output)";
    const steps = d.steps.length ? `: ${d.steps.join(", ")}` : "";
    return `Deploy this change triggers: ${DEPLOY_KIND[d.kind] ?? d.kind}${steps}`;
}

export function countsLine(diff: PlanDiff): string {
    const total = OPS.reduce((n, op) => n + diff.counts[op], 0);
    return total === 0 ? "no changes" : OPS.map((op) => `${diff.counts[op]} to ${op}`).join(", ");
}

export function renderDiff(diff: PlanDiff): string {
    const lines = [`Diff of stack "${diff.stack}": ${diff.base.ref} (${diff.base.commit.slice(0, 12)}) -> the working tree: ${countsLine(diff)}`, ...diff.notes.map((n) => `note: ${n}`), ""];
    if (diff.danger.length) lines.push("DANGER (data, access, downtime):", ...diff.danger.map((d) => `  ! ${d.says.replace(/\s*\n\s*/g, " ")}`), "");
    lines.push(renderDeploySummary(diff), ...(diff.deploy?.changes ?? []).map((c) => `    ${c}`), "");
    if (diff.watched.length) lines.push("Alarms and schedules:", ...diff.watched.flatMap(resource), "");
    if (diff.startOrder) {
        lines.push("Start order changes:", ...diff.startOrder.before.stages.map((s, i) => `  - ${i}. ${s.join(", ")}`), ...diff.startOrder.after.stages.map((s, i) => `  + ${i}. ${s.join(", ")}`), "");
    }
    if (diff.resources.length) lines.push("Resources:", ...diff.resources.flatMap(resource), "");
    return lines.join("\n") + "\n";
}
