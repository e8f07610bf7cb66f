/**
 * The start graph as Pulumi will execute it: containers and the containers their `dependsOn`
 * names, read from the recorded plan (not from the catalog, so it shows what really happens).
 */
import { Plan, PlannedResource } from "./offline";

export const CONTAINER_TYPE = "docker:index/container:Container";

export interface StartGraph {
    /** Container names in stages: each stage starts once the previous one is healthy. */
    stages: string[][];
    /** [before, after] pairs between container names. */
    edges: [string, string][];
}

function containerName(r: PlannedResource): string {
    return typeof r.inputs.name === "string" ? r.inputs.name : r.name;
}

export function startGraph(plan: Plan): StartGraph {
    // Long-running services only: a one-shot container (a deploy's migrations) is a deploy step.
    const containers = plan.resources.filter((r) => r.type === CONTAINER_TYPE && r.inputs.attach !== true);
    const byUrn = new Map(containers.map((c) => [c.urn, c]));
    const edges: [string, string][] = containers.flatMap((c) => c.dependsOn.filter((u) => byUrn.has(u)).map((u) => [containerName(byUrn.get(u)!), containerName(c)] as [string, string]));
    const stages: string[][] = [];
    const placed = new Set<string>();
    const names = containers.map(containerName);
    while (placed.size < names.length) {
        const ready = names.filter((n) => !placed.has(n) && edges.every(([a, b]) => b !== n || placed.has(a)));
        if (ready.length === 0) throw new Error(`start graph has a cycle among ${names.filter((n) => !placed.has(n)).join(", ")}`);
        ready.forEach((n) => placed.add(n));
        // Sorted: registration order under the runtime is not deterministic.
        stages.push(ready.sort());
    }
    return { stages, edges };
}

/** A Mermaid flowchart of the start graph, one column per stage, for pull-request comments. */
export function mermaid(graph: StartGraph): string {
    const id = (n: string) => n.replace(/[^A-Za-z0-9_]/g, "_");
    const lines = ["flowchart LR"];
    graph.stages.forEach((stage, i) => {
        lines.push(`  subgraph stage${i}["stage ${i}"]`);
        for (const n of stage) lines.push(`    ${id(n)}["${n}"]`);
        lines.push("  end");
    });
    for (const [a, b] of graph.edges) lines.push(`  ${id(a)} -->|healthy| ${id(b)}`);
    return lines.join("\n");
}

/** The plan text's start-order section, or nothing when the plan has no containers. */
export function renderStartOrder(plan: Plan): string[] {
    const graph = startGraph(plan);
    if (graph.stages.length === 0) return [];
    return [
        "Start order (each stage after the previous one is healthy; stop is the reverse):",
        ...graph.stages.map((s, i) => `  ${i}. ${s.join(", ")}`),
        "",
        "```mermaid",
        mermaid(graph),
        "```",
        "",
    ];
}
