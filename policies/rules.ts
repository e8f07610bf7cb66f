/**
 * Sofia's CrossGuard policies, as plain data so that tests and `npm run policies` can run them on
 * the offline plan without the policy server. policies/index.ts packs them for `pulumi preview`.
 * Default levels apply to staging; prod runs every policy as mandatory (policies/config.ts).
 */
import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { cronFields, isTooWideForAdmin, looksLikeSecretName, reachesInternet } from "../components/formats";
import { policyStatements } from "../components/iam";
import { sofiaCatalog } from "../model/catalog";
import { CONTAINER_PREFIX } from "../topology/host/store-config";
import { limitPolicies } from "./limits";
import { pagingPolicies } from "./paging";
import { ecsPolicies } from "./ecs";

export type SofiaPolicy = ResourceValidationPolicy | StackValidationPolicy;

/** An RFC 1918 address (what a VPC's private addresses are). */
function isPrivateV4(ip: string): boolean {
    return /^10\./.test(ip) || /^192\.168\./.test(ip) || /^172\.(1[6-9]|2\d|3[01])\./.test(ip);
}

/** Ports of the data stores, whichever time-series store a stack runs. */
const DATA_STORE_PORTS = new Set([...sofiaCatalog("questdb"), ...sofiaCatalog("timescaledb")].filter((e) => e.kind === "store").flatMap((e) => e.ports.map((p) => p.port)));

/** The operators' ports (a tool's UI, Grafana): for staffCidrs, never the internet. */
const OPERATOR_PORTS = new Set([...sofiaCatalog("questdb"), ...sofiaCatalog("timescaledb")].flatMap((e) => e.ports.filter((p) => p.publish === "staff").map((p) => p.port)));

function portsOf(rule: { fromPort?: number; toPort?: number; ipProtocol?: string }): (port: number) => boolean {
    if (rule.ipProtocol === "-1") return () => true;
    return (port) => rule.fromPort !== undefined && rule.toPort !== undefined && port >= rule.fromPort && port <= rule.toPort;
}

