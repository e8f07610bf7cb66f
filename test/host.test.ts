import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { BackupBucket } from "../components/backup-bucket";
import { architectureOf, backupPrefixPolicy, controlOpts, Host, HostArgs, hostUserData, sshdDeployConf, validateHostArgs } from "../components/host";
import { HOST_NAMING } from "../topology/host/layout";
import { runOffline } from "../plan/offline";
import { clientPorts, sofiaCatalog } from "../model/catalog";
import { ofType, one, planStack } from "./helpers/plan";
import type { Plan } from "../plan/offline";

const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKRiw9uK4mRIBIf1ZLvaCONfaETTv0o7k3j1UY7K+fbE test";

/** A Host of one project's "unit" stack, planned offline with `args` over small defaults (and whatever `more` declares). */
function planHost(project: string, args: Partial<HostArgs>, more: () => void = () => undefined): Promise<Plan> {
    const title = project[0].toUpperCase() + project.slice(1);
    return runOffline({
        project,
        stack: "unit",
        config: new Map([["aws:region", { value: "eu-central-1", secret: false }]]),
        program: () => {
            new Host("h", {
                naming: HOST_NAMING, instanceType: "t3.large", region: "eu-central-1", zone: "eu-central-1a", rootVolumeGb: 30, dataVolumeGb: 50,
                clientPorts: [], clientCidrs: [], adminCidrs: [], dockerAccess: "ssm", sshPublicKey: KEY,
                scope: { metricsNamespace: `${title}/unit`, logGroupPrefix: `/${project}/unit/` },
                hostFilesMarkerDir: `/etc/${project}/host-files.d`,
                ...args,
            });
            more();
        },
    });
}

function ingress(plan: Plan): string[] {
    return ofType(plan, INGRESS)
        .map((r) => `${r.inputs.ipProtocol}/${r.inputs.fromPort}-${r.inputs.toPort} ${r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6}`)
        .sort();
}

/** Validates cloud-config with cloud-init's own schema checker (Debian package cloud-init). */
function cloudInitSchema(userData: string): { ok: boolean; output: string } {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "userdata-")), "user-data.yaml");
    fs.writeFileSync(file, userData);
    const r = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

