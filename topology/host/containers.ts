/**
 * Every catalog entry as a container on the host, created stage by stage: each container only
 * after every entry it starts after reports healthy. Pulumi deletes in the reverse order, so
 * destroy and replacement stop the API first and the data stores last, each with its grace period.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "crypto";
import { ContainerService, ContainerServiceArgs, containerInputs } from "../../components/container-service";
import { CatalogEntry, ownsPassword } from "../../model/catalog";
import { grafanaExtras } from "./grafana";
import { ACME, maintenancePages, MAINTENANCE_PAGE_DIR, PROXY_CONF_PATH, PROXY_PAGES_DIR, PROXY_TLS_CERT, PROXY_TLS_KEY, proxyConfig, proxyRoutes, proxyTls, proxyTlsSource, stackProxyOptions } from "./proxy-config";
import { Settings } from "../../model/settings";
import { networkMembers, networksOf, talksTo } from "./networks";
import { CatalogError, startStages } from "../../model/start-order";
import { connectionEnv, containerName, passwordFile, QUESTDB_CONF_PATH, questdbServerConf, REDIS_AUTH_CONF, redisCommand } from "./store-config";
import { MAINTENANCE_PAGE_HOST_DIR, dockerVolumeName } from "./layout";
import { allOf, Gate } from "../../components/gate";

export interface SofiaContainersArgs {
    /** The stack's catalog (model/catalog.ts, with the chosen time-series store). */
    catalog: CatalogEntry[];
    /** Validated stack settings. */
    settings: Settings;
    /** Docker provider of the host. */
    provider: docker.Provider;
    /** CloudWatch Logs group per catalog entry. */
    logGroups: Record<string, pulumi.Input<string>>;
    /** The host's private address: the front proxy takes the client ports there. */
    hostPrivateIp: pulumi.Input<string>;
    /**
     * The stores' ports are also published on the host's private address, for clients elsewhere in
     * the VPC (the ECS topology's tasks; its security group admits them alone). @default loopback only
     */
    storesOnPrivateIp?: boolean;
    /**
     * The tools' operator ports ("staff") are also published on the host's private address, for a
     * load balancer in front that serves them over TLS to staffCidrs (the ECS topology's store host;
     * its security group admits the load balancer alone there). @default loopback only
     */
    staffOnPrivateIp?: boolean;
    /** What the deploy holds the containers back for (deploy-checklist.ts): empty when it runs no such step. */
    gates: {
        /** Every container waits for these (the maintenance page, the backup). */
        beforeContainers: Gate;
        /** The apps also wait for these (the migrations, which wait for the stores). */
        beforeApps: Gate;
    };
}

/** The proxy's configuration, pages, flag directory and TLS, from the catalog and settings. */
function proxyExtras(catalog: readonly CatalogEntry[], s: Settings): Partial<ContainerServiceArgs> {
    const options = stackProxyOptions(catalog, s);
    const tls = proxyTls(s);
    const acme = proxyTlsSource(s) === "acme";
    return {
        files: [
            { path: PROXY_CONF_PATH, content: proxyConfig(options) },
            ...Object.entries(maintenancePages(s.deploy.retryAfterSeconds)).map(([f, content]) => ({ path: `${PROXY_PAGES_DIR}/${f}`, content })),
            ...(tls ? [{ path: PROXY_TLS_CERT, content: tls.certificate }] : []),
        ],
        secretFiles: tls ? [{ path: PROXY_TLS_KEY, value: tls.key }] : [],
        binds: [
            { hostPath: MAINTENANCE_PAGE_HOST_DIR, path: MAINTENANCE_PAGE_DIR },
            // The certificate host/sofia-cert.sh installs, and the challenges it answers (read-only here).
            ...(acme ? [{ hostPath: ACME.hostTlsDir, path: ACME.tlsDir }, { hostPath: ACME.hostWebroot, path: ACME.webroot }] : []),
        ],
    };
}

/** Store-specific inputs beyond what the catalog says: configuration files and credentials. */
/** A template applied to a value that may be plain (the fingerprint's placeholder) or an Output (the real password). */
function withValue(v: pulumi.Input<string>, f: (s: string) => string): pulumi.Input<string> {
    return typeof v === "string" ? f(v) : pulumi.output(v).apply(f);
}

