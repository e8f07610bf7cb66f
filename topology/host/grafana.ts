/**
 * Grafana, the catalog's `grafana` tool: what its container is given (data sources, the dashboard,
 * settings) and how it reads CloudWatch.
 *
 * Containers cannot reach the instance metadata (its hop limit is 1: no container holds the host's
 * role, which writes backups), so Grafana reads CloudWatch as a role of its own that can only read
 * metrics and alarms: host/sofia-grafana-creds.sh assumes it every 15 minutes, for an hour, and
 * writes the shared credentials file that Grafana's AWS SDK reads (and reads again when a token
 * has expired). The time-series store is read over its PostgreSQL wire protocol with the
 * credentials the apps use (README, "Grafana": a read-only user would change QuestDB's server.conf,
 * which replaces the store's container).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import { stringify } from "yaml";
import { ContainerServiceArgs } from "../../components/container-service";
import { HostFilesPart } from "../../components/host-files";
import { hostScript } from "../../components/project-root";
import { CatalogEntry, clientPorts } from "../../model/catalog";
import { metricsNamespace } from "../../model/metrics";
import { Settings } from "../../model/settings";
import { DASHBOARD_UID, DATASOURCES, sofiaDashboard } from "./dashboards";
import { GRAFANA_AWS_HOST_DIR, GRAFANA_CREDS_BIN, GRAFANA_DASHBOARDS_HOST_DIR, GRAFANA_ENV, SYSTEMD_DIR, shellDefaults } from "./layout";
import { proxyTlsSource } from "./proxy-config";
import { hostEnvFile } from "./services-files";
import { containerName, passwordFile, QUESTDB_USER } from "./store-config";

/** Grafana's admin user: its default, which GF_SECURITY_ADMIN_USER would change. */
export const GRAFANA_ADMIN = "admin";
/** The image's own user (grafana, 472): the credentials file is readable by it alone. */
export const GRAFANA_UID = 472;
const PROVISIONING = "/etc/grafana/provisioning";
const DASHBOARDS_DIR = "/etc/grafana/dashboards";
/** Where the container reads the credentials sofia-grafana-creds writes (a directory: a rename there is seen inside). */
const AWS_DIR = "/etc/grafana/aws";
/** The profile of the shared credentials file that the CloudWatch data source names. */
const AWS_PROFILE = "sofia-grafana-reader";
/** Credentials last an hour and are written every 15 minutes: three chances before Grafana goes blind. */
export const CREDENTIAL_SECONDS = 3600;

/** How Grafana reaches each time-series store: its PostgreSQL-wire port (by the catalog's port name), user and database. */
const SQL_ACCESS: Record<Settings["timeseriesStore"], { port: string; user: string; database: string; timescaledb: boolean }> = {
    questdb: { port: "pg-wire", user: QUESTDB_USER, database: "qdb", timescaledb: false },
    timescaledb: { port: "postgres", user: "postgres", database: "postgres", timescaledb: true },
};

/** The data sources file: CloudWatch in the stack's region, and the chosen time-series store. */
export function grafanaDatasources(catalog: readonly CatalogEntry[], s: Pick<Settings, "region" | "timeseriesStore">): string {
    const store = catalog.find((e) => e.name === s.timeseriesStore);
    const access = SQL_ACCESS[s.timeseriesStore];
    const port = store?.ports.find((p) => p.name === access.port);
    if (!store || !port) throw new Error(`catalog: grafana reads ${s.timeseriesStore} on its ${access.port} port, which the catalog does not declare`);
    return stringify({
        apiVersion: 1,
        datasources: [
            {
                name: "CloudWatch",
                uid: DATASOURCES.cloudwatch.uid,
                type: DATASOURCES.cloudwatch.type,
                access: "proxy",
                editable: false,
                isDefault: true,
                // The shared credentials file, not the instance's metadata (see the head of this file).
                jsonData: { authType: "credentials", profile: AWS_PROFILE, defaultRegion: s.region },
            },
            {
                name: `Time-series store (${s.timeseriesStore})`,
                uid: DATASOURCES.timeseries.uid,
                type: DATASOURCES.timeseries.type,
                access: "proxy",
                editable: false,
                url: `${containerName(store)}:${port.port}`,
                user: access.user,
                jsonData: { database: access.database, sslmode: "disable", timescaledb: access.timescaledb, maxOpenConns: 5 },
                // Grafana reads the password from the store's secret file when it starts: it is in no file here.
                secureJsonData: { password: `$__file{${passwordFile(store.name)}}` },
            },
        ],
    });
}

