/**
 * The ECS topology's policies: containers unprivileged on read-only roots with secrets never in
 * plain env, singletons that cannot run twice, every deployment behind a circuit breaker, a load
 * balancer that speaks TLS only, ElastiCache encrypted with AUTH, task roles that grant nothing
 * wide. Each holds whatever the topology; a host stack declares none of these resources.
 */
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { looksLikeSecretName } from "../components/formats";
import { policyStatements } from "../components/iam";
import { containersOf } from "./limits";

const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** A task definition's containers, parsed (policies/limits.ts reads them the same way). */
const containers = (args: { props: Record<string, unknown> }) => containersOf(args.props.containerDefinitions);

const TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition";
const SERVICE = "aws:ecs/service:Service";

/** The roles ECS tasks assume (their trust names ecs-tasks.amazonaws.com), by URN and by their name. */
function taskRoles(resources: PolicyResource[]): PolicyResource[] {
    return resources.filter((r) => r.type === "aws:iam/role:Role" && String(r.props.assumeRolePolicy ?? "").includes("ecs-tasks.amazonaws.com"));
}

export const ecsPolicies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
    {
        name: "ecs-container-hardened",
        description: "ECS containers are never privileged, run on a read-only root file system (scratch space is a task volume) unless named in `writableRoot` (an upstream agent that writes under its own directory), and take secrets from Secrets Manager, never as plain env values.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { writableRoot: { type: "array", items: { type: "string" }, default: [] } } },
        validateResource: (args, report) => {
            if (args.type !== TASK_DEFINITION) return;
            const { writableRoot } = args.getConfig<{ writableRoot: string[] }>();
            for (const c of containers(args)) {
                const name = String(c.name);
                if (c.privileged === true) report(`container ${name} is privileged.`);
                if (c.readonlyRootFilesystem !== true && !writableRoot.includes(name)) report(`container ${name} has a writable root file system; mount a task volume where it must write.`);
                for (const e of (c.environment as { name?: string; value?: string }[] | undefined) ?? []) {
                    if (e.name && looksLikeSecretName(e.name) && e.value) report(`container ${name}: env ${e.name} holds a value in plain text; give it as a secret (Secrets Manager).`);
                }
            }
        },
    },
    {
        name: "ecs-deployments-safe",
        description: "Every ECS service deploys behind the circuit breaker with rollback, and is waited for until steady; a service without a load balancer is a singleton that can never run twice (one task, the old one stopped before the new one starts).",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== SERVICE) return;
            const breaker = args.props.deploymentCircuitBreaker as { enable?: boolean; rollback?: boolean } | undefined;
            if (!breaker?.enable || !breaker.rollback) report("the deployment circuit breaker with rollback is not on: a broken release would keep replacing tasks.");
            if (args.props.waitForSteadyState !== true) report("waitForSteadyState is not set: the next start stage would not wait for this one's tasks to be healthy.");
            const balanced = Array.isArray(args.props.loadBalancers) && args.props.loadBalancers.length > 0;
            if (balanced) return;
            if (args.props.desiredCount !== 1 || args.props.deploymentMaximumPercent !== 100 || args.props.deploymentMinimumHealthyPercent !== 0) {
                report(`a singleton (no load balancer) must run exactly one task and deploy stop-before-start (desiredCount 1, deploymentMaximumPercent 100, deploymentMinimumHealthyPercent 0); it has ${args.props.desiredCount}, ${args.props.deploymentMaximumPercent}, ${args.props.deploymentMinimumHealthyPercent}: two tasks would double ticks and alerts.`);
            }
        },
    },
    {
        name: "alb-tls-only",
        description: "The load balancer's listeners speak HTTPS with a TLS 1.2+ policy (ELB's TLS13-1-2 family); a plain listener may only redirect to HTTPS.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== "aws:lb/listener:Listener") return;
            const protocol = args.props.protocol;
            if (protocol === "HTTPS") {
                const policy = String(args.props.sslPolicy ?? "");
                if (!/^ELBSecurityPolicy-TLS13-1-2-/.test(policy)) report(`listener on port ${args.props.port} uses TLS policy "${policy || "the default (TLS 1.0)"}"; use a TLS13-1-2 policy.`);
                return;
            }
            const actions = (args.props.defaultActions as { type?: string; redirect?: { protocol?: string } }[] | undefined) ?? [];
            if (!actions.length || actions.some((a) => a.type !== "redirect" || a.redirect?.protocol !== "HTTPS")) report(`listener on port ${args.props.port} serves ${protocol ?? "HTTP"} in the clear.`);
        },
    },
    {
        name: "elasticache-encrypted",
        description: "ElastiCache is encrypted at rest and in transit (required, not preferred), asks for an AUTH token, and fails over across zones.",
        enforcementLevel: "mandatory",
        validateResource: (args, report) => {
            if (args.type !== "aws:elasticache/replicationGroup:ReplicationGroup") return;
            const p = args.props;
            if (p.atRestEncryptionEnabled !== true) report("encryption at rest is off.");
            if (p.transitEncryptionEnabled !== true || p.transitEncryptionMode === "preferred") report("encryption in transit is not required.");
            if (p.authToken === undefined) report("no AUTH token: anyone who reaches the port may read and write.");
            if (p.automaticFailoverEnabled !== true || p.multiAzEnabled !== true || Number(p.numCacheClusters ?? 1) < 2) report("no automatic failover across two zones: losing the primary's zone loses the cache.");
        },
    },
    {
        name: "ecs-task-roles-least-privilege",
        description: "Roles ECS tasks assume grant no wildcard action and no action on every resource: each task gets what it uses (its volumes, the stores' secrets), nothing wider.",
        enforcementLevel: "mandatory",
        validateStack: (args, report) => {
            const roles = taskRoles(args.resources);
            const names = new Set(roles.flatMap((r) => [r.name, String(r.props.name ?? ""), String(r.props.id ?? "")]).filter(Boolean));
            for (const p of args.resources.filter((r) => r.type === "aws:iam/rolePolicy:RolePolicy")) {
                const owner = String(p.props.role ?? "");
                if (!roles.some((r) => owner.includes(r.name)) && !names.has(owner)) continue;
                for (const st of policyStatements(p.props.policy)) {
                    if (st.Effect === "Deny") continue;
                    const wide = list(st.Action).filter((a) => a === "*" || a.endsWith(":*"));
                    if (wide.length) report(`${p.name} grants ${wide.join(", ")} to an ECS task role.`, p.urn);
                    if (list(st.Resource).includes("*")) report(`${p.name} grants ${list(st.Action).join(", ")} on every resource to an ECS task role.`, p.urn);
                }
            }
        },
    },
];
