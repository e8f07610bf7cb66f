/**
 * One long-running container on a Docker host: pulled image, health check, restart policy, log
 * rotation, memory limit, private network, ports bound as asked, secrets as files.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { looksLikeSecretName } from "./formats";
import { allOf, Gate } from "./gate";

/** Where a published port listens on the host: its loopback, every address, or one address. */
export type Bind = "loopback" | "all" | { ip: pulumi.Input<string> };

export interface ContainerServiceArgs {
    /** Fixed container name; also its DNS name on `network`. */
    containerName: string;
    /** Image reference to pull and run. */
    image: string;
    /** Command (argv) overriding the image's default. @default the image's own */
    command?: string[];
    /** Plain environment variables. Secrets never go here: see `secretFiles`. @default none */
    env?: Record<string, string>;
    /**
     * Secret files written into the container before it starts: absent from `docker inspect`.
     * One secret file makes the whole upload list secret in plans, so plain configuration belongs
     * in `command` or `env`, where reviewers can read it. @default none
     */
    secretFiles?: { path: string; value: pulumi.Input<string> }[];
    /** Plain files written into the container before it starts (configuration reviewers should read). @default none */
    files?: { path: string; content: string }[];
    /** Host directories mounted into the container, read-only unless said otherwise. @default none */
    binds?: { hostPath: string; path: string; readOnly?: boolean }[];
    /** Ports published on the host; "loopback" keeps them on 127.0.0.1. Unlisted ports stay on the private network. @default none */
    ports?: { port: number; bind: Bind }[];
    /** Docker health check; creation waits for "healthy", so dependents start only after it passes. */
    healthcheck: { test: string[]; startPeriodSeconds: number; intervalSeconds?: number; timeoutSeconds?: number; retries?: number };
    /** Hard memory limit in MiB (swap disabled). */
    memoryMb: number;
    /** Seconds between SIGTERM and SIGKILL on stop, destroy and replacement. */
    stopGraceSeconds: number;
    /** Names other hosts are known by inside the container (its /etc/hosts): a service reached at an address, not on a network. @default none */
    hosts?: { host: string; ip: pulumi.Input<string> }[];
    /** Names of the private Docker networks to join (its name is its DNS alias on each). */
    networks: pulumi.Input<string>[];
    /** Named volumes to mount. @default none */
    volumes?: { volumeName: pulumi.Input<string>; path: string }[];
    /** Containers that must be healthy before this one is created. @default none */
    startAfter?: docker.Container[];
    /** Other steps that must be done first (a deploy's backup, say). @default none */
    waitFor?: Gate;
    /** Docker provider of the host. */
    provider: docker.Provider;
    /**
     * Ship the output to this CloudWatch Logs group (awslogs driver, non-blocking); `docker logs`
     * keeps working from a local, rotated cache. @default json-file logs on the host only
     */
    logs?: { group: pulumi.Input<string>; region: string };
    /** Log rotation: size of one local log file in MiB. @default 50 */
    logMaxSizeMb?: number;
    /** Log rotation: files kept. @default 5 */
    logMaxFiles?: number;
}

/** Throws on arguments Docker would accept but operations would regret. */
export function validateContainerServiceArgs(args: ContainerServiceArgs): void {
    const where = `ContainerService ${args.containerName}`;
    if (!/^[a-z0-9][a-z0-9_.-]*$/.test(args.containerName)) throw new Error(`${where}: containerName "${args.containerName}" is not a valid container name`);
    if (args.memoryMb < 6) throw new Error(`${where}: memoryMb ${args.memoryMb} is below Docker's 6 MiB minimum`);
    if (args.healthcheck.test.length === 0) throw new Error(`${where}: healthcheck.test is empty`);
    const secretish = Object.keys(args.env ?? {}).filter(looksLikeSecretName);
    if (secretish.length) throw new Error(`${where}: env ${secretish.join(", ")} would hold a secret in plain text; use secretFiles`);
    // A port may listen on the loopback and on one address besides (a store reached from the VPC), never twice on the same kind.
    const seen = new Set<string>();
    for (const p of args.ports ?? []) {
        const key = `${p.port}/${typeof p.bind === "string" ? p.bind : "address"}`;
        if (seen.has(key) || (p.bind === "all" && (args.ports ?? []).some((q) => q !== p && q.port === p.port))) throw new Error(`${where}: port ${p.port} is published twice`);
        seen.add(key);
    }
}

/** Files written into a container before it starts: secrets (kept secret) and plain configuration. */
export function uploadsOf(args: Pick<ContainerServiceArgs, "secretFiles" | "files">, plainSecrets = false) {
    return [
        // 0444: images drop root before reading them (redis, postgres); the container is single-purpose.
        ...(args.secretFiles ?? []).map((s) => ({ file: s.path, content: plainSecrets ? s.value : pulumi.secret(s.value), permissions: "0444" })),
        ...(args.files ?? []).map((f) => ({ file: f.path, content: f.content, permissions: "0444" })),
    ];
}