function storeExtras(entry: CatalogEntry, s: Settings, password: pulumi.Input<string>): Partial<ContainerServiceArgs> {
    switch (entry.name) {
        case "redis": {
            // Its data directory is where the catalog mounts its volume.
            const dataDir = entry.volumes?.[0]?.path;
            if (!dataDir) throw new CatalogError("catalog: redis needs a volume for its data directory");
            return {
                command: redisCommand(s.redis, dataDir),
                secretFiles: [{ path: REDIS_AUTH_CONF, value: withValue(password, (p) => `requirepass ${p}\n`) }],
                // redis-cli in the health check reads REDISCLI_AUTH; it comes from the secret file.
                healthcheck: { ...entry.check, test: ["CMD-SHELL", `REDISCLI_AUTH="$(cat ${passwordFile("redis")})" ${entry.check.test.slice(1).join(" ")}`] },
            };
        }
        case "questdb":
            return { secretFiles: [{ path: QUESTDB_CONF_PATH, value: withValue(password, questdbServerConf) }] };
        case "timescaledb":
            return { env: { POSTGRES_PASSWORD_FILE: passwordFile("timescaledb") } };
        default:
            return {};
    }
}

/** A tool's inputs beyond what the catalog says. */
function toolExtras(entry: CatalogEntry, catalog: CatalogEntry[], s: Settings, behindLoadBalancer: boolean): Partial<ContainerServiceArgs> {
    if (entry.name === "grafana") return grafanaExtras(catalog, s, behindLoadBalancer);
    throw new CatalogError(`catalog: the tool ${entry.name} has no configuration in topology/host/containers.ts`);
}

/** What a container's arguments are made from besides its catalog entry and the settings. */
interface SpecContext {
    catalog: readonly CatalogEntry[];
    settings: Settings;
    /** Each store's generated password. */
    passwords: Record<string, pulumi.Input<string>>;
    hostPrivateIp: pulumi.Input<string>;
    logGroups: Record<string, pulumi.Input<string>>;
    storesOnPrivateIp?: boolean;
    staffOnPrivateIp?: boolean;
}

/** A catalog entry's container arguments (but its volumes, start order and provider). */
export function containerSpec(entry: CatalogEntry, ctx: SpecContext): Omit<ContainerServiceArgs, "volumes" | "startAfter" | "provider"> {
    const { catalog, settings: s } = ctx;
    const extras =
        entry.kind === "store" ? storeExtras(entry, s, ctx.passwords[entry.name]) : entry.kind === "edge" ? proxyExtras(catalog, s) : entry.kind === "tool" ? toolExtras(entry, [...catalog], s, ctx.staffOnPrivateIp === true) : {};
    // An app sees the password files of the stores it talks to; a store its own; a tool both; the proxy none.
    const peers = talksTo(catalog, entry);
    const storeSecrets = Object.entries(ctx.passwords)
        .filter(([owner]) => owner === entry.name || (entry.kind !== "store" && peers.includes(owner)))
        .map(([owner, pw]) => ({ path: passwordFile(owner), value: pw }));
    // Apps' client ports stay on loopback (host checks); the proxy takes them for clients.
    const ports =
        entry.kind === "edge"
            ? [...proxyRoutes(catalog).map((r) => r.listen), ...(proxyTlsSource(s) === "acme" ? [ACME.httpPort] : [])].map((port) => ({ port, bind: { ip: ctx.hostPrivateIp } }))
            : [
                  ...entry.ports.filter((p) => p.publish !== "private").map((p) => ({ port: p.port, bind: "loopback" as const })),
                  ...(entry.kind === "store" && ctx.storesOnPrivateIp ? entry.ports.map((p) => ({ port: p.port, bind: { ip: ctx.hostPrivateIp } })) : []),
                  ...(entry.kind === "tool" && ctx.staffOnPrivateIp ? entry.ports.filter((p) => p.publish === "staff").map((p) => ({ port: p.port, bind: { ip: ctx.hostPrivateIp } })) : []),
              ];
    return {
        containerName: containerName(entry),
        image: s.images[entry.name],
        command: entry.command,
        healthcheck: entry.check,
        ...extras,
        env: {
            ...(entry.kind === "app" ? connectionEnv(catalog, s.timeseriesStore, peers) : {}),
            ...entry.env,
            ...extras.env,
            ...(entry.name === "equities" && s.equityPrimary ? { EQUITY_PRIMARY: s.equityPrimary } : {}),
            ...s.serviceEnv[entry.name],
        },
        secretFiles: [...(entry.kind === "edge" ? [] : storeSecrets), ...(extras.secretFiles ?? [])],
        ports,
        memoryMb: entry.memoryMb,
        stopGraceSeconds: entry.stopGraceSeconds,
        // Fixed names, known before the stack exists: the fingerprint holds who shares which network.
        networks: networksOf(catalog, entry.name, servedElsewhere(catalog, ctx)),
        // A store served at the host's address is reached there by its name, by a client on this host too (Grafana's data source names it).
        hosts: entry.kind === "store" ? [] : peers.filter((p) => servedElsewhere(catalog, ctx).includes(p)).map((p) => ({ host: containerName({ name: p }), ip: ctx.hostPrivateIp })),
        logs: { group: ctx.logGroups[entry.name], region: s.region },
    };
}

