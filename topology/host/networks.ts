/**
 * Docker networks from the catalog's `talksTo`: one network per entry something connects to, holding
 * it and the entries that connect to it. A container reaches only what it talks to: the front
 * proxy the API and UI (its client ports' services), never a store; an ingestor Redis alone.
 */
import { CatalogEntry, clientPorts } from "../../model/catalog";
import { CatalogError } from "../../model/start-order";
import { CONTAINER_PREFIX } from "./store-config";

/** The Docker network of an entry that others connect to. */
export function networkName(server: string): string {
    return `${CONTAINER_PREFIX}net-${server}`;
}

/** What an entry connects to: its `talksTo`, and for the front proxy its client ports' services. */
export function talksTo(catalog: readonly CatalogEntry[], entry: CatalogEntry): string[] {
    const declared = entry.kind === "edge" ? [...new Set(clientPorts(catalog).map((p) => p.service))] : (entry.talksTo ?? []);
    const names = new Set(catalog.map((e) => e.name));
    const unknown = declared.filter((n) => !names.has(n) || n === entry.name);
    if (unknown.length) throw new CatalogError(`catalog: ${entry.name} talks to ${unknown.join(", ")}, which is not another entry of this catalog`);
    return declared;
}

/**
 * Every network of the stack and its members, in catalog order. `servedElsewhere`: entries whose
 * clients are not containers of this host (the ECS topology's store host): each gets a network of
 * its own. @default none
 */
export function networkMembers(catalog: readonly CatalogEntry[], servedElsewhere: readonly string[] = []): Record<string, string[]> {
    const members: Record<string, string[]> = {};
    for (const name of servedElsewhere) members[networkName(name)] = [name];
    for (const entry of catalog) {
        const servers = talksTo(catalog, entry);
        // What is served elsewhere is reached at the host's address, as its other clients reach it: a
        // client on this host (Grafana on the ECS store host) shares no network with it.
        for (const server of servers.filter((x) => !servedElsewhere.includes(x))) {
            members[networkName(server)] ??= [server];
            members[networkName(server)].push(entry.name);
        }
        if (servers.length && servers.every((x) => servedElsewhere.includes(x))) members[networkName(entry.name)] ??= [entry.name];
    }
    return members;
}

/** The networks one entry joins: its own (if anything connects to it) and those of what it talks to. */
export function networksOf(catalog: readonly CatalogEntry[], name: string, servedElsewhere: readonly string[] = []): string[] {
    const found = Object.entries(networkMembers(catalog, servedElsewhere))
        .filter(([, members]) => members.includes(name))
        .map(([network]) => network);
    if (found.length === 0) throw new CatalogError(`catalog: ${name} talks to nothing and nothing talks to it; give it a talksTo, or it would sit on Docker's default network with everything else`);
    return found.sort();
}