/**
 * The dashboards provider: the generated dashboard, not editable in the UI (a change is a pull
 * request). Grafana reads the directory again every minute: the dashboard is a host file, so a new
 * alarm or threshold reaches it without replacing the container (nor making the update a deploy).
 */
function dashboardProvider(): string {
    return stringify({
        apiVersion: 1,
        providers: [{ name: "sofia", type: "file", disableDeletion: true, allowUiUpdates: false, updateIntervalSeconds: 60, options: { path: DASHBOARDS_DIR } }],
    });
}

/**
 * The Grafana container's files, env and mounts beyond the catalog. `behindLoadBalancer`: the ECS
 * topology's load balancer serves it over TLS (with staffCidrs), not the host's proxy.
 */
export function grafanaExtras(catalog: CatalogEntry[], s: Settings, behindLoadBalancer = false): Partial<ContainerServiceArgs> {
    const port = clientPorts(catalog).find((p) => p.service === "grafana")?.port.port;
    // Through the proxy's (or the load balancer's) TLS where staffCidrs let anyone in; otherwise only
    // through an SSM port-forwarding session to its loopback port (encrypted by SSM), where a secure
    // cookie or an https root URL would break the login.
    const viaProxy = s.staffCidrs.length > 0 && (behindLoadBalancer || proxyTlsSource(s) !== undefined);
    return {
        files: [
            // The admin's password from its secret file, read by Grafana itself: the image's start
            // script would export a GF_..._FILE variable's content into the process environment.
            { path: "/etc/grafana/grafana.ini", content: `# Generated by sofia-infra (topology/host/grafana.ts)\n[security]\nadmin_user = ${GRAFANA_ADMIN}\nadmin_password = $__file{${passwordFile("grafana")}}\n` },
            { path: `${PROVISIONING}/datasources/sofia.yaml`, content: grafanaDatasources(catalog, s) },
            { path: `${PROVISIONING}/dashboards/sofia.yaml`, content: dashboardProvider() },
        ],
        env: {
            // Error alarms read the level from JSON lines (model/log-formats.ts "grafana").
            GF_LOG_MODE: "console",
            GF_LOG_CONSOLE_FORMAT: "json",
            // Anonymous access is off by Grafana's default (its setting's name reads as a secret here).
            GF_USERS_ALLOW_SIGN_UP: "false",
            // The host reaches nothing on the internet on Grafana's behalf.
            GF_ANALYTICS_REPORTING_ENABLED: "false",
            GF_ANALYTICS_CHECK_FOR_UPDATES: "false",
            GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES: "false",
            GF_SECURITY_DISABLE_GRAVATAR: "true",
            ...(viaProxy ? { GF_SECURITY_COOKIE_SECURE: "true" } : {}),
            // Links and redirects name the address the operators use, through the proxy.
            ...(viaProxy && s.proxy.acme?.domain && port ? { GF_SERVER_ROOT_URL: `https://${s.proxy.acme.domain}:${port}/` } : {}),
            AWS_SHARED_CREDENTIALS_FILE: `${AWS_DIR}/credentials`,
        },
        binds: [
            { hostPath: GRAFANA_AWS_HOST_DIR, path: AWS_DIR },
            { hostPath: GRAFANA_DASHBOARDS_HOST_DIR, path: DASHBOARDS_DIR },
        ],
    };
}

/** What Grafana's role may do: read metrics and alarms, nothing else (Grafana's CloudWatch documentation, metrics part). */
export function grafanaReaderPolicy(): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ReadMetricsAndAlarms",
                Effect: "Allow",
                Action: ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmsForMetric", "cloudwatch:DescribeAlarmHistory", "ec2:DescribeRegions"],
                Resource: "*",
            },
        ],
    });
}

