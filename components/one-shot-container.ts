/**
 * A container that runs one command to completion (a deploy's migrations): created, attached to
 * until it exits, its logs kept. The Docker provider records the exit code without failing on
 * it, so whoever needs "exit 0" checks it (host/sofia-services.sh `migrated`).
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ContainerServiceArgs, logging, uploadsOf } from "./container-service";
import { Gate } from "./gate";

export type OneShotArgs = Pick<ContainerServiceArgs, "containerName" | "image" | "command" | "env" | "secretFiles" | "memoryMb" | "networks" | "provider" | "logs"> & {
    /** What must be done first (the stores it migrates). */
    waitFor: Gate;
    /** Docker labels; a change replaces the container, which runs it again. */
    labels?: Record<string, string>;
};

export class OneShotContainer extends pulumi.ComponentResource {
    readonly container: docker.Container;

    constructor(name: string, args: OneShotArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:container:OneShotContainer", name, {}, opts);
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, { parent: this, provider: args.provider });
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: args.containerName,
                image: image.imageId,
                command: args.command,
                envs: Object.entries(args.env ?? {}).map(([k, v]) => `${k}=${v}`),
                uploads: uploadsOf(args),
                networksAdvanced: args.networks.map((name) => ({ name, aliases: [args.containerName] })),
                memory: args.memoryMb,
                memorySwap: args.memoryMb,
                // Runs once: attach waits for the exit; no restart, and it stays for its logs.
                attach: true,
                logs: true,
                mustRun: false,
                restart: "no",
                rm: false,
                init: true,
                labels: Object.entries(args.labels ?? {}).map(([label, value]) => ({ label, value })),
                // It runs once: a small local log cache is plenty for `docker logs --tail`.
                ...logging({ ...args, logMaxSizeMb: 10, logMaxFiles: 2 }),
            },
            { parent: this, provider: args.provider, dependsOn: args.waitFor, deleteBeforeReplace: true },
        );
        this.registerOutputs({ containerName: this.container.name });
    }
}