describe("the host in the staging plan", () => {
    let plan: Plan;
    beforeAll(async () => {
        plan = await planStack("staging");
    });

    it("requires IMDSv2, turns on detailed monitoring and encrypts the gp3 root volume", () => {
        const i = one(plan, "aws:ec2/instance:Instance").inputs as any;
        expect(i.metadataOptions).toMatchObject({ httpTokens: "required", httpEndpoint: "enabled" });
        expect(i.monitoring).toBe(true);
        expect(i.rootBlockDevice).toMatchObject({ volumeType: "gp3", encrypted: true, volumeSize: 30 });
        expect(i.instanceType).toBe("t3.large");
        expect(i.ami).toMatch(/^ami-/);
    });

    it("keeps data on a separate encrypted gp3 volume in the host's zone, attached to the instance", () => {
        const v = one(plan, "aws:ebs/volume:Volume").inputs as any;
        expect(v).toMatchObject({ type: "gp3", encrypted: true, size: 100, availabilityZone: "eu-central-1a" });
        const attachment = one(plan, "aws:ec2/volumeAttachment:VolumeAttachment").inputs as any;
        expect(attachment.instanceId).toMatch(/^i-/);
        expect(attachment.volumeId).toMatch(/^vol-/);
    });

    it("opens exactly the catalog's client ports to the client CIDRs, and to everyone only port 80 for the ACME challenge", () => {
        // The operators' ports (Grafana) go to staffCidrs, none here; the clients' to clientCidrs.
        const clients = clientPorts(sofiaCatalog("questdb")).filter(({ port }) => port.publish === "clients").map(({ port }) => `tcp/${port.port}-${port.port} 198.51.100.0/24`).sort();
        expect(clients).toEqual(["tcp/8013-8013 198.51.100.0/24", "tcp/8080-8080 198.51.100.0/24"]);
        expect(ingress(plan)).toEqual([...clients, "tcp/80-80 0.0.0.0/0", "tcp/80-80 ::/0"].sort());
        for (const r of ofType(plan, INGRESS)) expect(r.inputs.description).toMatch(r.inputs.fromPort === 80 ? /ACME HTTP-01 challenges/ : /for clients/);
    });

    it("lets the host's agents write only to its own stack: metrics in its namespace, logs in its groups, no parameter reads", () => {
        expect(ofType(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")).toEqual([]);
        const doc = JSON.parse(ofType(plan, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name === "sofia-host-agents")!.inputs.policy as string);
        const sid = (id: string) => doc.Statement.find((x: { Sid: string }) => x.Sid === id);
        expect(sid("OwnMetricsOnly")).toEqual({ Sid: "OwnMetricsOnly", Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*", Condition: { StringEquals: { "cloudwatch:namespace": "Sofia/staging" } } });
        expect(sid("OwnLogsOnly").Resource).toEqual(["arn:aws:logs:*:*:log-group:/sofia/staging/*", "arn:aws:logs:*:*:log-group:/sofia/staging/*:log-stream:*"]);
        const actions = doc.Statement.flatMap((x: { Action: string | string[] }) => x.Action);
        expect(actions).toContain("ssm:UpdateInstanceInformation");
        expect(actions.filter((a: string) => /^ssm:GetParameter|^ssm:\*|^logs:\*|^cloudwatch:\*/.test(a))).toEqual([]);
    });

    it("renders user data that cloud-init's schema accepts", () => {
        const userData = one(plan, "aws:ec2/instance:Instance").inputs.userData as string;
        expect(userData.startsWith("#cloud-config\n")).toBe(true);
        const volumeId = one(plan, "aws:ec2/volumeAttachment:VolumeAttachment").inputs.volumeId as string;
        expect(userData).toContain(`- ${volumeId}`);
        const result = cloudInitSchema(userData);
        expect(result.output).toMatch(/Valid cloud-config/);
        expect(result.ok).toBe(true);
    });

    it("reaches Docker through an SSM session, with no inbound port", () => {
        const p = one(plan, "pulumi:providers:docker").inputs as any;
        expect(p.host).toMatch(/^ssh:\/\/sofia-deploy@i-[0-9a-f]+$/);
        expect(JSON.stringify(p.sshOpts)).toContain("AWS-StartSSHSession");
        expect(ingress(plan).some((r) => r.startsWith("tcp/22-"))).toBe(false);
    });

    it("reuses one SSH connection for every Docker call, which the host's sshd lets run side by side", () => {
        const p = one(plan, "pulumi:providers:docker").inputs as any;
        const opts = JSON.parse(p.sshOpts) as string[];
        for (const o of controlOpts(HOST_NAMING)) expect(opts).toContain(o);
        const userData = one(plan, "aws:ec2/instance:Instance").inputs.userData as string;
        const doc = parse(userData) as { write_files: { path: string; content: string }[]; runcmd: string[][] };
        expect(doc.write_files.find((f) => f.path === "/etc/ssh/sshd_config.d/60-sofia-deploy.conf")?.content).toBe(sshdDeployConf(HOST_NAMING));
        expect(doc.runcmd).toContainEqual(["systemctl", "reload", "sshd"]);
    });

    it("logs the Docker provider in to the release's registry (the password from the secret, or DOCKER_REGISTRY_PASS)", async () => {
        const p = one(plan, "pulumi:providers:docker").inputs as any;
        expect(JSON.parse(p.registryAuth)).toEqual([{ address: "ghcr.io", username: "sofia-v2-staging-pull" }]);
        const withSecret = one(await planStack("staging", [], ["registryPassword=ghp_token123"]), "pulumi:providers:docker").inputs as any;
        expect(withSecret.registryAuth).toBe("[secret]");
    });
});

describe("the host's sshd drop-in, read by the real sshd", () => {
    it("raises MaxSessions and MaxStartups above the Docker provider's parallel calls", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sshd-"));
        // sshd refuses to even parse without its privilege separation directory (made by its service at start).
        fs.mkdirSync("/run/sshd", { recursive: true });
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "host-key")]);
        fs.mkdirSync(path.join(dir, "sshd_config.d"));
        fs.writeFileSync(path.join(dir, "sshd_config.d", "60-sofia-deploy.conf"), sshdDeployConf(HOST_NAMING));
        // As on Amazon Linux 2023: the main file includes the drop-in directory first.
        fs.writeFileSync(path.join(dir, "sshd_config"), `Include ${dir}/sshd_config.d/*.conf\nHostKey ${dir}/host-key\n`);
        const sshd = (conf: string) => spawnSync("sshd", ["-T", "-f", conf, "-C", "user=sofia-deploy,host=runner,addr=192.0.2.1"], { encoding: "utf8", env: { PATH: `/usr/sbin:/sbin:${process.env.PATH}` } });
        const effective = sshd(path.join(dir, "sshd_config"));
        expect(effective.stderr).toBe("");
        expect(effective.stdout).toMatch(/^maxsessions 64$/m);
        expect(effective.stdout).toMatch(/^maxstartups 64:30:128$/m);
        fs.writeFileSync(path.join(dir, "sshd_config.d", "60-sofia-deploy.conf"), "MaxSessions many\n");
        expect(sshd(path.join(dir, "sshd_config")).status).not.toBe(0);
    });
});

