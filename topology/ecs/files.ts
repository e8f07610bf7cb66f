/**
 * The apps' volumes on ECS (the API's models, the UI's extensions): one encrypted EFS file system
 * with a mount target per subnet and an access point per catalog volume, reachable from the tasks
 * only. EFS's automatic backups (AWS Backup's daily plan) keep them: the host's backup does not
 * see them in this topology.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { CatalogEntry } from "../../model/catalog";
import { allowFrom, securityGroup } from "./network";
import { ecsApps } from "./tasks";

/** NFS. */
const NFS_PORT = 2049;

/** The apps' volumes, by name. */
export function appVolumes(catalog: readonly CatalogEntry[]): string[] {
    return ecsApps(catalog).flatMap((e) => (e.volumes ?? []).map((v) => v.name));
}

export interface SharedFilesArgs {
    volumes: string[];
    vpcId: string;
    /** One subnet per zone: a mount target each (EFS refuses two in one zone). */
    subnetIds: string[];
    /** The security groups of the tasks that mount it. */
    clients: aws.ec2.SecurityGroup[];
    tags: Record<string, string>;
}

export class SharedFiles extends pulumi.ComponentResource {
    readonly fileSystem: aws.efs.FileSystem;
    readonly accessPoints: Record<string, aws.efs.AccessPoint> = {};

    constructor(name: string, args: SharedFilesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:ecs:SharedFiles", name, {}, opts);
        const child = { parent: this };
        this.fileSystem = new aws.efs.FileSystem(`${name}-fs`, { encrypted: true, performanceMode: "generalPurpose", throughputMode: "elastic", tags: { ...args.tags, Name: `${name}-fs` } }, { ...child, protect: true });
        new aws.efs.BackupPolicy(`${name}-backup`, { fileSystemId: this.fileSystem.id, backupPolicy: { status: "ENABLED" } }, { parent: this.fileSystem });
        const sg = securityGroup(`${name}-sg`, args.vpcId, "Sofia shared files: NFS from the tasks only", args.tags, this);
        args.clients.forEach((client, i) => allowFrom(`${name}-in-nfs${i ? `-${i + 1}` : ""}`, sg, client, NFS_PORT, "NFS from a Sofia task with volumes", args.tags));
        args.subnetIds.forEach((subnetId, i) => {
            new aws.efs.MountTarget(`${name}-mount-${i}`, { fileSystemId: this.fileSystem.id, subnetId, securityGroups: [sg.id] }, { parent: this.fileSystem });
        });
        for (const volume of args.volumes) {
            // One directory per volume, owned by an unprivileged user the task runs as on it.
            this.accessPoints[volume] = new aws.efs.AccessPoint(
                `${name}-${volume}`,
                { fileSystemId: this.fileSystem.id, rootDirectory: { path: `/${volume}`, creationInfo: { ownerUid: 1000, ownerGid: 1000, permissions: "0750" } }, posixUser: { uid: 1000, gid: 1000 }, tags: { ...args.tags, Name: volume } },
                { parent: this.fileSystem },
            );
        }
        this.registerOutputs({ fileSystemId: this.fileSystem.id });
    }
}
