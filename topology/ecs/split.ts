/**
 * What runs where in the ECS topology, from the catalog: the apps as tasks (tasks.ts), Redis as
 * ElastiCache, and the rest on the store host.
 */
import { CatalogEntry } from "../../model/catalog";

/**
 * What the store host runs: the stores but Redis (ElastiCache here), and the tools (Grafana), which
 * read the stores over the host's Docker networks and its files (the dashboard, the credentials of
 * its CloudWatch role) as on the host.
 */
export function storeHostCatalog(catalog: readonly CatalogEntry[]): CatalogEntry[] {
    return catalog.filter((e) => (e.kind === "store" && e.name !== "redis") || e.kind === "tool");
}

/** An entry as it runs on ECS: Redis is ElastiCache, whose engine log has a layout of its own (model/log-formats.ts). */
export function asOnEcs(entry: CatalogEntry): CatalogEntry {
    return entry.name === "redis" ? { ...entry, logFormat: "elasticache" } : entry;
}

/** What the ECS topology runs anywhere, and so logs: the store host's, ElastiCache (its engine log) and the apps. No front proxy: the load balancer is the edge. */
export function loggedOnEcs(catalog: readonly CatalogEntry[]): CatalogEntry[] {
    return catalog.filter((e) => e.kind !== "edge").map(asOnEcs);
}
