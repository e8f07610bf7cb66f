/**
 * How the operators reach the store host's tools (Grafana) on ECS: through the load balancer's TLS
 * where staffCidrs let anyone in, else through an SSM port-forwarding session to the store host's
 * loopback port, as on the host topology.
 */
import * as pulumi from "@pulumi/pulumi";
import { CatalogEntry } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { staffListeners } from "./edge";

/** Grafana's address, and the tunnel to open first when the load balancer does not serve it. */
export function grafanaUrl(catalog: readonly CatalogEntry[], s: Pick<Settings, "staffCidrs">, address: pulumi.Input<string>, storeHostId: pulumi.Input<string>): pulumi.Output<{ url: string; tunnel?: string }> {
    const port = staffListeners(catalog).find((l) => l.entry.name === "grafana")?.port;
    if (port === undefined) throw new Error("catalog: grafana publishes no staff port");
    if (s.staffCidrs.length) return pulumi.interpolate`https://${address}:${port}`.apply((url) => ({ url }));
    return pulumi.output(storeHostId).apply((id) => ({
        url: `http://localhost:${port}`,
        tunnel: `aws ssm start-session --target ${id} --document-name AWS-StartPortForwardingSession --parameters portNumber=${port},localPortNumber=${port}`,
    }));
}
