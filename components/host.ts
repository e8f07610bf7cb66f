/**
 * The EC2 host that runs Sofia's containers: instance, encrypted volumes, security group, IAM
 * role, cloud-init, and the Docker provider that later components deploy containers through.
 */
import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import { isTooWideForAdmin } from "./formats";
import { HostCommand } from "./host-command";
import { HostFiles, HostFilesPart } from "./host-files";
import { assumedBy } from "./iam";
import { renderCloudConfig } from "./cloud-init";
import { hostScript } from "./project-root";
import { Transform, transformed } from "./transform";

/** A port the host publishes to the client CIDRs. */
export interface PublishedPort {
    port: number;
    /** Why it is open; becomes the security-group rule's description. */
    description: string;
    /** Who may reach it. @default the host's `clientCidrs` */
    cidrs?: string[];
}

export interface HostArgs {
    /** What the host's users, files and descriptions are named after. */
    naming: HostNaming;
    /** EC2 instance type; an ARM family (t4g, m7g, …) selects an arm64 image. */
    instanceType: string;
    /** AWS region, for the SSM tunnel the Docker provider uses. */
    region: string;
    /** Availability zone of the instance and its data volume. */
    zone: string;
    /** Subnet to launch in. @default the default VPC's subnet in `zone` */
    subnetId?: string;
    /** Root volume size in GiB (encrypted gp3). */
    rootVolumeGb: number;
    /** Data volume size in GiB (encrypted gp3), mounted at `dataPath`. */
    dataVolumeGb: number;
    /** Ports opened to `clientCidrs`; nothing else is opened to clients. */
    clientPorts: PublishedPort[];
    /** Who may reach `clientPorts`. */
    clientCidrs: string[];
    /** Ports opened to everyone (IPv4 and IPv6): only what anyone must reach, such as an ACME CA's HTTP-01 challenge. @default none */
    worldPorts?: PublishedPort[];
    /** An Elastic IP for the host, so that its public address (where a DNS name points) survives stop and start. @default false */
    staticAddress?: boolean;
    /** Who may reach SSH; only used with `dockerAccess: "admin-ssh"`. Never the whole internet. */
    adminCidrs: string[];
    /** How the Docker provider reaches the host: SSH tunnelled through SSM, or SSH from `adminCidrs`. */
    dockerAccess: "ssm" | "admin-ssh";
    /** OpenSSH public key of the deploy user the Docker provider logs in as. */
    sshPublicKey: string;
    /** Where host-files parts write their installed digest (the deploy key's among them). */
    hostFilesMarkerDir: string;
    /** The backup bucket and the key prefix the host may use (and its KMS key, if any); the role gets that prefix only. @default none: the role reaches no bucket */
    backupBucket?: { arn: pulumi.Input<string>; prefix: string; kmsKeyArn?: string };
    /** The stack's metrics namespace and log groups: all the host's agents may write to. */
    scope: HostScope;
    /**
     * Registries the Docker provider logs in to for pulls. A password left unset is read from
     * DOCKER_REGISTRY_PASS where pulumi runs (the provider's own fallback). @default none
     */
    registries?: { address: string; username: string; password?: pulumi.Input<string> }[];
    /** Where the data volume is mounted. @default DEFAULT_DATA_PATH */
    dataPath?: string;
    /** Adjust a child before it is created (fields merged over the component's, or a function). @default none */
    transform?: { instance?: Transform<aws.ec2.InstanceArgs>; securityGroup?: Transform<aws.ec2.SecurityGroupArgs>; dataVolume?: Transform<aws.ebs.VolumeArgs> };
    /** Tags for every taggable child. @default none */
    tags?: Record<string, string>;
}

/** Where the data volume is mounted unless told otherwise; Docker's data root lives under it. */
export const DEFAULT_DATA_PATH = "/data";

/** Scratch space for backups and restores, on the data volume (never the root volume). */
export function stagingPath(dataPath: string): string {
    return `${dataPath}/backup-staging`;
}

/** What the host may write to: its stack's metrics namespace and log groups. */
export interface HostScope {
    metricsNamespace: string;
    /** Every log group of the stack starts with it (e.g. "/sofia/prod/"). */
    logGroupPrefix: string;
}

/**
 * What the host's own agents need and no more (in place of AWS's AmazonSSMManagedInstanceCore and
 * CloudWatchAgentServerPolicy, whose metrics, logs and parameters are every stack's): the SSM
 * agent's calls, but no parameter reads; metrics only into its stack's namespace (a staging host
 * could otherwise publish prod's MaintenanceActive and silence every prod page); logs only into
 * its stack's log groups.
 */
