/**
 * The catalog's apps as ECS containers: pure functions of the catalog and the settings, so the
 * tests read exactly what each task is given. What the host topology gives a container as a file
 * (a store's password) ECS gives from Secrets Manager as an env var at start: its value is never
 * in the task definition, only the secret's ARN.
 */
import { createHash } from "crypto";
import { AWS_LIMITS, fargateSize } from "../../components/aws-limits";
import { CatalogEntry } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { talksTo } from "../host/networks";
import { connectionEnv } from "../host/store-config";

/** How the apps run: behind the load balancer and scaled, or exactly one task. */
export type AppShape = "scaled" | "singleton";

/** Apps with a port for clients are served through the load balancer and scale; every other app is a singleton (one ingestor, one writer, one alerter: never two ticks, never two alerts). */
export function appShape(entry: CatalogEntry): AppShape {
    return entry.ports.some((p) => p.publish === "clients") ? "scaled" : "singleton";
}

/** The catalog entries that run as ECS services: the apps. Stores are ElastiCache or the store host; the proxy's work is the load balancer's; tools stay with the store host's operators. */
export function ecsApps(catalog: readonly CatalogEntry[]): CatalogEntry[] {
    return catalog.filter((e) => e.kind === "app");
}

/** Where a store is reached from a task, and whether over TLS. */
export interface StoreEndpoint {
    host: string;
    tls: boolean;
}

/** The secret env var an app gets a store's password in (`REDIS_PASSWORD`), in place of the host's `_PASSWORD_FILE`. */
export function passwordEnv(store: CatalogEntry): string {
    return `${store.connectionEnv}_PASSWORD`;
}

/**
 * An app's plain env: the catalog's connection env (as on the host) with each store's host
 * replaced by its endpoint, `_TLS` where the store speaks it, and no password file (the password
 * is a secret env var: `secretEnvOf`).
 */
export function ecsEnv(catalog: readonly CatalogEntry[], entry: CatalogEntry, s: Settings, endpoints: Record<string, StoreEndpoint>): Record<string, string> {
    const peers = talksTo(catalog, entry);
    const env: Record<string, string> = { ...connectionEnv(catalog, s.timeseriesStore, peers) };
    for (const store of catalog.filter((e) => e.connectionEnv && peers.includes(e.name))) {
        const prefix = store.connectionEnv as string;
        const endpoint = endpoints[store.name];
        if (!endpoint) throw new Error(`topology ecs: no endpoint for the store ${store.name}, which ${entry.name} talks to`);
        env[`${prefix}_HOST`] = endpoint.host;
        delete env[`${prefix}_PASSWORD_FILE`];
        if (endpoint.tls) env[`${prefix}_TLS`] = "true";
    }
    return {
        ...env,
        ...entry.env,
        ...(entry.name === "equities" && s.equityPrimary ? { EQUITY_PRIMARY: s.equityPrimary } : {}),
        ...s.serviceEnv[entry.name],
    };
}

/** The stores whose passwords an app gets (the ones it talks to), as secret env var names. */
export function secretEnvOf(catalog: readonly CatalogEntry[], entry: CatalogEntry): { store: string; env: string }[] {
    const peers = talksTo(catalog, entry);
    return catalog.filter((e) => e.connectionEnv && peers.includes(e.name)).map((e) => ({ store: e.name, env: passwordEnv(e) }));
}

/** A writable scratch directory on a read-only root: Fargate's task storage, empty at each start. */
export const SCRATCH = { volume: "scratch", path: "/tmp" };

/** An EFS volume of the task, by the catalog's volume name. */
export function efsVolumeName(volume: string): string {
    return `efs-${volume}`;
}

export interface ContainerContext {
    settings: Settings;
    /** Plain env (ecsEnv). */
    env: Record<string, string>;
    /** Secret env vars: name and the ARN of the secret holding its value. */
    secrets: { name: string; valueFrom: string }[];
    logGroup: string;
    /** Secrets Manager ARN of the private registry's credentials, if the image is pulled from one. */
    registryCredentials?: string;
    /** Run this command instead of the entry's (the migration). */
    command?: string[];
}

/**
 * ECS's container definition of an app: its image, command, health check, env and stop grace as
 * the catalog says; logs to the service's log group; the root file system read-only with a
 * scratch /tmp; never privileged (Fargate refuses it, and the policy says so).
 */
export function containerDefinition(entry: CatalogEntry, ctx: ContainerContext): Record<string, unknown> {
    const s = ctx.settings;
    const ports = entry.ports.filter((p) => p.publish === "clients");
    return {
        name: entry.name,
        image: s.images[entry.name],
        essential: true,
        ...(ctx.command ?? entry.command ? { command: ctx.command ?? entry.command } : {}),
        environment: Object.entries(ctx.env)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([name, value]) => ({ name, value })),
        secrets: [...ctx.secrets].sort((a, b) => a.name.localeCompare(b.name)),
        portMappings: ports.map((p) => ({ containerPort: p.port, protocol: "tcp", name: `${entry.name}-${p.name}` })),
        ...(ctx.command
            ? {}
            : {
                  healthCheck: {
                      command: entry.check.test,
                      interval: 30,
                      timeout: 5,
                      retries: 3,
                      startPeriod: Math.min(entry.check.startPeriodSeconds, AWS_LIMITS.ecsHealthStartPeriodSeconds.max),
                  },
              }),
        // Fargate stops a container at most 120 s after SIGTERM.
        stopTimeout: Math.min(entry.stopGraceSeconds, AWS_LIMITS.fargateStopTimeoutSeconds.max),
        memory: entry.memoryMb,
        readonlyRootFilesystem: true,
        privileged: false,
        linuxParameters: { initProcessEnabled: true },
        mountPoints: [{ sourceVolume: SCRATCH.volume, containerPath: SCRATCH.path, readOnly: false }, ...(entry.volumes ?? []).map((v) => ({ sourceVolume: efsVolumeName(v.name), containerPath: v.path, readOnly: false }))],
        logConfiguration: { logDriver: "awslogs", options: { "awslogs-group": ctx.logGroup, "awslogs-region": s.region, "awslogs-stream-prefix": entry.name, mode: "non-blocking" } },
        ...(ctx.registryCredentials ? { repositoryCredentials: { credentialsParameter: ctx.registryCredentials } } : {}),
    };
}

/** What stands in, in the fingerprint, for values known only once the stack exists. */
const AT_DEPLOY = "(known at deploy time)";

/**
 * One fingerprint of everything that shapes the tasks but their images: each app's container
 * definition (by the same function the services use), its size and its shape (scaled or one
 * task). Endpoints, ARNs and log groups do not change between updates, so they stand in as
 * placeholders. A new fingerprint makes an update verify (release/deploy.ts), as on the host.
 */
export function ecsFingerprint(catalog: readonly CatalogEntry[], s: Settings): string {
    const endpoints = Object.fromEntries(catalog.filter((e) => e.connectionEnv).map((e) => [e.name, { host: AT_DEPLOY, tls: e.name === "redis" }]));
    const shapes = ecsApps(catalog).map((entry) => ({
        shape: appShape(entry),
        size: fargateSize(entry.memoryMb, entry.vcpus),
        container: containerDefinition({ ...entry }, { settings: { ...s, images: {} } as Settings, env: ecsEnv(catalog, entry, s, endpoints), secrets: secretEnvOf(catalog, entry).map((x) => ({ name: x.env, valueFrom: AT_DEPLOY })), logGroup: AT_DEPLOY }),
    }));
    return createHash("sha256").update(JSON.stringify(["ecs", s.ecs, shapes])).digest("hex").slice(0, 16);
}
