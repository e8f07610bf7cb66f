/**
 * The clients' way in on ECS: an Application Load Balancer across the subnets' zones, one HTTPS
 * listener per client port of the catalog (the same ports as the host's proxy, so clients keep
 * their URLs but for the name), each forwarding to its app's target group, whose health check is
 * the catalog's. TLS only: there is no plain listener.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HostFilesPart } from "../../components/host-files";
import { CatalogEntry } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { EDGE_ENV, EDGE_PAGES_DIR, shellDefaults } from "../host/layout";
import { maintenancePages } from "../host/proxy-config";
import { hostEnvFile } from "../host/services-files";
import { allowOut, securityGroup } from "./network";

/**
 * The maintenance page's rules on each listener: this priority (a browser's Accept: the HTML page)
 * and the next (everything else: the JSON answer). The listeners hold no other rule.
 */
export const PAGE_RULE_PRIORITY = 1;
/** ELB's limit on a fixed response's body. */
export const FIXED_RESPONSE_MAX_CHARS = 1024;

/**
 * edge.env and the answers, for sofia-maintenance on the store host: the page on ECS is the load
 * balancer's (the host's proxy is gone), with the proxy's own answers.
 */
export function edgeHostFiles(s: Pick<Settings, "region" | "deploy">, listenerArns: pulumi.Input<string>[]): HostFilesPart {
    const pages = maintenancePages(s.deploy.retryAfterSeconds);
    for (const [file, body] of Object.entries(pages)) {
        if (body.length > FIXED_RESPONSE_MAX_CHARS) throw new Error(`maintenance page ${file}: ${body.length} characters; a load balancer's fixed response holds ${FIXED_RESPONSE_MAX_CHARS} at most`);
    }
    return {
        name: "edge",
        files: [
            hostEnvFile(),
            {
                path: EDGE_ENV,
                content: pulumi.all(listenerArns).apply((arns) =>
                    shellDefaults(
                        EDGE_ENV,
                        "topology/ecs/edge.ts",
                        { EDGE_REGION: s.region, EDGE_LISTENERS: arns.join(" "), EDGE_PAGE_PRIORITY: String(PAGE_RULE_PRIORITY), EDGE_PAGE_HTML: `${EDGE_PAGES_DIR}/503.html`, EDGE_PAGE_JSON: `${EDGE_PAGES_DIR}/503.json` },
                        /^[A-Za-z0-9._:/ -]*$/,
                    ),
                ),
            },
            ...Object.entries(pages).map(([file, content]) => ({ path: `${EDGE_PAGES_DIR}/${file}`, content })),
        ],
        afterInstall: [],
    };
}

/** The store host may put the page up and take it down on this stack's listeners, and nothing else of ELB. */
export function pageRulePolicy(loadBalancerArn: string): string {
    // arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>
    const m = /^(arn:[^:]+:elasticloadbalancing:[^:]*:[^:]*):loadbalancer\/(app\/.+)$/.exec(loadBalancerArn);
    if (!m) throw new Error(`pageRulePolicy: '${loadBalancerArn}' is not an application load balancer's ARN`);
    const [, prefix, path] = m;
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            { Sid: "ReadRules", Effect: "Allow", Action: "elasticloadbalancing:DescribeRules", Resource: "*" },
            { Sid: "PageRules", Effect: "Allow", Action: ["elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule"], Resource: [`${prefix}:listener/${path}/*`, `${prefix}:listener-rule/${path}/*`] },
        ],
    });
}

export function edgePagePolicy(loadBalancerArn: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.output(loadBalancerArn).apply(pageRulePolicy);
}

/** TLS 1.2 and 1.3 only (ELB's TLS13-1-2 family): the policy alb-tls-only holds every listener to it. */
export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/** The load balancer's name: `sofia-<stack>` (ELB allows 32 characters). */
export function loadBalancerName(stack: string): string {
    return `sofia-${stack}`;
}