export function hostAgentPolicy(scope: HostScope): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "SsmAgent",
                Effect: "Allow",
                Action: [
                    "ssm:DescribeAssociation", "ssm:GetDeployablePatchSnapshotForInstance", "ssm:GetDocument", "ssm:DescribeDocument", "ssm:GetManifest",
                    "ssm:ListAssociations", "ssm:ListInstanceAssociations", "ssm:PutInventory", "ssm:PutComplianceItems", "ssm:PutConfigurePackageResult",
                    "ssm:UpdateAssociationStatus", "ssm:UpdateInstanceAssociationStatus", "ssm:UpdateInstanceInformation",
                    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
                    "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage", "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
                ],
                Resource: "*",
            },
            // PutMetricData has no resource: the namespace condition is what scopes it.
            { Sid: "OwnMetricsOnly", Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*", Condition: { StringEquals: { "cloudwatch:namespace": scope.metricsNamespace } } },
            {
                Sid: "OwnLogsOnly",
                Effect: "Allow",
                Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                Resource: [`arn:aws:logs:*:*:log-group:${scope.logGroupPrefix}*`, `arn:aws:logs:*:*:log-group:${scope.logGroupPrefix}*:log-stream:*`],
            },
            // What the CloudWatch agent reads about itself: read-only.
            { Sid: "AgentDescribes", Effect: "Allow", Action: ["ec2:DescribeTags", "ec2:DescribeVolumes", "logs:DescribeLogGroups"], Resource: "*" },
        ],
    });
}

/** What the host's own users, files and descriptions are named after: the caller's system. */
export interface HostNaming {
    /** Lower-case word for users, files and paths: "acme" gives the deploy user "acme-deploy". */
    slug: string;
    /** The system's name in descriptions people read: "Acme host: ...". */
    title: string;
    /** Who generates the host's files, in their first line: "# Generated by acme-infra (...)". */
    generator: string;
}

/** The user Pulumi's Docker provider logs in as; member of the `docker` group only. */
export function deployUser(n: HostNaming): string {
    return `${n.slug}-deploy`;
}

export function deployAuthorizedKeys(n: HostNaming): string {
    return `/home/${deployUser(n)}/.ssh/authorized_keys`;
}

/**
 * The deploy user's key, as host files: an SSM association installs it, and installs it again when
 * it changes, replacing the old key. cloud-init sets users up once per instance, and a change of
 * user data stops and starts the host: a key there could not be rotated.
 */
export function deployKeyPart(sshPublicKey: string, n: HostNaming): HostFilesPart {
    const keys = deployAuthorizedKeys(n);
    const dir = keys.replace(/\/[^/]+$/, "");
    const user = deployUser(n);
    return {
        name: "deploy-key",
        files: [{ path: keys, content: `${sshPublicKey}\n`, mode: "0600" }],
        // sshd reads a user's keys only from a directory and file that user (or root) owns, closed to others.
        afterInstall: [`chown -R ${user}:${user} ${dir}`, `chmod 700 ${dir}`],
    };
}

/** Throws when arguments would open the host wider than intended. */
export function validateHostArgs(args: HostArgs): void {
    const world = args.adminCidrs.filter(isTooWideForAdmin);
    if (world.length > 0) throw new Error(`HostArgs.adminCidrs: ${world.join(", ")} would open SSH to a large part of the internet`);
    if ((args.worldPorts ?? []).some((p) => p.port === 22)) throw new Error("HostArgs.worldPorts: port 22 (SSH) is never opened to everyone; use adminCidrs");
    if (args.dockerAccess === "admin-ssh" && args.adminCidrs.length === 0) {
        throw new Error(`HostArgs.adminCidrs: dockerAccess "admin-ssh" needs at least one admin CIDR`);
    }
}

/** The instance architecture an instance type needs (Graviton families carry a "g" after the generation). */
export function architectureOf(instanceType: string): "arm64" | "x86_64" {
    return /^[a-z]+\d+g[a-z]*\./.test(instanceType) ? "arm64" : "x86_64";
}

/**
 * sshd for the Docker provider: it opens one SSH session per Docker call, many at once (a whole
 * start stage), multiplexed over one connection (controlOpts). sshd's defaults (MaxSessions 10,
 * MaxStartups 10:30:100) would drop the rest.
 */
export function sshdDeployConf(n: HostNaming): string {
    return `# Generated by ${n.generator} (components/host.ts): room for the Docker provider's parallel sessions.
MaxSessions 64
MaxStartups 64:30:128
`;
}