describe("host variants", () => {
    it("opens SSH only to the admin CIDRs when dockerAccess is admin-ssh, and accepts IPv6 clients", async () => {
        const plan = await planStack("staging", ["dockerAccess=admin-ssh", "adminCidrs=[192.0.2.7/32]", "clientCidrs=[198.51.100.0/24, '2001:db8::/32']"]);
        expect(ingress(plan)).toEqual([
            "tcp/22-22 192.0.2.7/32",
            "tcp/80-80 0.0.0.0/0",
            "tcp/80-80 ::/0",
            "tcp/8013-8013 198.51.100.0/24",
            "tcp/8013-8013 2001:db8::/32",
            "tcp/8080-8080 198.51.100.0/24",
            "tcp/8080-8080 2001:db8::/32",
        ]);
        expect(one(plan, "pulumi:providers:docker").inputs.host).toBe("ssh://sofia-deploy@203.0.113.10");
    });

    it("opens nothing when there are no client CIDRs (and so no certificate to prove)", async () => {
        const plan = await planStack("staging", ["clientCidrs=[]", "proxy={}"]);
        expect(ingress(plan)).toEqual([]);
    });

    it("picks an arm64 image for Graviton instance types", () => {
        expect(architectureOf("t4g.large")).toBe("arm64");
        expect(architectureOf("m7gd.xlarge")).toBe("arm64");
        expect(architectureOf("m6i.xlarge")).toBe("x86_64");
        expect(architectureOf("t3.large")).toBe("x86_64");
    });

    it("refuses arguments that would open SSH to the internet", () => {
        const base = { naming: HOST_NAMING, instanceType: "t3.large", region: "eu-central-1", zone: "eu-central-1a", rootVolumeGb: 30, dataVolumeGb: 100, clientPorts: [], clientCidrs: [], sshPublicKey: KEY, scope: { metricsNamespace: "Sofia/t", logGroupPrefix: "/sofia/t/" }, hostFilesMarkerDir: "/etc/sofia/host-files.d" };
        expect(() => validateHostArgs({ ...base, adminCidrs: ["0.0.0.0/0"], dockerAccess: "admin-ssh" })).toThrow(/HostArgs\.adminCidrs: 0\.0\.0\.0\/0/);
        expect(() => validateHostArgs({ ...base, adminCidrs: [], dockerAccess: "admin-ssh" })).toThrow(/needs at least one admin CIDR/);
        expect(() => validateHostArgs({ ...base, adminCidrs: [], dockerAccess: "ssm" })).not.toThrow();
    });
});

describe("the host's access to the backup bucket", () => {
    it("is limited to the stack's prefix", () => {
        const doc = JSON.parse(backupPrefixPolicy("arn:aws:s3:::sofia-backups", "/staging/"));
        const [list, rw] = doc.Statement;
        expect(list.Action).toEqual(["s3:ListBucket"]);
        expect(list.Resource).toEqual(["arn:aws:s3:::sofia-backups"]);
        expect(list.Condition.StringLike["s3:prefix"]).toEqual(["staging/*", "staging"]);
        expect(rw.Resource).toEqual(["arn:aws:s3:::sofia-backups/staging/*"]);
        expect(rw.Action).not.toContain("s3:DeleteObject");
        for (const s of doc.Statement) expect(JSON.stringify(s.Resource)).not.toMatch(/"\*"|sofia-backups\/\*/);
    });

    it("is attached to the host role when the Host is given a bucket", async () => {
        const plan = await planHost("sofia", { backupBucket: { arn: "arn:aws:s3:::sofia-backups", prefix: "unit" } });
        const policy = JSON.parse(ofType(plan, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name === "h-backups")!.inputs.policy as string);
        expect(policy.Statement[1].Resource).toEqual(["arn:aws:s3:::sofia-backups/unit/*"]);
    });
});

