/**
 * The synthetic checks of a stack, from the catalog (each entry's `theme` and `criticalPaths`,
 * assumed contracts of its image): run from outside by CloudWatch Synthetics, through the front
 * proxy, by the DNS name clients use. Only where clients may come from anywhere and the proxy
 * has that name: elsewhere a canary would be refused at the security group, or fail TLS on a bare
 * address, and page for nothing; there the deploy's own verification is the check.
 */
import { isWorldCidr } from "../../components/formats";
import { canaryName, SyntheticCheck } from "../../components/synthetic-checks";
import { CatalogEntry, clientPorts } from "../../model/catalog";
import { Settings } from "../../model/settings";

/** Why a stack has no synthetic checks, or undefined when it has them. */
export function syntheticsOffBecause(s: Pick<Settings, "clientCidrs" | "proxy">): string | undefined {
    if (!s.clientCidrs.some(isWorldCidr)) return "the client ports are open to clientCidrs only, not to the whole internet where the canaries run from, so a canary would be refused";
    if (!s.proxy.acme?.domain) return "the proxy has no DNS name (proxy.acme), so a canary could not check its certificate";
    return undefined;
}

/** One check per catalog entry that declares a theme or critical paths, at its client port; canaries named `<prefix>-<entry>`. */
export function syntheticChecks(catalog: readonly CatalogEntry[], s: Pick<Settings, "clientCidrs" | "proxy">, prefix: string): (SyntheticCheck & { canary: string; service: string })[] {
    if (syntheticsOffBecause(s)) return [];
    const ports = clientPorts(catalog);
    return catalog
        .filter((e) => e.theme || e.criticalPaths)
        .map((e) => {
            const port = ports.find((p) => p.service === e.name);
            if (!port) throw new Error(`catalog: ${e.name} declares synthetic checks but publishes no client port`);
            return {
                id: e.name,
                service: e.name,
                canary: canaryName(prefix, e.name),
                base: `https://${s.proxy.acme!.domain}:${port.port.port}`,
                ...(e.theme ? { theme: e.theme } : {}),
                ...(e.criticalPaths ? { paths: e.criticalPaths } : {}),
            };
        });
}
