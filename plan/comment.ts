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
    return [`### ${d.stack}: ${countsLine(d)}`, "", `Policies: ${s.policySummary || "(no summary)"}  `, `${renderDeploySummary(d)}`, ""];
}

function danger(d: PlanDiff): string {
    return d.danger.length ? ["**Danger (data or access):**", ...d.danger.map((x) => `- :warning: ${x.says}`), ""].join("\n") + "\n" : "";
}

function startGraphSection(d: PlanDiff): string {
    if (!d.startOrder) return "";
    return [`#### Start order of ${d.stack} changes`, "", "```mermaid", mermaid(d.startOrder.after), "```", ""].join("\n") + "\n";
}

export function prComment(input: CommentInput): string {
    const budget = input.budget ?? COMMENT_BUDGET;
    const base = input.stacks[0]?.diff.base;
    const top = `${COMMENT_MARKER}\n## Offline diff against ${base ? `\`${base.ref}\` (${base.commit.slice(0, 12)})` : "the base branch"}\n\n`;
    const foot = `\nThe full offline plans of both stacks are attached to this workflow run as the \`${input.artifact}\` artifact.\n`;
    const cutNote = `the full diff and plans are in the \`${input.artifact}\` artifact`;
    // What is never cut unless it alone is over the budget: headers, danger, start graphs.
    const fixed = input.stacks.map((s) => header(s).join("\n") + "\n" + danger(s.diff) + startGraphSection(s.diff));
    const wrap = (body: string) => `<details><summary>the diff</summary>\n\n\`\`\`text\n${body}\`\`\`\n</details>\n\n`;
    const overhead = top.length + foot.length + fixed.reduce((n, f) => n + f.length, 0) + input.stacks.length * wrap("").length;
    const share = Math.max(0, Math.floor((budget - overhead) / Math.max(1, input.stacks.length)));
    const body = input.stacks.map((s, i) => fixed[i] + wrap(cutLines(renderDiff(s.diff), share, cutNote))).join("");
    const all = top + body + foot;
    // Danger lines by the thousand (a hostile or huge change): the whole is cut, the marker kept.
    if (all.length <= budget) return all;
    const cut = cutLines(all, budget - 8, cutNote);
    // A cut inside a fenced block would fold the rest of the page into it.
    return (cut.match(/^```/gm) ?? []).length % 2 ? `${cut}\`\`\`\n` : cut;
}
