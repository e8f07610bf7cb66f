/**
 * The pull request's one comment: per stack, the diff against the base branch with its danger
 * shown first and outside any fold, the policy summary line, and the start graph when it changes.
 * GitHub refuses comments over 65,536 characters; this one stays well under, cutting the diffs
 * (never the danger lines first) with a note that the full plans are in the workflow's artifact.
 */
import { PlanDiff } from "./diff";
import { countsLine, renderDeploySummary, renderDiff } from "./diff-render";
import { mermaid } from "./start-graph";

/** The marker the workflow finds its own comment by, to edit it in place. */
export const COMMENT_MARKER = "<!-- sofia-offline-plan -->";
/** The workflow artifact that holds the full plans the comment may cut. */
export const ARTIFACT_NAME = "offline-plans";
/** GitHub's limit on a comment body. */
export const GITHUB_COMMENT_LIMIT = 65_536;
/** What the comment may use: room to spare under the limit. */
export const COMMENT_BUDGET = 60_000;

export interface StackSection {
    diff: PlanDiff;
    /** The last line of `npm run policies`: "N policies, M violations (K mandatory)". */
    policySummary: string;
}

export interface CommentInput {
    stacks: StackSection[];
    /** Where the full plans are (the workflow's artifact name). */
    artifact: string;
    /** The commit the comment describes (the pull request's head), so a stale comment shows as stale. */
    head?: string;
    budget?: number;
}

/** Cuts text at a line boundary to at most `max` characters, saying how much was left out. */
export function cutLines(text: string, max: number, note: string): string {
    if (text.length <= max) return text;
    const lines = text.split("\n");
    const kept: string[] = [];
    let used = note.length + 40;
    for (const l of lines) {
        if (used + l.length + 1 > max) break;
        kept.push(l);
        used += l.length + 1;
    }
    return `${kept.join("\n")}\n... ${lines.length - kept.length} more lines cut: ${note}\n`;
}

function header(s: StackSection): string[] {
    const d = s.diff;
    return [`### ${d.stack}: ${countsLine(d)}`, "", `Policies: ${inert(s.policySummary) || "(no summary)"}  `, `${renderDeploySummary(d)}`, ""];
}

/** Text from the plan (names, inputs) made inert in markdown: no fence, tag or line of its own. */
export function inert(text: string): string {
    return text.replace(/\r?\n/g, " ").replace(/`/g, "'").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function danger(d: PlanDiff): string {
    return d.danger.length ? ["**Danger (data, access, downtime):**", ...d.danger.map((x) => `- :warning: ${inert(x.says)}`), ""].join("\n") + "\n" : "";
}

function startGraphSection(d: PlanDiff): string {
    if (!d.startOrder) return "";
    return [`#### Start order of ${d.stack} changes`, "", "```mermaid", mermaid(d.startOrder.after), "```", ""].join("\n") + "\n";
}

export function prComment(input: CommentInput): string {
    const budget = input.budget ?? COMMENT_BUDGET;
    const base = input.stacks[0]?.diff.base;
    const head = input.head ? ` at \`${inert(input.head.slice(0, 12))}\`` : "";
    const top = `${COMMENT_MARKER}\n## Offline diff${head} against ${base ? `\`${inert(base.ref)}\` (${base.commit.slice(0, 12)})` : "the base branch"}\n\n`;
    const foot = `\nThe full offline plans of both stacks are attached to this workflow run as the \`${input.artifact}\` artifact.\n`;
    const cutNote = `the full diff and plans are in the \`${input.artifact}\` artifact`;
    // Each stack gets an equal share, so that one stack's size never pushes another out; within
    // it the header and danger come first, then the start graph, then the diff in its fold.
    const share = Math.floor((budget - top.length - foot.length) / Math.max(1, input.stacks.length));
    const sections = input.stacks.map((s) => {
        const fixed = cutLines(header(s).join("\n") + "\n" + danger(s.diff), share - 200, cutNote);
        const graph = startGraphSection(s.diff);
        const room = share - fixed.length - folded("").length;
        const withGraph = graph.length < room - 200 ? graph : "";
        return fixed + withGraph + folded(cutLines(renderDiff(s.diff), Math.max(0, room - withGraph.length), cutNote));
    });
    return top + sections.join("") + foot;
}

/** A diff in a fold, in a fence it cannot close itself. */
function folded(body: string): string {
    return `<details><summary>the diff</summary>\n\n${FENCE}text\n${unfenced(body)}${FENCE}\n</details>\n\n`;
}

const FENCE = "```";
/** Text that cannot end a fenced block it is in. */
function unfenced(text: string): string {
    return text.split(FENCE).join("'''");
}

/** The comment when a stack could not be planned: what failed, instead of the last push's diff. */
export function failureComment(head: string | undefined, failures: { stack: string; error: string }[], artifact: string): string {
    const lines = [
        COMMENT_MARKER,
        `## Offline diff${head ? ` at \`${inert(head.slice(0, 12))}\`` : ""}: could not be made`,
        "",
        ...failures.flatMap((f) => [`### ${inert(f.stack)}`, "", `${FENCE}text`, cutLines(unfenced(f.error), 4000, `the rest is in the \`${artifact}\` artifact`).trimEnd(), FENCE, ""]),
    ];
    return lines.join("\n") + "\n";
}