function hostIp(bind: Bind): pulumi.Input<string> {
    if (bind === "loopback") return "127.0.0.1";
    return bind === "all" ? "0.0.0.0" : bind.ip;
}

/** Log driver options: awslogs with a rotated local cache, or rotated json-file. */
export function logging(args: Pick<ContainerServiceArgs, "containerName" | "logs" | "logMaxSizeMb" | "logMaxFiles">): { logDriver: string; logOpts: pulumi.Input<Record<string, pulumi.Input<string>>> } {
    const size = `${args.logMaxSizeMb ?? 50}m`;
    const files = String(args.logMaxFiles ?? 5);
    if (!args.logs) return { logDriver: "json-file", logOpts: { "max-size": size, "max-file": files } };
    return {
        logDriver: "awslogs",
        logOpts: {
            "awslogs-region": args.logs.region,
            "awslogs-group": args.logs.group,
            "awslogs-stream": args.containerName,
            // A CloudWatch hiccup must not block the service's writes to stdout.
            mode: "non-blocking",
            "max-buffer-size": "4m",
            "cache-max-size": size,
            "cache-max-file": files,
        },
    };
}

/**
 * The Docker container's inputs for these arguments, but for the image: what ContainerService
 * declares, and what the deploy's container fingerprint is computed from (topology/host/containers.ts).
 */
export function containerInputs(args: Omit<ContainerServiceArgs, "image" | "provider">, image: pulumi.Input<string>, opts: { plainSecrets?: boolean } = {}): docker.ContainerArgs {
    const hc = args.healthcheck;
    return {
        name: args.containerName,
        image,
        command: args.command,
        envs: Object.entries(args.env ?? {}).map(([k, v]) => `${k}=${v}`),
        // Plain only for the fingerprint, whose placeholders stand in for the secrets themselves.
        uploads: uploadsOf(args, opts.plainSecrets),
        ports: (args.ports ?? []).map((p) => ({ internal: p.port, external: p.port, ip: hostIp(p.bind) })),
        networksAdvanced: args.networks.map((name) => ({ name, aliases: [args.containerName] })),
        ...(args.hosts?.length ? { hosts: args.hosts } : {}),
        volumes: [
            ...(args.volumes ?? []).map((v) => ({ volumeName: v.volumeName, containerPath: v.path })),
            ...(args.binds ?? []).map((b) => ({ hostPath: b.hostPath, containerPath: b.path, readOnly: b.readOnly ?? true })),
        ],
        healthcheck: {
            tests: hc.test,
            startPeriod: `${hc.startPeriodSeconds}s`,
            interval: `${hc.intervalSeconds ?? 10}s`,
            timeout: `${hc.timeoutSeconds ?? 5}s`,
            retries: hc.retries ?? 3,
        },
        // Crash restarts only: at boot the host starts containers in catalog order itself
        // (Docker would start them all at once), see host/sofia-services.sh.
        restart: "on-failure",
        maxRetryCount: 0,
        memory: args.memoryMb,
        memorySwap: args.memoryMb,
        ...logging(args),
        privileged: false,
        init: true,
        stopSignal: "SIGTERM",
        stopTimeout: args.stopGraceSeconds,
        destroyGraceSeconds: args.stopGraceSeconds,
        // Creation returns only once Docker reports the container healthy.
        wait: true,
        waitTimeout: hc.startPeriodSeconds + (hc.intervalSeconds ?? 10) * ((hc.retries ?? 3) + 3),
        mustRun: true,
    };
}

export class ContainerService extends pulumi.ComponentResource {
    readonly container: docker.Container;
    readonly image: docker.RemoteImage;

    constructor(name: string, args: ContainerServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:container:ContainerService", name, {}, opts);
        validateContainerServiceArgs(args);
        this.image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, { parent: this, provider: args.provider });
        this.container = this.createContainer(name, args);
        this.registerOutputs({ containerName: this.container.name, imageId: this.image.imageId });
    }

    private createContainer(name: string, args: ContainerServiceArgs): docker.Container {
        return new docker.Container(
            `${name}-container`,
            containerInputs(args, this.image.imageId),
            {
                parent: this,
                provider: args.provider,
                dependsOn: allOf(args.startAfter, args.waitFor),
                // Fixed names and ports cannot exist twice; the provider only waits for health on
                // create, so a changed health check must create the container anew.
                deleteBeforeReplace: true,
                replaceOnChanges: ["healthcheck"],
            },
        );
    }
}
