/**
 * The apps' volumes on ECS (the API's models, the UI's extensions): one encrypted EFS file system
 * with a mount target per subnet and an access point per catalog volume, reachable from the tasks
 * and the store host only. The store host mounts it (host/sofia-app-files.sh), so that its
 * backups take the volumes the catalog backs up, and a move carries the host topology's volumes
 * in; EFS' automatic backups (AWS Backup's daily plan) keep it too.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import { HostFilesPart } from "../../components/host-files";
import { hostScript } from "../../components/project-root";
import { CatalogEntry } from "../../model/catalog";
import { APP_FILES_BIN, APP_FILES_ENV, APP_FILES_MOUNT, shellDefaults, volumeHostPath } from "../host/layout";
import { hostEnvFile } from "../host/services-files";
import type { SharedVolume } from "../host/backups";
import { allowFrom, securityGroup } from "./network";
import { ecsApps } from "./tasks";

/** Who owns the apps' files: the user the tasks work on them as (the access points' posixUser), and the mode of a volume's directory. */
export const APP_FILES_OWNER = { uid: 1000, gid: 1000, mode: "0750" } as const;

/** NFS. */
const NFS_PORT = 2049;

/** The apps' volumes, by name. */
export function appVolumes(catalog: readonly CatalogEntry[]): string[] {
    return ecsApps(catalog).flatMap((e) => (e.volumes ?? []).map((v) => v.name));
}

/** The volumes the catalog backs up (`backup: files`), which the store host's backups take from the file system. */
export function backedUpVolumes(catalog: readonly CatalogEntry[]): string[] {
    return ecsApps(catalog).flatMap((e) => (e.backup?.kind === "files" ? [e.backup.volume] : []));
}

/** The backup items of the apps' volumes, as the store host reads and restores them on the file system (backup.tsv). */
export function sharedFileItems(catalog: readonly CatalogEntry[]): SharedVolume[] {
    return backedUpVolumes(catalog).map((name) => ({ name, source: `${APP_FILES_MOUNT}/${name}`, owner: `${APP_FILES_OWNER.uid}:${APP_FILES_OWNER.gid}` }));
}

/** sofia-app-files and its configuration, for the store host. */
export function appFilesHostFiles(catalog: readonly CatalogEntry[], fileSystemId: pulumi.Input<string>, dataPath: string): HostFilesPart {
    const volumes = appVolumes(catalog).map((v) => `${v}=${volumeHostPath(dataPath, v)}`);
    return {
        name: "app-files",
        files: [
            hostEnvFile(dataPath),
            {
                path: APP_FILES_ENV,
                content: pulumi.output(fileSystemId).apply((id) =>
                    shellDefaults(APP_FILES_ENV, "topology/ecs/files.ts", {
                        FILES_FS_ID: id,
                        FILES_MOUNT: APP_FILES_MOUNT,
                        FILES_OWNER: `${APP_FILES_OWNER.uid}:${APP_FILES_OWNER.gid}`,
                        FILES_MODE: APP_FILES_OWNER.mode,
                        FILES_VOLUMES: volumes.join(" "),
                    }, /^[A-Za-z0-9._:/= -]*$/),
                ),
            },
            { path: APP_FILES_BIN, content: fs.readFileSync(hostScript("sofia-app-files.sh"), "utf8"), mode: "0755" },
        ],
        afterInstall: [],
    };
}

export interface SharedFilesArgs {
    volumes: string[];
    vpcId: string;
    /** One subnet per zone: a mount target each (EFS refuses two in one zone). */
    subnetIds: string[];
    /** The security groups of what mounts it: the tasks with volumes, and the store host. */
    clients: aws.ec2.SecurityGroup[];
    tags: Record<string, string>;
}

export class SharedFiles extends pulumi.ComponentResource {
    readonly fileSystem: aws.efs.FileSystem;
    readonly accessPoints: Record<string, aws.efs.AccessPoint> = {};
    readonly mountTargets: aws.efs.MountTarget[];

    constructor(name: string, args: SharedFilesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:ecs:SharedFiles", name, {}, opts);
        const child = { parent: this };
        this.fileSystem = new aws.efs.FileSystem(`${name}-fs`, { encrypted: true, performanceMode: "generalPurpose", throughputMode: "elastic", tags: { ...args.tags, Name: `${name}-fs` } }, { ...child, protect: true });
        new aws.efs.BackupPolicy(`${name}-backup`, { fileSystemId: this.fileSystem.id, backupPolicy: { status: "ENABLED" } }, { parent: this.fileSystem });
        const sg = securityGroup(`${name}-sg`, args.vpcId, "Sofia shared files: NFS from the tasks only", args.tags, this);
        args.clients.forEach((client, i) => allowFrom(`${name}-in-nfs${i ? `-${i + 1}` : ""}`, sg, client, NFS_PORT, "NFS from a Sofia task with volumes", args.tags));
        this.mountTargets = args.subnetIds.map((subnetId, i) => new aws.efs.MountTarget(`${name}-mount-${i}`, { fileSystemId: this.fileSystem.id, subnetId, securityGroups: [sg.id] }, { parent: this.fileSystem }));
        for (const volume of args.volumes) {
            // One directory per volume, owned by an unprivileged user the task runs as on it.
            this.accessPoints[volume] = new aws.efs.AccessPoint(
                `${name}-${volume}`,
                { fileSystemId: this.fileSystem.id, rootDirectory: { path: `/${volume}`, creationInfo: { ownerUid: APP_FILES_OWNER.uid, ownerGid: APP_FILES_OWNER.gid, permissions: APP_FILES_OWNER.mode } }, posixUser: { uid: APP_FILES_OWNER.uid, gid: APP_FILES_OWNER.gid }, tags: { ...args.tags, Name: volume } },
                { parent: this.fileSystem },
            );
        }
        this.registerOutputs({ fileSystemId: this.fileSystem.id });
    }
}
