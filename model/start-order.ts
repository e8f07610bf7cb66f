/**
 * The runbook's "Starting Services (Order Matters!)" as a graph: stages of entries that may start
 * together, each stage only after every entry it starts after is healthy. Stopping is the reverse.
 */
import { repeated } from "../components/formats";
import { CatalogEntry } from "./catalog";

export class CatalogError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "CatalogError";
    }
}

/** Layers the catalog by `startsAfter`: stage 0 has no prerequisites, stage n waits for stage n-1. */
export function startStages(catalog: readonly CatalogEntry[]): string[][] {
    const names = new Set(catalog.map((e) => e.name));
    const duplicate = repeated(catalog.map((e) => e.name));
    if (duplicate.length) throw new CatalogError(`catalog: entries named twice: ${duplicate.join(", ")}`);
    const unknown = catalog.flatMap((e) => e.startsAfter.filter((d) => !names.has(d)).map((d) => `${e.name} starts after unknown entry "${d}"`));
    if (unknown.length) throw new CatalogError(`catalog: ${unknown.join("; ")}`);

    const stages: string[][] = [];
    const placed = new Set<string>();
    while (placed.size < catalog.length) {
        // Keep catalog order within a stage: it is the order the runbook lists them in.
        const ready = catalog.filter((e) => !placed.has(e.name) && e.startsAfter.every((d) => placed.has(d))).map((e) => e.name);
        if (ready.length === 0) {
            const stuck = catalog.filter((e) => !placed.has(e.name));
            throw new CatalogError(`catalog: start order has a cycle among ${stuck.map((e) => `${e.name} (after ${e.startsAfter.join(", ")})`).join("; ")}`);
        }
        ready.forEach((n) => placed.add(n));
        stages.push(ready);
    }
    return stages;
}

/** Stop order: the start stages reversed (API first, data stores last). */
export function stopStages(catalog: readonly CatalogEntry[]): string[][] {
    return startStages(catalog).reverse();
}
