/**
 * The runbook's "Check UI theme" in an ECS deploy, as the host's deploy checks it: in a browser on
 * the store host (host/sofia-services.sh verify_theme), straight at each running task of a themed
 * app, by the private address ECS gives it; not through the load balancer, whose client CIDRs need
 * not hold the store host's address. The canaries check it from outside as well, where the stack
 * has them (proxy.acme.domain).
 */
import { CatalogEntry } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { THEME_BROWSER_IMAGE, themeTable } from "../host/synthetics";
import { clusterName } from "./services";

/** In a check's base: each running task's private address, found when the check runs. */
export const TASK_ADDRESS = "{task}";

/** themes.tsv of the store host: `ecs:<region>/<cluster>/<service>` where the host's names a Docker network. */
export function ecsThemeTable(catalog: readonly CatalogEntry[], s: Pick<Settings, "region" | "stack">, image = THEME_BROWSER_IMAGE): string {
    // Confined: the browser shares the store host's reach (the stores' ports on its private address), the page may load from its own task alone.
    return themeTable(catalog, image, (e, port) => ({ network: `ecs:${s.region}/${clusterName(s.stack)}/${e.name}`, base: `http://${TASK_ADDRESS}:${port}`, confine: true }));
}

/** The apps the store host's browser reaches on their client port. */
export function themedApps(catalog: readonly CatalogEntry[]): CatalogEntry[] {
    return catalog.filter((e) => e.kind === "app" && e.theme);
}

/** The store host may list and read this cluster's tasks (their addresses), nothing else of ECS. */
export function taskReadPolicy(clusterArn: string): string {
    // arn:aws:ecs:<region>:<account>:cluster/<name>
    const m = /^(arn:[^:]+:ecs:[^:]+:[^:]+):cluster\/(.+)$/.exec(clusterArn);
    if (!m) throw new Error(`taskReadPolicy: '${clusterArn}' is not an ECS cluster's ARN`);
    const [, prefix, cluster] = m;
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            // ListTasks is authorized on container instances; the cluster condition keeps it to this one.
            { Sid: "ListTasks", Effect: "Allow", Action: "ecs:ListTasks", Resource: "*", Condition: { ArnEquals: { "ecs:cluster": clusterArn } } },
            { Sid: "DescribeTasks", Effect: "Allow", Action: "ecs:DescribeTasks", Resource: `${prefix}:task/${cluster}/*` },
        ],
    });
}