/** The ports of one kind of entry published to one audience, with the health check the load balancer gives each. */
function servedPorts(catalog: readonly CatalogEntry[], kind: CatalogEntry["kind"], publish: "clients" | "staff"): { entry: CatalogEntry; port: number; healthPath: string }[] {
    return catalog.flatMap((entry) =>
        entry.kind !== kind ? [] : entry.ports.filter((p) => p.publish === publish).map((p) => ({ entry, port: p.port, healthPath: entry.health?.port === p.port ? entry.health.path : "/" })),
    );
}

/** The ports the load balancer serves clients on, by app. */
export function clientListeners(catalog: readonly CatalogEntry[]): { entry: CatalogEntry; port: number; healthPath: string }[] {
    return servedPorts(catalog, "app", "clients");
}

/** The operators' ports the load balancer serves to `staffCidrs` alone: the tools' (Grafana), which run on the store host. */
export function staffListeners(catalog: readonly CatalogEntry[]): { entry: CatalogEntry; port: number; healthPath: string }[] {
    return servedPorts(catalog, "tool", "staff");
}

export interface SofiaEdgeArgs {
    settings: Settings;
    catalog: readonly CatalogEntry[];
    vpcId: string;
    subnetIds: string[];
    /** The store host, which runs the tools: their ports are served from it when `staffCidrs` lets anyone in. */
    storeHostId: pulumi.Input<string>;
    tags: Record<string, string>;
}

export class SofiaEdge extends pulumi.ComponentResource {
    readonly loadBalancer: aws.lb.LoadBalancer;
    readonly securityGroup: aws.ec2.SecurityGroup;
    /** Target group per app name. */
    readonly targetGroups: Record<string, aws.lb.TargetGroup> = {};
    readonly listeners: aws.lb.Listener[] = [];
    /** The operators' ports served from the store host (none without staffCidrs): the host must admit the load balancer on them. */
    readonly staffPorts: { entry: CatalogEntry; port: number; healthPath: string }[];
    /** Their listeners: the maintenance page is never put on them (operators see Grafana during a restore). */
    readonly operatorListeners: aws.lb.Listener[] = [];
    /** The DNS record ACM needs to issue a requested certificate (none when one is given by ARN). */
    readonly validationRecord?: pulumi.Output<{ name: string; type: string; value: string }>;