describe("the Host as a generic component", () => {
    it("names its users, files and descriptions after the caller's system, and lets the caller adjust a child (transform)", async () => {
        const plan = await planHost(
            "acme",
            {
                naming: { slug: "acme", title: "Acme", generator: "acme-infra" },
                transform: {
                    instance: { monitoring: false },
                    securityGroup: (args) => void (args.tags = { ...(args.tags as Record<string, string>), Team: "edge" }),
                },
            },
            () => new BackupBucket("b", { bucketPrefix: "acme-backups-", retention: [{ prefix: "unit/full", days: 30 }], transform: { bucket: { tags: { Owner: "data" } } } }),
        );
        const instance = one(plan, "aws:ec2/instance:Instance");
        expect(instance.inputs.monitoring).toBe(false);
        // The rest of the component's own choices stay: the guard against a new AMI replacing the host.
        expect(instance.options.ignoreChanges).toEqual(["ami"]);
        const userData = instance.inputs.userData as string;
        expect(userData).toContain("name: acme-deploy");
        expect(userData).toContain("/usr/local/sbin/acme-mount-data");
        // The mount script (host/mount-data-volume.sh) keeps its own volume label: a change to user data stops and starts a host.
        expect(userData).not.toMatch(/sofia-deploy|\/usr\/local\/sbin\/sofia|60-sofia|sofia-ssh|Generated by sofia-infra/);
        const sg = one(plan, "aws:ec2/securityGroup:SecurityGroup");
        expect(sg.inputs.description).toBe("Acme host: client ports to client CIDRs only");
        expect(sg.inputs.tags).toEqual({ Name: "h-sg", Team: "edge" });
        expect(String(one(plan, "pulumi:providers:docker").inputs.host)).toMatch(/^ssh:\/\/acme-deploy@i-/);
        const bucket = ofType(plan, "aws:s3/bucket:Bucket").find((b) => b.name === "b")!;
        expect(bucket.inputs).toMatchObject({ bucketPrefix: "acme-backups-", tags: { Owner: "data" } });
        expect(ofType(plan, "aws:s3/bucket:Bucket").find((b) => b.name === "b-access-logs")!.inputs.bucketPrefix).toBe("acme-backups-logs-");
    });
});

describe("cloud-init user data", () => {
    it("is rejected by the schema checker when broken, so the check above can fail", () => {
        const broken = hostUserData({ volumeId: "vol-0abc", dataPath: "/data", naming: HOST_NAMING }).replace("package_update: true", "package_update: sometimes");
        expect(cloudInitSchema(broken).ok).toBe(false);
    });

    it("mounts the data volume before Docker starts and keeps Docker's data on it", () => {
        const ud = hostUserData({ volumeId: "vol-0abc", dataPath: "/data", naming: HOST_NAMING });
        const mountAt = ud.indexOf("- /usr/local/sbin/sofia-mount-data");
        const dockerAt = ud.indexOf("- docker\n", ud.indexOf("runcmd:"));
        expect(mountAt).toBeGreaterThan(0);
        expect(dockerAt).toBeGreaterThan(mountAt);
        expect(ud).toContain('"data-root": "/data/docker"');
        expect(ud).toContain("RequiresMountsFor=/data");
    });
});

describe("host/mount-data-volume.sh", () => {
    const script = path.join(__dirname, "..", "host", "mount-data-volume.sh");

    it("refuses a malformed volume id with a message that says so", () => {
        const r = spawnSync("bash", [script, "not-a-volume", "/tmp/x"], { encoding: "utf8" });
        expect(r.status).toBe(64);
        expect(r.stderr).toContain("'not-a-volume' is not an EBS volume id");
    });

    it("gives up after its timeout with what to check", () => {
        const r = spawnSync("bash", [script, "vol-0123456789abcdef0", "/tmp/never", "0"], { encoding: "utf8" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/did not appear within 0s; check the volume attachment/);
    });

    it("is shellcheck-clean", () => {
        expect(() => execFileSync("shellcheck", [script], { encoding: "utf8" })).not.toThrow();
    });
});