/** One SSH connection for every Docker call of an update: later calls reuse it instead of dialling again. */
export function controlOpts(n: HostNaming): string[] {
    return ["-o", "ControlMaster=auto", "-o", `ControlPath=/tmp/${n.slug}-ssh-%C`, "-o", "ControlPersist=15m", "-o", "ServerAliveInterval=30"];
}

/**
 * cloud-config for the host: Docker on the data volume, the SSM and CloudWatch agents, the deploy
 * user. A change here stops and starts the host (user data): its names stay as they are.
 */
export function hostUserData(args: { volumeId: string; dataPath: string; naming: HostNaming }): string {
    const n = args.naming;
    const mountData = `/usr/local/sbin/${n.slug}-mount-data`;
    const dockerRoot = `${args.dataPath}/docker`;
    return renderCloudConfig({
        groups: ["docker"],
        // Its key comes from an SSM association (deployKeyPart), so that it can be rotated.
        users: [{ name: deployUser(n), groups: ["docker"] }],
        // dnf-plugins-core: needs-restarting, which tells the patch task whether to reboot.
        packages: ["docker", "amazon-ssm-agent", "amazon-cloudwatch-agent", "xfsprogs", "jq", "dnf-plugins-core"],
        writeFiles: [
            { path: mountData, permissions: "0755", content: fs.readFileSync(hostScript("mount-data-volume.sh"), "utf8") },
            {
                path: "/etc/docker/daemon.json",
                // Rotation here is the floor for every container; live-restore keeps containers
                // running while dockerd itself is patched.
                content: JSON.stringify({ "data-root": dockerRoot, "log-driver": "json-file", "log-opts": { "max-size": "50m", "max-file": "5" }, "live-restore": true }, null, 2) + "\n",
            },
            { path: `/etc/ssh/sshd_config.d/60-${n.slug}-deploy.conf`, content: sshdDeployConf(n) },
            {
                // Docker's data lives on the data volume: never let dockerd start without it,
                // or it would silently create an empty data root on the root volume.
                path: `/etc/systemd/system/docker.service.d/${n.slug}-data.conf`,
                content: `[Unit]\nRequiresMountsFor=${args.dataPath}\n`,
            },
        ],
        runcmd: [
            [mountData, args.volumeId, args.dataPath],
            ["mkdir", "-p", dockerRoot, stagingPath(args.dataPath)],
            ["systemctl", "daemon-reload"],
            // sshd may have started before write_files: read its drop-in now.
            ["systemctl", "reload", "sshd"],
            ["systemctl", "enable", "--now", "amazon-ssm-agent"],
            ["systemctl", "enable", "--now", "docker"],
        ],
    });
}

/** IAM policy document: list, read and write under one prefix of the backup bucket (and use its key), nothing else. */
export function backupPrefixPolicy(bucketArn: string, prefix: string, kmsKeyArn?: string): string {
    const clean = prefix.replace(/^\/+|\/+$/g, "");
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            { Sid: "ListOwnPrefix", Effect: "Allow", Action: ["s3:ListBucket"], Resource: [bucketArn], Condition: { StringLike: { "s3:prefix": [`${clean}/*`, clean] } } },
            { Sid: "ReadWriteOwnPrefix", Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject", "s3:GetObjectAttributes", "s3:AbortMultipartUpload"], Resource: [`${bucketArn}/${clean}/*`] },
            ...(kmsKeyArn ? [{ Sid: "UseBackupKey", Effect: "Allow", Action: ["kms:GenerateDataKey", "kms:Decrypt"], Resource: [kmsKeyArn] }] : []),
        ],
    });
}

/** The provider's registry logins; without a password it reads DOCKER_REGISTRY_PASS itself. */
function registryAuth(args: HostArgs): docker.types.input.ProviderRegistryAuth[] | undefined {
    return args.registries?.map((r) => ({ address: r.address, username: r.username, ...(r.password !== undefined ? { password: r.password } : {}) }));
}

export class Host extends pulumi.ComponentResource {
    readonly instance: aws.ec2.Instance;
    readonly dataVolume: aws.ebs.Volume;
    readonly securityGroup: aws.ec2.SecurityGroup;
    readonly role: aws.iam.Role;
    readonly dockerProvider: docker.Provider;
    /** Done when cloud-init has finished: Docker installed, data volume mounted. */
    readonly ready: HostCommand;
    readonly publicIp: pulumi.Output<string>;

    constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:host:Host", name, {}, opts);
        validateHostArgs(args);
        const dataPath = args.dataPath ?? DEFAULT_DATA_PATH;
        const tags = args.tags ?? {};