/** /etc/sofia/grafana.env: the role, where the credentials go, and for whom. */
export function grafanaEnv(s: Pick<Settings, "region" | "stack">, roleArn: string): string {
    const values: Record<string, string> = {
        GRAFANA_READER_ROLE_ARN: roleArn,
        GRAFANA_AWS_DIR: GRAFANA_AWS_HOST_DIR,
        GRAFANA_AWS_PROFILE: AWS_PROFILE,
        GRAFANA_UID: String(GRAFANA_UID),
        GRAFANA_CREDENTIAL_SECONDS: String(CREDENTIAL_SECONDS),
        AWS_REGION_NAME: s.region,
        // The session name shows in CloudTrail: which stack's Grafana read.
        GRAFANA_SESSION: `grafana-${metricsNamespace(s.stack).replace(/\W/g, "-")}`,
    };
    return shellDefaults("grafana.env", "topology/host/grafana.ts", values);
}

const CREDS_SERVICE = `[Unit]
Description=Write Grafana's short-lived AWS credentials (its read-only CloudWatch role)
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=${GRAFANA_CREDS_BIN}
TimeoutStartSec=120
# The first run usually meets a role IAM does not know yet (it takes seconds): again in 30 s, not 15 minutes.
Restart=on-failure
RestartSec=30
`;

// Every 15 minutes for credentials that last an hour: a failed run or two leaves Grafana reading.
const CREDS_TIMER = `[Unit]
Description=Refresh Grafana's AWS credentials every 15 minutes

[Timer]
OnActiveSec=0
OnBootSec=1min
OnUnitActiveSec=15min

[Install]
WantedBy=timers.target
`;

/**
 * The host files part of Grafana: its dashboard, and what keeps its credentials fresh. The dashboard
 * is the host topology's unless given (the ECS topology's, from its own alarm table).
 */
export function grafanaHostFiles(catalog: CatalogEntry[], s: Settings, roleArn: pulumi.Input<string>, dashboard: pulumi.Input<string> = JSON.stringify(sofiaDashboard(catalog, s))): HostFilesPart {
    return {
        name: "grafana",
        files: [
            hostEnvFile(),
            // One line: the SSM document that carries it has 64 KB for everything.
            { path: `${GRAFANA_DASHBOARDS_HOST_DIR}/${DASHBOARD_UID}.json`, content: pulumi.output(dashboard).apply((d) => d + "\n") },
            { path: GRAFANA_ENV, content: pulumi.output(roleArn).apply((arn) => grafanaEnv(s, arn)) },
            { path: GRAFANA_CREDS_BIN, content: fs.readFileSync(hostScript("sofia-grafana-creds.sh"), "utf8"), mode: "0755" },
            { path: `${SYSTEMD_DIR}/sofia-grafana-creds.service`, content: CREDS_SERVICE },
            { path: `${SYSTEMD_DIR}/sofia-grafana-creds.timer`, content: CREDS_TIMER },
        ],
        // The timer's first run is at once; a failure there is the journal's and the next run's (IAM
        // takes a few seconds to know a new role), not the update's: the dashboard is not Sofia.
        afterInstall: ["systemctl daemon-reload", "systemctl enable --now sofia-grafana-creds.timer"],
    };
}

/**
 * Grafana's read-only role, which the host's role (and nothing else) may assume: its credentials
 * reach the Grafana container only, never the host's own (which write backups and metrics).
 */
export function grafanaReaderRole(name: string, hostRole: aws.iam.Role, tags: Record<string, string>, parent: pulumi.Resource): aws.iam.Role {
    const role = new aws.iam.Role(
        `${name}-grafana-reader`,
        {
            description: "Sofia's Grafana: reads CloudWatch metrics and alarms (credentials written on the host by sofia-grafana-creds)",
            assumeRolePolicy: hostRole.arn.apply((arn) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: arn }, Action: "sts:AssumeRole" }] })),
            maxSessionDuration: CREDENTIAL_SECONDS,
            tags,
        },
        { parent },
    );
    new aws.iam.RolePolicy(`${name}-grafana-reader`, { role: role.id, policy: grafanaReaderPolicy() }, { parent: role });
    new aws.iam.RolePolicy(
        `${name}-assume-grafana-reader`,
        { role: hostRole.id, policy: role.arn.apply((arn) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "GrafanaReader", Effect: "Allow", Action: "sts:AssumeRole", Resource: arn }] })) },
        { parent: hostRole },
    );
    return role;
}
