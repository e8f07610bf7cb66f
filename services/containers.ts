/**
 * Every catalog entry as a container on the host, created stage by stage: each container only
 * after every entry it starts after reports healthy. Pulumi deletes in the reverse order, so
 * destroy and replacement stop the API first and the data stores last, each with its grace period.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ContainerService, ContainerServiceArgs } from "../components/container-service";
import { CatalogEntry } from "./catalog";
import { maintenancePages, MAINTENANCE_PAGE_DIR, MAINTENANCE_PAGE_HOST_DIR, PROXY_CONF_PATH, PROXY_PAGES_DIR, PROXY_TLS_CERT, PROXY_TLS_KEY, proxyConfig, proxyRoutes, proxyTls, stackProxyOptions } from "./proxy-config";
import { Settings } from "./settings";
import { CatalogError, startStages } from "./start-order";
import { connectionEnv, containerName, dockerVolumeName, passwordFile, QUESTDB_CONF_PATH, questdbServerConf, REDIS_AUTH_CONF, redisCommand } from "./store-config";

export interface SofiaContainersArgs {
    /** The stack's catalog (services/catalog.ts, with the chosen time-series store). */
    catalog: CatalogEntry[];
    /** Validated stack settings. */
    settings: Settings;
    /** Docker provider of the host. */
    provider: docker.Provider;
    /** CloudWatch Logs group per catalog entry. */
    logGroups: Record<string, pulumi.Input<string>>;
    /** The host's private address: the front proxy takes the client ports there. */
    hostPrivateIp: pulumi.Input<string>;
    /** A release deploy's steps that every container waits for (backup, maintenance page). */
    before?: pulumi.Resource[];
    /** A release deploy's steps that only the apps wait for (migrations), given the stores. */
    beforeApps?: (stores: docker.Container[], migration: ContainerServiceArgs) => pulumi.Resource[];
}

/** The proxy's configuration, pages, flag directory and TLS, from the catalog and settings. */
function proxyExtras(catalog: readonly CatalogEntry[], s: Settings): Partial<ContainerServiceArgs> {
    const options = stackProxyOptions(catalog, s);
    const tls = proxyTls(s);
    return {
        files: [
            { path: PROXY_CONF_PATH, content: proxyConfig(options) },
            ...Object.entries(maintenancePages(s.deploy.retryAfterSeconds)).map(([f, content]) => ({ path: `${PROXY_PAGES_DIR}/${f}`, content })),
            ...(tls ? [{ path: PROXY_TLS_CERT, content: tls.certificate }] : []),
        ],
        secretFiles: tls ? [{ path: PROXY_TLS_KEY, value: tls.key }] : [],
        binds: [{ hostPath: MAINTENANCE_PAGE_HOST_DIR, path: MAINTENANCE_PAGE_DIR }],
    };
}

/** Store-specific inputs beyond what the catalog says: configuration files and credentials. */
function storeExtras(entry: CatalogEntry, s: Settings, password: pulumi.Output<string>): Partial<ContainerServiceArgs> {
    switch (entry.name) {
        case "redis": {
            // Its data directory is where the catalog mounts its volume.
            const dataDir = entry.volumes?.[0]?.path;
            if (!dataDir) throw new CatalogError("catalog: redis needs a volume for its data directory");
            return {
                command: redisCommand(s.redis, dataDir),
                secretFiles: [{ path: REDIS_AUTH_CONF, value: pulumi.interpolate`requirepass ${password}\n` }],
                // redis-cli in the health check reads REDISCLI_AUTH; it comes from the secret file.
                healthcheck: { ...entry.check, test: ["CMD-SHELL", `REDISCLI_AUTH="$(cat ${passwordFile("redis")})" ${entry.check.test.slice(1).join(" ")}`] },
            };
        }
        case "questdb":
            return { secretFiles: [{ path: QUESTDB_CONF_PATH, value: password.apply(questdbServerConf) }] };
        case "timescaledb":
            return { env: { POSTGRES_PASSWORD_FILE: passwordFile("timescaledb") } };
        default:
            return {};
    }
}

export class SofiaContainers extends pulumi.ComponentResource {
    /** Containers by catalog name. */
    readonly containers: Record<string, docker.Container> = {};
    readonly network: docker.Network;
    /** Start stages, as the runbook orders them. */
    readonly stages: string[][];