        const subnet = args.subnetId
            ? aws.ec2.getSubnetOutput({ id: args.subnetId }, { parent: this })
            : aws.ec2.getSubnetOutput({ defaultForAz: true, availabilityZone: args.zone }, { parent: this });

        this.securityGroup = this.createSecurityGroup(name, args, subnet.vpcId, tags);
        this.role = this.createRole(name, args, tags);
        const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: this.role.name, tags }, { parent: this });

        this.dataVolume = new aws.ebs.Volume(
            ...transformed(
                args.transform?.dataVolume,
                `${name}-data`,
                { availabilityZone: subnet.availabilityZone, size: args.dataVolumeGb, type: "gp3", encrypted: true, tags: { ...tags, Name: `${name}-data` } },
                // Every store is on it: neither pulumi destroy nor a replacement may delete it unasked.
                { parent: this, protect: true },
            ),
        );
        this.instance = this.createInstance(name, args, subnet.id, profile, dataPath, tags);

        const attachment = new aws.ec2.VolumeAttachment(`${name}-data-attachment`, { instanceId: this.instance.id, volumeId: this.dataVolume.id, deviceName: "/dev/sdf", stopInstanceBeforeDetaching: true }, { parent: this });
        this.ready = new HostCommand(
            `${name}-ready`,
            { instanceId: this.instance.id, region: args.region, command: "cloud-init status --wait", triggers: [this.instance.id], after: [attachment] },
            { parent: this },
        );

        // Associated with the instance, and moved to its replacement: the address a DNS name points at stays.
        this.publicIp = args.staticAddress
            ? new aws.ec2.Eip(`${name}-ip`, { domain: "vpc", instance: this.instance.id, tags: { ...tags, Name: `${name}-ip` } }, { parent: this }).publicIp
            : this.instance.publicIp;
        // The deploy key in place (this update's version of it) before any Docker call logs in with it.
        const key = new HostFiles(`${name}-files`, { instanceId: this.instance.id, parts: [deployKeyPart(args.sshPublicKey, args.naming)], markerDir: args.hostFilesMarkerDir, after: [this.ready.run], tags }, { parent: this });
        const keyInPlace = new HostCommand(
            `${name}-deploy-key-ready`,
            { instanceId: this.instance.id, region: args.region, command: `test -s ${deployAuthorizedKeys(args.naming)}`, triggers: key.installed.map((i) => i.digest), requires: key.installed, after: key.associations },
            { parent: this },
        );
        this.dockerProvider = this.createDockerProvider(name, args, [this.ready.run, keyInPlace.run]);
        this.registerOutputs({ instanceId: this.instance.id, publicIp: this.publicIp, dataVolumeId: this.dataVolume.id, roleArn: this.role.arn });
    }

    private createSecurityGroup(name: string, args: HostArgs, vpcId: pulumi.Input<string>, tags: Record<string, string>): aws.ec2.SecurityGroup {
        const sg = new aws.ec2.SecurityGroup(
            ...transformed(
                args.transform?.securityGroup,
                `${name}-sg`,
                { vpcId, description: `${args.naming.title} host: client ports to client CIDRs only`, revokeRulesOnDelete: true, tags: { ...tags, Name: `${name}-sg` } },
                { parent: this },
            ),
        );
        const cidrArgs = (cidr: string) => (cidr.includes(":") ? { cidrIpv6: cidr } : { cidrIpv4: cidr });
        for (const { port, description, cidrs } of args.clientPorts) {
            (cidrs ?? args.clientCidrs).forEach((cidr, i) => {
                new aws.vpc.SecurityGroupIngressRule(
                    `${name}-in-${port}-${i}`,
                    { securityGroupId: sg.id, ipProtocol: "tcp", fromPort: port, toPort: port, description, ...cidrArgs(cidr), tags },
                    { parent: sg },
                );
            });
        }
        for (const { port, description } of args.worldPorts ?? []) {
            for (const [suffix, cidr] of [["v4", "0.0.0.0/0"], ["v6", "::/0"]] as const) {
                new aws.vpc.SecurityGroupIngressRule(`${name}-in-${port}-world-${suffix}`, { securityGroupId: sg.id, ipProtocol: "tcp", fromPort: port, toPort: port, description, ...cidrArgs(cidr), tags }, { parent: sg });
            }
        }
        if (args.dockerAccess === "admin-ssh") {
            args.adminCidrs.forEach((cidr, i) => {
                new aws.vpc.SecurityGroupIngressRule(
                    `${name}-in-ssh-${i}`,
                    { securityGroupId: sg.id, ipProtocol: "tcp", fromPort: 22, toPort: 22, description: "SSH for the Docker provider, admin CIDRs only", ...cidrArgs(cidr), tags },
                    { parent: sg },
                );
            });
        }
        // Outbound is open: image pulls, exchange websockets, news feeds, AWS APIs (SSM, S3, CloudWatch).
        for (const [suffix, cidr] of [["v4", "0.0.0.0/0"], ["v6", "::/0"]] as const) {
            new aws.vpc.SecurityGroupEgressRule(
                `${name}-out-${suffix}`,
                { securityGroupId: sg.id, ipProtocol: "-1", description: "Outbound: images, market feeds, AWS APIs", ...cidrArgs(cidr), tags },
                { parent: sg },
            );
        }
        return sg;
    }

    private createRole(name: string, args: HostArgs, tags: Record<string, string>): aws.iam.Role {
        const role = new aws.iam.Role(
            `${name}-role`,
            {
                description: `${args.naming.title} host: SSM, CloudWatch agent, its own backup prefix`,
                assumeRolePolicy: assumedBy("ec2.amazonaws.com"),
                tags,
            },
            { parent: this },
        );
        new aws.iam.RolePolicy(`${name}-agents`, { role: role.id, policy: hostAgentPolicy(args.scope) }, { parent: role });
        if (args.backupBucket) {
            const { arn, prefix, kmsKeyArn } = args.backupBucket;
            new aws.iam.RolePolicy(`${name}-backups`, { role: role.id, policy: pulumi.output(arn).apply((a) => backupPrefixPolicy(a, prefix, kmsKeyArn)) }, { parent: role });
        }
        return role;
    }

    private createInstance(
        name: string,
        args: HostArgs,
        subnetId: pulumi.Input<string>,
        profile: aws.iam.InstanceProfile,
        dataPath: string,
        tags: Record<string, string>,
    ): aws.ec2.Instance {
        const ami = aws.ec2.getAmiOutput(
            {
                mostRecent: true,
                owners: ["amazon"],
                filters: [
                    { name: "name", values: ["al2023-ami-2023.*"] },
                    { name: "architecture", values: [architectureOf(args.instanceType)] },
                    { name: "virtualization-type", values: ["hvm"] },
                ],
            },
            { parent: this },
        );
        return new aws.ec2.Instance(
            ...transformed(
                args.transform?.instance,
                `${name}-instance`,
                {
                    ami: ami.id,
                    instanceType: args.instanceType,
                    subnetId,
                    vpcSecurityGroupIds: [this.securityGroup.id],
                    iamInstanceProfile: profile.name,
                    associatePublicIpAddress: true,
                    monitoring: true,
                    ebsOptimized: true,
                    // Hop limit 1: containers on the bridge network cannot borrow the host's role.
                    metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
                    rootBlockDevice: { volumeType: "gp3", volumeSize: args.rootVolumeGb, encrypted: true, deleteOnTermination: true },
                    userData: this.dataVolume.id.apply((volumeId) => hostUserData({ volumeId, dataPath, naming: args.naming })),
                    tags: { ...tags, Name: name },
                },
                // A newer AMI must not replace the host that holds the data: patches come through SSM.
                { parent: this, ignoreChanges: ["ami"] },
            ),
        );
    }

    private createDockerProvider(name: string, args: HostArgs, after: pulumi.Resource[]): docker.Provider {
        if (args.dockerAccess === "admin-ssh") {
            return new docker.Provider(
                `${name}-docker`,
                { host: pulumi.interpolate`ssh://${deployUser(args.naming)}@${this.instance.publicIp}`, sshOpts: ["-o", "StrictHostKeyChecking=accept-new", ...controlOpts(args.naming)], registryAuth: registryAuth(args) },
                { parent: this, dependsOn: after },
            );
        }
        // No inbound port at all: ssh runs inside an SSM session to the instance id.
        const proxy = `ProxyCommand=aws ssm start-session --region ${args.region} --target %h --document-name AWS-StartSSHSession --parameters portNumber=%p`;
        return new docker.Provider(
            `${name}-docker`,
            { host: pulumi.interpolate`ssh://${deployUser(args.naming)}@${this.instance.id}`, sshOpts: ["-o", proxy, "-o", "StrictHostKeyChecking=accept-new", ...controlOpts(args.naming)], registryAuth: registryAuth(args) },
            // Every Docker resource uses this provider, so none is attempted before the host is ready.
            { parent: this, dependsOn: after },
        );
    }
}