/** The stores whose clients are elsewhere in the VPC (their ports on the private address): each on a network of its own. */
function servedElsewhere(catalog: readonly CatalogEntry[], ctx: Pick<SpecContext, "storesOnPrivateIp">): string[] {
    return ctx.storesOnPrivateIp ? catalog.filter((e) => e.kind === "store").map((e) => e.name) : [];
}

/** The migrations' one-shot container: the migrating entry's container, running its migration. */
function migrationSpec(migrator: CatalogEntry): Partial<ContainerServiceArgs> {
    return { command: migrator.migration, ports: [], volumes: [] };
}

/** What stands in, in the fingerprint, for values known only once the stack exists. */
const AT_DEPLOY = "(known at deploy time)";

/**
 * One fingerprint of everything that shapes the containers but their images: the very inputs
 * ContainerService declares for every catalog entry (and the migrations'), computed by the same
 * code, so nothing that shapes a container can be left out of it. Values only known at deploy time
 * (generated passwords, addresses, ids) do not change between updates of a stack, so they stand in
 * as placeholders. A new fingerprint makes an update verify (release/deploy.ts).
 */
export function containerFingerprint(catalog: readonly CatalogEntry[], s: Settings): string {
    const text = JSON.stringify(containerShapes(catalog, s));
    return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/**
 * The part of it that shapes the stores' containers: a change there replaces a store (an outage of
 * everything on it), so the deploy runs the whole checklist, backup and page first, not only the
 * verification.
 */
export function storeFingerprint(catalog: readonly CatalogEntry[], s: Settings): string {
    const stores = new Set(catalog.filter((e) => e.kind === "store").map((e) => containerName(e)));
    const text = JSON.stringify(containerShapes(catalog, s).filter((c) => stores.has(String(c.name))));
    return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** The inputs every container of the stack is declared with, deploy-time values as placeholders (the migrations' last). */
export function containerShapes(catalog: readonly CatalogEntry[], s: Settings): docker.ContainerArgs[] {
    const ctx: SpecContext = {
        catalog,
        settings: s,
        passwords: Object.fromEntries(catalog.filter(ownsPassword).map((e) => [e.name, AT_DEPLOY])),
        hostPrivateIp: AT_DEPLOY,
        logGroups: Object.fromEntries(catalog.map((e) => [e.name, AT_DEPLOY])),
    };
    const shapes = catalog.map((entry) => {
        const volumes = (entry.volumes ?? []).map((v) => ({ volumeName: dockerVolumeName(v.name), path: v.path }));
        return containerInputs({ ...containerSpec(entry, ctx), volumes }, AT_DEPLOY, { plainSecrets: true });
    });
    const migrator = catalog.find((e) => e.migration);
    if (migrator) shapes.push(containerInputs({ ...containerSpec(migrator, ctx), ...migrationSpec(migrator) }, AT_DEPLOY, { plainSecrets: true }));
    // Every value plain: an Output here would hide what it holds (a configuration template) from the fingerprint.
    let outputs = 0;
    JSON.stringify(shapes, (_k, v) => (pulumi.Output.isInstance(v) ? (outputs++, null) : v));
    if (outputs) throw new Error(`containerShapes: ${outputs} container input(s) still Outputs; what they hold would be left out of the fingerprint`);
    return shapes;
}

export { AT_DEPLOY };

export class SofiaContainers extends pulumi.ComponentResource {
    /** Containers by catalog name. */
    readonly containers: Record<string, docker.Container> = {};
    /** The Docker networks by name (topology/host/networks.ts). */
    readonly networks: Record<string, docker.Network> = {};
    /** Start stages, as the runbook orders them. */
    readonly stages: string[][];
    /** Each generated password (stores', tools' admins'), secret, by catalog name. */
    readonly passwords: Record<string, pulumi.Output<string>>;
    /** The stores' containers: what the migrations wait for. */
    readonly stores: docker.Container[] = [];
    /** How the migrations run: the migrating app's container, with its migration command (none without one). */
    readonly migration?: ContainerServiceArgs;

    constructor(name: string, args: SofiaContainersArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:services:SofiaContainers", name, {}, opts);
        const { catalog, settings: s, provider } = args;
        this.stages = startStages(catalog);
        const byName = new Map(catalog.map((e) => [e.name, e]));
        const child = { parent: this, provider };

        // Not internal: the apps reach exchanges and feeds through them, and the stores' loopback ports work.
        const elsewhere = servedElsewhere(catalog, args);
        for (const net of Object.keys(networkMembers(catalog, elsewhere))) {
            this.networks[net] = new docker.Network(`${name}-${net}`, { name: net, driver: "bridge", internal: false, attachable: false }, child);
        }
        const passwords = this.createPasswords(name, catalog);
        this.passwords = Object.fromEntries(Object.entries(passwords).map(([k, p]) => [k, p.result]));
        const ctx: SpecContext = { catalog, settings: s, passwords: this.passwords, hostPrivateIp: args.hostPrivateIp, logGroups: args.logGroups, storesOnPrivateIp: args.storesOnPrivateIp, staffOnPrivateIp: args.staffOnPrivateIp };
        // The networks by their fixed names, and each container after the networks it joins.
        const argsOf = (entry: CatalogEntry) => ({ ...containerSpec(entry, ctx), provider });

        const migrator = catalog.find((e) => e.migration);
        if (migrator?.migration) this.migration = { ...argsOf(migrator), ...migrationSpec(migrator) };
        for (const stage of this.stages) {
            const entries = stage.map((n) => byName.get(n) as CatalogEntry);
            for (const entry of entries) {
                const volumes = (entry.volumes ?? []).map((v) => ({
                    volumeName: new docker.Volume(`${name}-${v.name}`, { name: dockerVolumeName(v.name) }, { ...child, retainOnDelete: true }).name as pulumi.Input<string>,
                    path: v.path,
                }));
                const service = new ContainerService(
                    `${name}-${entry.name}`,
                    {
                        ...argsOf(entry),
                        volumes,
                        startAfter: entry.startsAfter.map((d) => this.containers[d]),
                        // Migrations run once every store is up and before any app starts.
                        waitFor: allOf(args.gates.beforeContainers, entry.kind === "app" ? args.gates.beforeApps : undefined, networksOf(catalog, entry.name, elsewhere).map((n) => this.networks[n])),
                    },
                    { parent: this },
                );
                this.containers[entry.name] = service.container;
                if (entry.kind === "store") this.stores.push(service.container);
            }
        }
        this.registerOutputs({ stages: this.stages, networks: networkMembers(catalog, elsewhere) });
    }

    /** One generated password per store; `special: false` keeps them safe in URLs and conf files. */
    private createPasswords(name: string, catalog: CatalogEntry[]): Record<string, random.RandomPassword> {
        return Object.fromEntries(
            catalog.filter(ownsPassword).map((e) => [e.name, new random.RandomPassword(`${name}-${e.name}-password`, { length: 32, special: false }, { parent: this })]),
        );
    }
}
