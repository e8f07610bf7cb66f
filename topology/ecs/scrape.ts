/**
 * The metrics server's Prometheus scrape on ECS: the CloudWatch agent as a sidecar in the metrics
 * task (Fargate tasks share one network namespace, so it scrapes 127.0.0.1 as the host's agent
 * does), writing embedded-metric log lines that CloudWatch turns into the same metrics in the same
 * namespace: the freshness, reconnect, news and fallback alarms read them unchanged.
 */
import { CatalogEntry } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { logGroupName, prometheusConfig, prometheusSection } from "../host/monitoring";

/** The agent's image (AWS's public gallery; pinned by tag, as no digest could be looked up here), its container's name and memory. */
export const SCRAPE_AGENT = { name: "cloudwatch-agent", image: "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300059.0b1207", memoryMb: 128 } as const;

/** The app whose task the agent joins: the one serving /metrics. */
export const SCRAPED_APP = "metrics";

/** The sidecar's container definition, for the metrics server's task. */
export function scrapeSidecar(catalog: readonly CatalogEntry[], s: Settings, logGroup: string): Record<string, unknown> {
    const agent = { agent: { metrics_collection_interval: 60 }, logs: { metrics_collected: { prometheus: prometheusSection(s.stack, "env:PROMETHEUS_CONFIG_CONTENT") } } };
    return {
        name: SCRAPE_AGENT.name,
        image: SCRAPE_AGENT.image,
        // The metrics server keeps serving if the agent dies; the alarms' "signal gone" sees the gap.
        essential: false,
        environment: [
            { name: "CW_CONFIG_CONTENT", value: JSON.stringify(agent) },
            { name: "PROMETHEUS_CONFIG_CONTENT", value: prometheusConfig(catalog, s.stack) },
        ],
        secrets: [],
        memory: SCRAPE_AGENT.memoryMb,
        // The agent writes its translated configuration under its own directory: its root stays writable (policy ecs-container-hardened allows it by name).
        readonlyRootFilesystem: false,
        privileged: false,
        stopTimeout: 10,
        dependsOn: [{ containerName: SCRAPED_APP, condition: "START" }],
        logConfiguration: { logDriver: "awslogs", options: { "awslogs-group": logGroup, "awslogs-region": s.region, "awslogs-stream-prefix": SCRAPE_AGENT.name, mode: "non-blocking" } },
    };
}

/** What the agent's task role may do: write its scrape into the stack's Prometheus log group. */
export function scrapePolicy(s: Settings): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], Resource: `arn:aws:logs:${s.region}:*:log-group:${logGroupName(s.stack, "prometheus")}:*` }],
    });
}