    constructor(name: string, args: SofiaEdgeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:ecs:Edge", name, {}, opts);
        const { settings: s, tags } = args;
        const child = { parent: this };
        const listeners = clientListeners(args.catalog);
        this.securityGroup = securityGroup(`${name}-sg`, args.vpcId, "Sofia load balancer: client ports to client CIDRs only", tags, this);
        const cidrArgs = (cidr: string) => (cidr.includes(":") ? { cidrIpv6: cidr } : { cidrIpv4: cidr });
        for (const { entry, port } of listeners) {
            s.clientCidrs.forEach((cidr, i) => {
                new aws.vpc.SecurityGroupIngressRule(
                    `${name}-in-${port}-${i}`,
                    { securityGroupId: this.securityGroup.id, ipProtocol: "tcp", fromPort: port, toPort: port, description: `Sofia ${entry.name} for clients`, ...cidrArgs(cidr), tags },
                    { parent: this.securityGroup },
                );
            });
        }
        // The operators' ports: to staffCidrs alone (trusted networks, held to a /16 at most), never to clientCidrs.
        this.staffPorts = s.staffCidrs.length ? staffListeners(args.catalog) : [];
        for (const { entry, port } of this.staffPorts) {
            s.staffCidrs.forEach((cidr, i) => {
                new aws.vpc.SecurityGroupIngressRule(
                    `${name}-staff-${port}-${i}`,
                    { securityGroupId: this.securityGroup.id, ipProtocol: "tcp", fromPort: port, toPort: port, description: `Sofia ${entry.name} for the operators (staffCidrs)`, ...cidrArgs(cidr), tags },
                    { parent: this.securityGroup },
                );
            });
        }
        allowOut(`${name}-out`, this.securityGroup, tags);

        this.loadBalancer = new aws.lb.LoadBalancer(
            `${name}-alb`,
            {
                name: loadBalancerName(s.stack),
                loadBalancerType: "application",
                internal: false,
                subnets: args.subnetIds,
                securityGroups: [this.securityGroup.id],
                dropInvalidHeaderFields: true,
                enableDeletionProtection: true,
                idleTimeout: 60,
                tags,
            },
            child,
        );
        let certificateArn: pulumi.Input<string>;
        if (s.ecs.certificateArn) certificateArn = s.ecs.certificateArn;
        else {
            const domain = s.proxy.acme?.domain;
            if (!domain) throw new Error("topology ecs: no certificate (settings refuse this: ecs.certificateArn or proxy.acme.domain)");
            const cert = new aws.acm.Certificate(`${name}-cert`, { domainName: domain, validationMethod: "DNS", tags }, { ...child, deleteBeforeReplace: false });
            // One name, one record (a certificate for one domain has one validation option).
            this.validationRecord = cert.domainValidationOptions.apply((options) => {
                const o = options?.[0];
                return { name: o?.resourceRecordName ?? "", type: o?.resourceRecordType ?? "CNAME", value: o?.resourceRecordValue ?? "" };
            });
            // Said at once, in the update's log: the validation below waits for this record (up to 75 minutes), and the output comes only after.
            this.validationRecord.apply((r) => {
                if (r.name) pulumi.log.info(`ACM issues the certificate for ${domain} once this DNS record exists: ${r.name} ${r.type} ${r.value}`, cert);
            });
            // Waits (up to its timeout) until the operator's DNS record lets ACM issue it.
            certificateArn = new aws.acm.CertificateValidation(`${name}-cert-valid`, { certificateArn: cert.arn }, { parent: cert }).certificateArn;
        }
        // A port served over TLS, forwarding to a target group whose health check is the catalog's.
        const serve = (entry: CatalogEntry, port: number, healthPath: string, targetType: "ip" | "instance") => {
            const group = new aws.lb.TargetGroup(
                `${name}-${entry.name}`,
                {
                    port,
                    protocol: "HTTP",
                    targetType,
                    vpcId: args.vpcId,
                    // Longer than a request takes, shorter than ELB's 300 s: deploys do not wait five minutes per task.
                    deregistrationDelay: 30,
                    healthCheck: { path: healthPath, port: "traffic-port", protocol: "HTTP", matcher: "200-399", interval: 15, timeout: 5, healthyThreshold: 2, unhealthyThreshold: 3 },
                    tags,
                },
                child,
            );
            const listener = new aws.lb.Listener(
                `${name}-${entry.name}-${port}`,
                { loadBalancerArn: this.loadBalancer.arn, port, protocol: "HTTPS", sslPolicy: TLS_POLICY, certificateArn, defaultActions: [{ type: "forward", targetGroupArn: group.arn }], tags },
                child,
            );
            return { group, listener };
        };
        for (const { entry, port, healthPath } of listeners) {
            const { group, listener } = serve(entry, port, healthPath, "ip");
            this.targetGroups[entry.name] = group;
            this.listeners.push(listener);
        }
        // A tool on the store host: an instance target, its port published on the host's private address.
        for (const { entry, port, healthPath } of this.staffPorts) {
            const { group, listener } = serve(entry, port, healthPath, "instance");
            // A new store host is a new target (the attachment is replaced with its instance id).
            new aws.lb.TargetGroupAttachment(`${name}-${entry.name}-host`, { targetGroupArn: group.arn, targetId: args.storeHostId, port }, { parent: group });
            this.operatorListeners.push(listener);
        }
        this.registerOutputs({ dnsName: this.loadBalancer.dnsName });
    }
}