    constructor(name: string, args: SofiaContainersArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:services:SofiaContainers", name, {}, opts);
        const { catalog, settings: s, provider } = args;
        this.stages = startStages(catalog);
        const byName = new Map(catalog.map((e) => [e.name, e]));
        const child = { parent: this, provider };

        this.network = new docker.Network(`${name}-network`, { name: "sofia", driver: "bridge", internal: false, attachable: false }, child);
        const passwords = this.createPasswords(name, catalog);
        const storeSecrets = Object.entries(passwords).map(([store, pw]) => ({ path: passwordFile(store), value: pw.result }));
        const appEnv = connectionEnv(catalog, s.timeseriesStore);

        const proxied = proxyRoutes(catalog).map((r) => r.listen);
        const argsOf = (entry: CatalogEntry): Omit<ContainerServiceArgs, "volumes" | "startAfter"> => {
            const extras = entry.kind === "store" ? storeExtras(entry, s, passwords[entry.name].result) : entry.kind === "edge" ? proxyExtras(catalog, s) : {};
            // Apps' client ports stay on loopback (host checks); the proxy takes them for clients.
            const ports =
                entry.kind === "edge"
                    ? proxied.map((port) => ({ port, bind: { ip: args.hostPrivateIp } }))
                    : entry.ports.filter((p) => p.publish !== "private").map((p) => ({ port: p.port, bind: "loopback" as const }));
            return {
                containerName: containerName(entry),
                image: s.images[entry.name],
                command: entry.command,
                healthcheck: entry.check,
                ...extras,
                env: {
                    ...(entry.kind === "app" ? appEnv : {}),
                    ...entry.env,
                    ...extras.env,
                    ...(entry.name === "equities" && s.equityPrimary ? { EQUITY_PRIMARY: s.equityPrimary } : {}),
                    ...s.serviceEnv[entry.name],
                },
                // A store sees its own password file; apps see every store's; the proxy none.
                secretFiles: [
                    ...(entry.kind === "app" ? storeSecrets : storeSecrets.filter((x) => x.path === passwordFile(entry.name))),
                    ...(extras.secretFiles ?? []),
                ],
                ports,
                memoryMb: entry.memoryMb,
                stopGraceSeconds: entry.stopGraceSeconds,
                network: this.network.name,
                logs: { group: args.logGroups[entry.name], region: s.region },
                provider,
            };
        };

        let appGate: pulumi.Resource[] = [];
        for (const stage of this.stages) {
            const entries = stage.map((n) => byName.get(n) as CatalogEntry);
            // Migrations run once every store is up and before the first app starts.
            if (args.beforeApps && appGate.length === 0 && entries.some((e) => e.kind === "app")) {
                const stores = catalog.filter((e) => e.kind === "store").map((e) => this.containers[e.name]);
                const migrator = catalog.find((e) => e.migration);
                if (migrator?.migration) appGate = args.beforeApps(stores, { ...argsOf(migrator), command: migrator.migration, ports: [], volumes: [] });
            }
            for (const entry of entries) {
                const volumes = (entry.volumes ?? []).map((v) => ({
                    volumeName: new docker.Volume(`${name}-${v.name}`, { name: dockerVolumeName(v.name) }, { ...child, retainOnDelete: true }).name,
                    path: v.path,
                }));
                const service = new ContainerService(
                    `${name}-${entry.name}`,
                    {
                        ...argsOf(entry),
                        volumes,
                        startAfter: entry.startsAfter.map((d) => this.containers[d]),
                        waitFor: [...(args.before ?? []), ...(entry.kind === "app" ? appGate : [])],
                    },
                    { parent: this },
                );
                this.containers[entry.name] = service.container;
            }
        }
        this.registerOutputs({ stages: this.stages, network: this.network.name });
    }

    /** One generated password per store; `special: false` keeps them safe in URLs and conf files. */
    private createPasswords(name: string, catalog: CatalogEntry[]): Record<string, random.RandomPassword> {
        return Object.fromEntries(
            catalog.filter((e) => e.kind === "store").map((e) => [e.name, new random.RandomPassword(`${name}-${e.name}-password`, { length: 32, special: false }, { parent: this })]),
        );
    }
}