/** The ports an nginx configuration forwards to upstreams (proxy_pass), and whether each is TLS. */
export function forwardingListeners(conf: string): { port: number; tls: boolean }[] {
    const found: { port: number; tls: boolean }[] = [];
    // Each top-level server block: its listen lines, and whether it forwards anywhere.
    for (const block of conf.split(/\n\s*server\s*\{/).slice(1)) {
        if (!/\bproxy_pass\b/.test(block.split(/\n\s*server\s*\{/)[0])) continue;
        for (const m of block.matchAll(/^\s*listen\s+(?:[^\s;]*:)?(\d+)([^;]*);/gm)) found.push({ port: Number(m[1]), tls: /\bssl\b/.test(m[2]) });
    }
    return found;
}

const statements = policyStatements;
const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** A child (versioning, lifecycle, ...) belongs to a bucket when it names it or shares its component. */
function belongsTo(child: PolicyResource, bucket: PolicyResource): boolean {
    if (child.props.bucket && (child.props.bucket === bucket.props.bucket || child.props.bucket === bucket.props.id)) return true;
    return child.parent !== undefined && child.parent?.urn === bucket.parent?.urn;
}

function bucketChildren(resources: PolicyResource[], type: string, report: (m: string, urn?: string) => void, what: string, ok: (child: PolicyResource) => boolean): void {
    for (const b of resources.filter((r) => r.type === "aws:s3/bucket:Bucket")) {
        const children = resources.filter((r) => r.type === type && belongsTo(r, b));
        if (!children.some(ok)) report(`bucket ${b.name} has no ${what}.`, b.urn);
    }
}

export const policies: SofiaPolicy[] = [
    // --- EC2 and EBS ------------------------------------------------------------------------------
    {
        name: "ec2-imdsv2-required",
        description: "Instances require IMDSv2 session tokens: IMDSv1 lets any SSRF in Sofia's API read the host role's credentials.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.ec2.Instance, (i, _a, report) => {
            if (i.metadataOptions?.httpTokens !== "required") report('metadataOptions.httpTokens must be "required" (IMDSv2).');
        }),
    },
    {
        name: "ec2-detailed-monitoring",
        description: "Instances have detailed (1-minute) monitoring: the runbook checks every 5 minutes, 5-minute data cannot alarm in time.",
        enforcementLevel: "advisory",
        validateResource: validateResourceOfType(aws.ec2.Instance, (i, _a, report) => {
            if (i.monitoring !== true) report("monitoring must be true.");
        }),
    },
    {
        name: "data-protected",
        description: "The data volume and the backup bucket are protected resources: neither pulumi destroy nor a replacement can delete the stores or the backups without an explicit unprotect.",
        enforcementLevel: "mandatory",
        validateResource: [
            validateResourceOfType(aws.ebs.Volume, (_v, a, report) => {
                if (!a.opts.protect) report("the data volume must be declared with protect: true.");
            }),
            // The backups and their access logs (components under sofia:backup:); a bucket of run
            // artifacts (the synthetic checks') holds nothing a restore needs.
            validateResourceOfType(aws.s3.Bucket, (_b, a, report) => {
                if (a.urn.includes("::sofia:backup:") && !a.opts.protect) report("the backup bucket must be declared with protect: true.");
            }),
        ],
    },
    {
        name: "ebs-encrypted",
        description: "Every EBS volume, root and data, is encrypted at rest: it holds market data, positions and credentials.",
        enforcementLevel: "mandatory",
        validateResource: [
            validateResourceOfType(aws.ebs.Volume, (v, _a, report) => {
                if (v.encrypted !== true) report("encrypted must be true.");
            }),
            validateResourceOfType(aws.ec2.Instance, (i, _a, report) => {
                if (i.rootBlockDevice?.encrypted !== true) report("rootBlockDevice.encrypted must be true.");
                for (const d of i.ebsBlockDevices ?? []) if (d.encrypted !== true) report(`ebsBlockDevices ${d.deviceName}: encrypted must be true.`);
            }),
        ],
    },
    {
        name: "sg-no-world-admin-or-data-ports",
        description: "No SSH, data-store or operators' port (Grafana) is open to the whole internet: admin access goes through SSM or admin CIDRs, stores stay on loopback, the operators' UIs go to staffCidrs.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.vpc.SecurityGroupIngressRule, (r, _a, report) => {
            // Wider than any admin range: the whole internet, or a large piece of it (0.0.0.0/1).
            const cidr = r.cidrIpv4 ?? r.cidrIpv6;
            if (!cidr || !isTooWideForAdmin(cidr)) return;
            const bad = [22, ...DATA_STORE_PORTS, ...OPERATOR_PORTS].filter(portsOf(r));
            if (bad.length) report(`${cidr} may reach port(s) ${bad.join(", ")}.`);
        }),
    },
    {
        name: "client-ports-tls-when-public",
        description: "A port that forwards clients to the apps is served over TLS whenever a security-group rule lets the internet reach it: public means encrypted.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const rules = args.resources.filter((r) => r.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
            for (const c of args.resources.filter((r) => r.type === "docker:index/container:Container")) {
                // A list holding a secret (the key of a certificate from settings) is masked as a whole here.
                const uploads = c.props.uploads;
                if (!Array.isArray(uploads)) continue;
                const conf = (uploads as { file?: string; content?: string }[]).find((u) => u.file?.endsWith("nginx.conf"))?.content;
                if (typeof conf !== "string") continue;
                for (const { port, tls } of forwardingListeners(conf)) {
                    if (tls) continue;
                    for (const r of rules) {
                        const cidr = (r.props.cidrIpv4 ?? r.props.cidrIpv6) as string | undefined;
                        if (cidr && reachesInternet(cidr) && portsOf(r.props)(port)) report(`${c.props.name} forwards clients on port ${port} over plain HTTP, and ${cidr} (the internet) may reach it.`, c.urn);
                    }
                }
            }
        },
    },
    {
        name: "sg-rules-described",
        description: "Every security-group rule says why it exists, so a reviewer can tell an intended opening from a mistake.",
        enforcementLevel: "advisory",
        validateResource: [
            validateResourceOfType(aws.vpc.SecurityGroupIngressRule, (r, _a, report) => {
                if (!r.description?.trim()) report("description is empty.");
            }),
            validateResourceOfType(aws.vpc.SecurityGroupEgressRule, (r, _a, report) => {
                if (!r.description?.trim()) report("description is empty.");
            }),
        ],
    },
    // --- IAM ---------------------------------------------------------------------------------------
    {
        name: "iam-no-star-on-star",
        description: "No policy allows every action on every resource: a leaked host credential must not be an account takeover.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (!["aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy"].includes(args.type)) return;
            for (const s of statements(args.props.policy)) {
                if (s.Effect === "Allow" && list(s.Action).some((a) => a === "*" || a === "*:*") && list(s.Resource).includes("*")) report("a statement allows Action * on Resource *.");
            }
        },
    },
    {
        name: "iam-metrics-own-namespace",
        description: "A role that may publish metrics may publish into one namespace only (a cloudwatch:namespace condition), and no AWS managed policy is attached: a staging host must not be able to publish prod's MaintenanceActive and silence its pages.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" && /^arn:aws[a-z-]*:iam::aws:policy\//.test(String(args.props.policyArn))) {
                report(`the AWS managed policy ${args.props.policyArn} is attached: its permissions reach every stack; write the role's own policy.`);
            }
            if (!["aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"].includes(args.type)) return;
            for (const s of statements(args.props.policy)) {
                const publishes = s.Effect === "Allow" && list(s.Action).some((a) => a === "cloudwatch:PutMetricData" || a === "cloudwatch:*" || a === "*");
                const ns = s.Condition?.StringEquals?.["cloudwatch:namespace"];
                if (publishes && (typeof ns !== "string" || ns.includes("*"))) report("a statement allows cloudwatch:PutMetricData without a StringEquals cloudwatch:namespace condition naming one namespace.");
            }
        },
    },
    {
        name: "iam-host-role-own-prefix",
        description: "The host's role reaches only its own stack's prefix of the backup bucket: staging cannot read or overwrite prod's backups.",
        enforcementLevel: "mandatory",
        // `buckets`: the backup bucket's name prefix (other buckets, a canary's artifacts say, are theirs to grant).
        configSchema: { properties: { prefix: { type: "string", default: "" }, buckets: { type: "string", default: "" } } },
        validateResource: validateResourceOfType(aws.iam.RolePolicy, (p, args, report) => {
            const { prefix, buckets } = args.getConfig<{ prefix: string; buckets: string }>();
            for (const s of statements(p.policy)) {
                const actions = list(s.Action).filter((a) => a.startsWith("s3:"));
                if (!actions.length) continue;
                // Listing the account's buckets reads no backup; any object action on "*" reaches them all.
                const onObjects = actions.some((a) => a === "s3:*" || /object/i.test(a));
                for (const r of list(s.Resource)) {
                    const object = /^arn:aws[a-z-]*:s3:::([^/]+)\/(.*)$/.exec(r);
                    if (object && !object[1].startsWith(buckets)) continue;
                    if ((r === "*" && onObjects) || (object && (!prefix || !object[2].startsWith(`${prefix}/`)))) report(`S3 resource ${r} is not under the stack's prefix "${prefix}/".`);
                }
            }
        }),
    },
    // --- S3 ----------------------------------------------------------------------------------------
    {
        name: "s3-versioning",
        description: "Backup buckets keep versions: an overwritten or deleted backup can be recovered.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) =>
            bucketChildren(args.resources, "aws:s3/bucketVersioning:BucketVersioning", report, "versioning enabled", (c) => (c.props.versioningConfiguration as { status?: string })?.status === "Enabled"),
    },
    {
        name: "s3-encryption",
        description: "Backup buckets encrypt by default (SSE-S3 or KMS): backups hold the whole of Sofia's data.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) =>
            bucketChildren(args.resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", report, "default encryption", (c) =>
                ((c.props.rules as { applyServerSideEncryptionByDefault?: { sseAlgorithm?: string } }[]) ?? []).some((r) => !!r.applyServerSideEncryptionByDefault?.sseAlgorithm),
            ),
    },
    {
        name: "s3-public-access-blocked",
        description: "All four public-access-block flags are on: no ACL or policy mistake can publish a backup.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) =>
            bucketChildren(args.resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", report, "public access block with all four flags", (c) =>
                ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].every((f) => c.props[f] === true),
            ),
    },
    {
        name: "s3-tls-only",
        description: "Backup buckets deny requests not made over TLS: backups never cross a network in the clear.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) =>
            bucketChildren(args.resources, "aws:s3/bucketPolicy:BucketPolicy", report, "policy denying aws:SecureTransport false", (c) =>
                statements(c.props.policy).some((s) => s.Effect === "Deny" && JSON.stringify(s).includes('"aws:SecureTransport":"false"')),
            ),
    },
    {
        name: "s3-backup-reads-logged",
        description: "Every request to a backup bucket, reads above all, is logged (S3 server access logs to a bucket of its own): a leak can be traced.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const backups = args.resources.filter((r) => r.type === "aws:s3/bucket:Bucket" && r.parent?.type === "sofia:backup:BackupBucket");
            for (const b of backups) {
                const logging = args.resources.filter((r) => r.type === "aws:s3/bucketLogging:BucketLogging" && belongsTo(r, b));
                if (!logging.some((l) => l.props.targetBucket)) report(`backup bucket ${b.name} has no access logging.`, b.urn);
            }
        },
    },
    {
        name: "s3-lifecycle-expiration",
        description: "Backups expire by lifecycle: the runbook's `find -mtime +30 -delete`, done by S3, never by a script that can fail silently.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) =>
            bucketChildren(args.resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", report, "lifecycle rule with an expiration", (c) =>
                ((c.props.rules as { expiration?: { days?: number } }[]) ?? []).some((r) => (r.expiration?.days ?? 0) > 0),
            ),
    },
    {
        name: "s3-retention-covers-backups",
        description: "Each kind of backup has a lifecycle rule that keeps it at least as long as the stack's settings promise: S3 must not delete backups early, nor keep a kind forever for want of a rule.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { retention: { type: "object", default: {} } } },
        validateStack: (args, report) => {
            const { retention } = args.getConfig<{ retention: Record<string, number> }>();
            const rules = args.resources
                .filter((r) => r.type === "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
                .flatMap((l) => ((l.props.rules as { id?: string; filter?: { prefix?: string }; expiration?: { days?: number } }[]) ?? []).map((r) => ({ ...r, urn: l.urn })));
            for (const [prefix, promised] of Object.entries(retention)) {
                const rule = rules.find((r) => r.filter?.prefix === prefix);
                if (!rule) report(`no lifecycle rule expires ${prefix}: the settings keep it ${promised} days, S3 would keep it forever.`);
                else if ((rule.expiration?.days ?? Infinity) < promised) report(`rule ${rule.id} expires ${prefix} after ${rule.expiration?.days} days, below the ${promised} days the settings promise.`, rule.urn);
            }
        },
    },
    {
        name: "s3-prod-backups-kept",
        description: "A production stack keeps its full backups at least a month and locks them (Object Lock) for at least as long: no setting or credential deletes them early.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { minimumDays: { type: "number", default: 1 }, objectLock: { type: "boolean", default: false } } },
        validateStack: (args, report) => {
            const { minimumDays, objectLock } = args.getConfig<{ minimumDays: number; objectLock: boolean }>();
            for (const l of args.resources.filter((r) => r.type === "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")) {
                for (const rule of (l.props.rules as { id?: string; filter?: { prefix?: string }; expiration?: { days?: number } }[]) ?? []) {
                    const days = rule.expiration?.days;
                    if (rule.filter?.prefix?.endsWith("/full/") && days !== undefined && days < minimumDays) report(`rule ${rule.id} expires full backups after ${days} days; this stack keeps them at least ${minimumDays}.`, l.urn);
                }
            }
            if (!objectLock) return;
            const locks = args.resources.filter((r) => r.type === "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration");
            if (locks.length === 0) report("the backup bucket has no Object Lock configuration: any credential with s3:DeleteObject can delete the backups.");
            for (const l of locks) {
                const days = (l.props.rule as { defaultRetention?: { days?: number } } | undefined)?.defaultRetention?.days ?? 0;
                if (days < minimumDays) report(`Object Lock keeps backups ${days} days; this stack keeps them at least ${minimumDays}.`, l.urn);
            }
        },
    },
    // --- Containers --------------------------------------------------------------------------------
    {
        name: "container-health-check",
        description: "Every long-running container has a health check: start order, the watchdog and the alarms all depend on it. A one-shot container (attach: a deploy's migrations) runs to its exit instead.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(docker.Container, (c, _a, report) => {
            if (!c.attach && !c.healthcheck?.tests?.length) report("healthcheck.tests is empty.");
        }),
    },
    {
        name: "container-restart-policy",
        description: "Every long-running container restarts on failure (the runbook's level 1 'auto-restart on crash'); a one-shot container (attach) must not.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(docker.Container, (c, _a, report) => {
            const restarts = ["on-failure", "unless-stopped", "always"].includes(c.restart ?? "no");
            if (c.attach && restarts) report(`one-shot container restarts ("${c.restart}"): a failed migration would run again and again.`);
            if (!c.attach && !restarts) report(`restart is "${c.restart ?? "no"}".`);
        }),
    },
    {
        name: "container-log-rotation",
        description: "Container logs are rotated: a chatty ingestor must not fill the data volume.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(docker.Container, (c, _a, report) => {
            const o = (c.logOpts ?? {}) as Record<string, string>;
            const rotated = c.logDriver === "awslogs" ? !!o["cache-max-size"] && !!o["cache-max-file"] : c.logDriver === "json-file" || c.logDriver === "local" ? !!o["max-size"] && !!o["max-file"] : false;
            if (!rotated) report(`log driver "${c.logDriver ?? "default"}" without a size and file-count limit.`);
        }),
    },
    {
        name: "container-memory-limit",
        description: "Every container has a memory limit: one leaking service must not take the host (runbook 'Memory Leak Detection').",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(docker.Container, (c, _a, report) => {
            if (!c.memory || c.memory <= 0) report("memory is not set.");
        }),
    },
    {
        name: "container-no-privilege",
        description: "No container is privileged or on the host network: a compromised service stays in its container.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(docker.Container, (c, _a, report) => {
            if (c.privileged) report("privileged is true.");
            if (c.networkMode === "host") report('networkMode is "host".');
        }),
    },
    {
        name: "container-image-digest",
        description: "Images are pinned by digest, so prod runs exactly the bytes staging verified (a tag can be moved).",
        enforcementLevel: "advisory",
        validateResource: validateResourceOfType(docker.RemoteImage, (i, _a, report) => {
            if (!/@sha256:[a-f0-9]{64}$/.test(i.name)) report(`image ${i.name} is not pinned by digest.`);
        }),
    },
    {
        name: "container-store-ports-loopback",
        description: "Data-store ports are published on the host's loopback at most: nothing outside the host talks to Redis or QuestDB. In the ECS topology the store host's are also on its private address (`privateAddress`), which its security group opens to the tasks' group alone; never on every address or a public one.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { privateAddress: { type: "boolean", default: false } } },
        validateResource: validateResourceOfType(docker.Container, (c, args, report) => {
            const { privateAddress } = args.getConfig<{ privateAddress: boolean }>();
            const allowed = (ip: string | undefined) => ip === "127.0.0.1" || (privateAddress && ip !== undefined && isPrivateV4(ip));
            for (const p of c.ports ?? []) if (DATA_STORE_PORTS.has(p.internal) && !allowed(p.ip)) report(`store port ${p.internal} is published on ${p.ip ?? "all addresses"}.`);
        }),
    },
    {
        name: "container-edge-apart-from-stores",
        description: "A container that takes client traffic (a port published beyond loopback) shares no Docker network with a data store: a compromised proxy cannot reach Redis or QuestDB.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const containers = args.resources.filter((r) => r.type === "docker:index/container:Container");
            const networks = (c: PolicyResource) => ((c.props.networksAdvanced ?? []) as { name?: string }[]).map((n) => n.name);
            const ports = (c: PolicyResource) => (c.props.ports ?? []) as { internal: number; ip?: string }[];
            const stores = containers.filter((c) => ports(c).some((p) => DATA_STORE_PORTS.has(p.internal)));
            for (const edge of containers.filter((c) => ports(c).some((p) => p.ip !== "127.0.0.1" && !DATA_STORE_PORTS.has(p.internal)))) {
                for (const store of stores) {
                    const shared = networks(edge).filter((n) => n !== undefined && networks(store).includes(n));
                    if (shared.length) report(`${edge.props.name} takes client traffic and shares network ${shared.join(", ")} with the store ${store.props.name}.`, edge.urn);
                }
            }
        },
    },
    {
        name: "container-no-plaintext-secrets",
        description: "No environment variable that looks like a secret holds a plain value: secrets reach containers as files (…_FILE).",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(docker.Container, (c, _a, report) => {
            if (!Array.isArray(c.envs)) return; // a secret list is masked as a whole: fine
            for (const kv of c.envs) {
                const [name, value] = kv.split(/=(.*)/s, 2);
                if (looksLikeSecretName(name) && value) report(`env ${name} holds a value in plain text.`);
            }
        }),
    },
    {
        name: "container-fixed-name-replaces-cleanly",
        description: "A container with a fixed name is deleted before it is replaced: two containers cannot hold one name or port.",
        enforcementLevel: "advisory",
        validateResource: (args, report) => {
            if (args.type === "docker:index/container:Container" && args.props.name && args.opts.deleteBeforeReplace !== true) report("deleteBeforeReplace is not set.");
        },
    },
    // --- Operability -------------------------------------------------------------------------------
    {
        name: "health-alarm-per-service",
        description: "Every container with a health check has a health alarm: a service nobody watches is a service nobody knows is down.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const watched = new Set(args.resources.filter((r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm" && r.props.metricName === "ServiceHealthy").map((r) => (r.props.dimensions as { Service?: string })?.Service));
            for (const c of args.resources.filter((r) => r.type === "docker:index/container:Container" && (r.props.healthcheck as { tests?: string[] })?.tests?.length)) {
                const service = String(c.props.name).replace(new RegExp(`^${CONTAINER_PREFIX}`), "");
                if (!watched.has(service)) report(`container ${c.props.name} has no ServiceHealthy alarm.`, c.urn);
            }
        },
    },
    {
        name: "alarm-has-action",
        description: "Every alarm acts: it pages (directly or through a composite), acts on the instance, or suppresses pages. An alarm that does nothing is noise.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const composites = args.resources.filter((r) => r.type === "aws:cloudwatch/compositeAlarm:CompositeAlarm");
            const paged = (name: string) => composites.some((c) => (c.props.alarmActions as string[] | undefined)?.length && String(c.props.alarmRule).includes(`"${name}"`));
            const suppressor = (name: string) => composites.some((c) => (c.props.actionsSuppressor as { alarm?: string } | undefined)?.alarm === name);
            for (const a of args.resources.filter((r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm")) {
                const name = String(a.props.name);
                if (!(a.props.alarmActions as string[] | undefined)?.length && !paged(name) && !suppressor(name)) report(`alarm ${name} has no action and no composite pages for it.`, a.urn);
            }
            for (const c of composites) if (!(c.props.alarmActions as string[] | undefined)?.length) report(`composite alarm ${c.props.alarmName} has no action.`, c.urn);
        },
    },
    {
        name: "log-groups-retention",
        description: "Every log group has a retention: logs are kept as long as the settings say, not forever at a price.",
        enforcementLevel: "advisory",
        validateResource: validateResourceOfType(aws.cloudwatch.LogGroup, (g, _a, report) => {
            if (!g.retentionInDays) report("retentionInDays is not set.");
        }),
    },
    {
        name: "maintenance-windows-utc-on-day",
        description: "Maintenance windows run in UTC on the configured day (the runbook's Sunday 02:00-04:00 UTC), never on a trading day by a time-zone slip.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { day: { type: "string", default: "SUN" } } },
        validateResource: validateResourceOfType(aws.ssm.MaintenanceWindow, (w, args, report) => {
            const { day } = args.getConfig<{ day: string }>();
            if (w.scheduleTimezone && !["UTC", "Etc/UTC"].includes(w.scheduleTimezone)) report(`scheduleTimezone is ${w.scheduleTimezone}.`);
            const dow = cronFields(w.schedule)?.dayOfWeek ?? "";
            if (!dow.startsWith(day)) report(`schedule ${w.schedule} is not on ${day}.`);
        }),
    },
    {
        name: "backup-schedule-exists",
        description: "A backup is scheduled: the runbook's daily backup happens whether or not anyone remembers it.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const scheduled = args.resources.some(
                (r) => r.type === "aws:ssm/association:Association" && !!r.props.scheduleExpression && JSON.stringify(r.props.parameters ?? {}).includes("sofia-backup run"),
            );
            if (!scheduled) report("no SSM association runs sofia-backup on a schedule.");
        },
    },
    // --- The paging path (policies/paging.ts) -------------------------------------------------------
    ...pagingPolicies,
    // --- AWS's size and count limits (policies/limits.ts) -------------------------------------------
    ...limitPolicies,
    ...ecsPolicies,
];
