/**
 * The ECS topology (`topology: ecs`) from the same catalog: the offline plan of prod and staging
 * under Pulumi's mocks (a TEST DOUBLE of the engine and AWS), the policies on it, and each ECS
 * policy on a good and a bad input.
 */
import { describe, expect, it } from "vitest";
import { evaluate } from "../policies/evaluate";
import { ecsPolicies } from "../policies/ecs";
import { policies } from "../policies/rules";
import { policyConfig } from "../policies/config";
import { PlannedResource } from "../plan/offline";
import { sofiaCatalog } from "../model/catalog";
import { LOG_FORMATS } from "../model/log-formats";
import { grafanaDatasources } from "../topology/host/grafana";
import { taskReadPolicy } from "../topology/ecs/theme";
import { startStages } from "../model/start-order";
import { hourWindow } from "../topology/ecs/cache";
import { containerDefinition, ecsEnv, secretEnvOf } from "../topology/ecs/tasks";
import { installedFiles, ofType, one, planStack } from "./helpers/plan";
import { DATA_PATH, volumeHostPath } from "../topology/host/layout";
import { retiredFromHost } from "../topology/ecs/platform";
import { readStackConfig, projectName, applyOverride } from "../plan/stack-config";
import { configSource, readSettings, SettingsError } from "../model/settings";

const ECS = ["topology=ecs"];
const CERT = "ecs.certificateArn=arn:aws:acm:eu-central-1:123456789012:certificate/12345678-1234-1234-1234-123456789012";

function settingsOf(stack: string, overrides: string[]) {
    const config = readStackConfig(stack);
    for (const o of overrides) applyOverride(config, o);
    return readSettings(projectName(), stack, configSource(config));
}

describe("topology ecs: prod's plan from the one catalog", () => {
    it("every app is an ECS service, in catalog order: each stage waits for the one before", async () => {
        const plan = await planStack("prod", ECS);
        const services = ofType(plan, "aws:ecs/service:Service");
        const apps = sofiaCatalog("questdb").filter((e) => e.kind === "app").map((e) => e.name);
        expect(services.map((s) => s.inputs.name).sort()).toEqual([...apps].sort());
        const stages = startStages(sofiaCatalog("questdb")).map((st) => st.filter((n) => apps.includes(n))).filter((st) => st.length);
        const urnOf = (name: string) => services.find((s) => s.inputs.name === name)!.urn;
        for (let i = 1; i < stages.length; i++) {
            for (const name of stages[i]) {
                const deps = services.find((s) => s.inputs.name === name)!.dependsOn;
                for (const before of stages[i - 1]) expect(deps, `${name} waits for ${before}`).toContain(urnOf(before));
            }
        }
        for (const s of services) {
            expect(s.inputs.waitForSteadyState).toBe(true);
            expect(s.inputs.deploymentCircuitBreaker).toEqual({ enable: true, rollback: true });
        }
        // The store host's first (QuestDB, then Grafana, which reads it), then the tasks.
        expect(plan.outputs.startStages).toEqual([["questdb"], ["grafana"], ...stages]);
        // The tasks wait for the stores, not for the operators' dashboard.
        const grafana = ofType(plan, "docker:index/container:Container").find((c) => c.inputs.name === "sofia-grafana")!;
        for (const svc of services) expect(svc.dependsOn).not.toContain(grafana.urn);
    });

    it("the API and UI scale behind the load balancer; every other app is a singleton that cannot run twice", async () => {
        const plan = await planStack("prod", ECS);
        const services = ofType(plan, "aws:ecs/service:Service");
        for (const s of services) {
            const scaled = ["api", "ui"].includes(String(s.inputs.name));
            if (scaled) {
                expect(s.inputs.loadBalancers).toHaveLength(1);
                expect(s.options.ignoreChanges).toContain("desiredCount");
                expect([s.inputs.deploymentMaximumPercent, s.inputs.deploymentMinimumHealthyPercent]).toEqual([200, 100]);
            } else {
                expect([s.inputs.desiredCount, s.inputs.deploymentMaximumPercent, s.inputs.deploymentMinimumHealthyPercent]).toEqual([1, 100, 0]);
                expect(s.inputs.loadBalancers).toBeUndefined();
            }
        }
        // Each task's size: its memory, and the catalog's vCPUs where it names them (the API's workers).
        const size = (family: string) => ofType(plan, "aws:ecs/taskDefinition:TaskDefinition").find((t) => t.inputs.family === family)!.inputs;
        expect([size("api").cpu, size("api").memory]).toEqual(["1024", "2048"]);
        expect([size("news").cpu, size("news").memory]).toEqual(["256", "512"]);
        const targets = ofType(plan, "aws:appautoscaling/target:Target");
        expect(targets.map((t) => [t.name, t.inputs.minCapacity, t.inputs.maxCapacity])).toEqual([
            ["sofia-ecs-api-scaling", 2, 6],
            ["sofia-ecs-ui-scaling", 2, 6],
        ]);
        const listeners = ofType(plan, "aws:lb/listener:Listener");
        expect(listeners.map((l) => [l.inputs.port, l.inputs.protocol])).toEqual([
            [8013, "HTTPS"],
            [8080, "HTTPS"],
        ]);
    });

    it("Redis is ElastiCache with failover across zones, encrypted, with AUTH; the store host runs QuestDB and Grafana", async () => {
        const plan = await planStack("prod", ECS);
        const group = one(plan, "aws:elasticache/replicationGroup:ReplicationGroup").inputs;
        expect(group).toMatchObject({ numCacheClusters: 2, automaticFailoverEnabled: true, multiAzEnabled: true, atRestEncryptionEnabled: true, transitEncryptionEnabled: true, transitEncryptionMode: "required", snapshotRetentionLimit: 30 });
        expect(group.snapshotWindow).toBe("01:00-02:00");
        expect(group.maintenanceWindow).toBe("sun:02:00-sun:03:00");
        // Its engine log goes where Redis' error-line alarm reads: that alarm has a publisher here too.
        const filter = ofType(plan, "aws:cloudwatch/logMetricFilter:LogMetricFilter").find((f) => f.inputs.metricTransformation && (f.inputs.metricTransformation as { name: string }).name === "ErrorLines-redis")!;
        expect(group.logDeliveryConfigurations).toEqual([{ destination: filter.inputs.logGroupName, destinationType: "cloudwatch-logs", logFormat: "text", logType: "engine-log" }]);
        // In ElastiCache's layout (the level a field later than a host's Redis writes it: model/log-formats.ts).
        expect(filter.inputs.pattern).toBe(LOG_FORMATS.elasticache.errorPatterns[0]);
        expect(filter.inputs.pattern).not.toBe(LOG_FORMATS.redis.errorPatterns[0]);
        // Set at creation only: ElastiCache refuses a change to it without apply-immediately, which the group does not use.
        expect(one(plan, "aws:elasticache/replicationGroup:ReplicationGroup").options.ignoreChanges).toContain("logDeliveryConfigurations");
        expect(group.applyImmediately).toBe(false);
        const containers = ofType(plan, "docker:index/container:Container").map((c) => c.inputs.name);
        expect(containers).toEqual(["sofia-questdb", "sofia-grafana"]);
        // The same bucket and host as the host topology: moving keeps the backups and QuestDB's volume.
        const host = await planStack("prod");
        const urns = (p: typeof plan, type: string) => ofType(p, type).map((r) => r.urn);
        const backups = (p: typeof plan) => urns(p, "aws:s3/bucket:Bucket").filter((u) => u.includes("::sofia-backups"));
        expect(backups(plan)).toHaveLength(2);
        expect(backups(plan)).toEqual(backups(host));
        expect(urns(plan, "aws:ebs/volume:Volume")).toEqual(urns(host, "aws:ebs/volume:Volume"));
        expect(ofType(host, "aws:ecs/service:Service")).toEqual([]);
    });

    it("moving a host stack creates nothing under an AWS name the update would delete: what both declare keeps its URN", async () => {
        const [host, ecs] = [await planStack("prod"), await planStack("prod", ECS)];
        const physical = (r: PlannedResource) => [r.type, r.inputs.name ?? r.inputs.alarmName ?? r.inputs.dashboardName ?? r.inputs.bucket ?? r.inputs.family].join(" ");
        const named = (r: PlannedResource) => r.custom && [r.inputs.name, r.inputs.alarmName, r.inputs.dashboardName, r.inputs.family].some((v) => typeof v === "string");
        const hostUrns = new Set(host.resources.map((r) => r.urn));
        const ecsUrns = new Set(ecs.resources.map((r) => r.urn));
        const created = new Set(ecs.resources.filter((r) => named(r) && !hostUrns.has(r.urn)).map(physical));
        const deleted = host.resources.filter((r) => named(r) && !ecsUrns.has(r.urn)).map(physical);
        expect(deleted.filter((p) => created.has(p))).toEqual([]);
        // What both have: the escalation's topics and alarms, the log groups, the dashboard.
        const kept = ecs.resources.filter((r) => hostUrns.has(r.urn));
        expect(kept.filter((r) => r.type === "aws:sns/topic:Topic")).toHaveLength(2);
        expect(kept.filter((r) => r.type === "aws:cloudwatch/logGroup:LogGroup").length).toBeGreaterThan(8);
        expect(kept.filter((r) => r.type === "aws:cloudwatch/dashboard:Dashboard")).toHaveLength(1);
        // The host and its data volume: the same inputs, so nothing replaces them (hostArgs, one place).
        for (const type of ["aws:ebs/volume:Volume", "aws:ec2/volumeAttachment:VolumeAttachment"]) expect(one(ecs, type).inputs, type).toEqual(one(host, type).inputs);
        const instance = (p: typeof host) => one(p, "aws:ec2/instance:Instance").inputs;
        for (const key of ["ami", "instanceType", "availabilityZone", "subnetId", "rootBlockDevice", "iamInstanceProfile"]) expect(instance(ecs)[key], key).toEqual(instance(host)[key]);
    });

    it("on a move, the host's apps stop first, its Redis is carried into the cache, then it stops; all before any task starts", async () => {
        expect(retiredFromHost(sofiaCatalog("questdb"))).toEqual(["sofia-ui:10", "sofia-api:20", "sofia-whale-alerts:10", "sofia-news:10", "sofia-ts-writer:30", "sofia-equities:15", "sofia-crypto-ws:15", "sofia-metrics:10", "sofia-proxy:10", "sofia-redis:30"]);
        const plan = await planStack("prod", ECS);
        const step = (name: string) => plan.resources.find((r) => r.name === name)!;
        expect(String(step("sofia-retire-host-apps-run").inputs.create)).toMatch(/sofia-services retire sofia-ui:10 .* sofia-proxy:10$/);
        expect(String(step("sofia-move-cache-run").inputs.create)).toMatch(/\/usr\/local\/sbin\/sofia-cache move$/);
        expect(String(step("sofia-retire-host-redis-run").inputs.create)).toMatch(/sofia-services retire sofia-redis:30$/);
        expect(step("sofia-move-cache-run").dependsOn).toContain(step("sofia-retire-host-apps-run").urn);
        expect(step("sofia-retire-host-redis-run").dependsOn).toContain(step("sofia-move-cache-run").urn);
        const first = ofType(plan, "aws:ecs/service:Service").find((x) => x.inputs.name === "metrics")!;
        expect(first.dependsOn).toContain(step("sofia-retire-host-redis-run").urn);
        // Once: the same steps on the next update run nothing again.
        for (const n of ["sofia-retire-host-apps-run", "sofia-move-cache-run", "sofia-retire-host-redis-run"]) expect(step(n).inputs.triggers).toEqual(["host-to-ecs"]);
    });

    it("the apps' files: the store host mounts the file system (NFS allowed from it), its backups take the catalog's backed-up volumes there, and a move carries the host's in before any task starts", async () => {
        const plan = await planStack("prod", ECS);
        const step = (name: string) => plan.resources.find((r) => r.name === name)!;
        const rules = ofType(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
        // The store host's security group, as the cache's rule for it names it.
        const storeHost = rules.find((r) => r.name === "sofia-cache-in-store-host")!.inputs.referencedSecurityGroupId;
        const nfs = rules.filter((r) => r.name.startsWith("sofia-files-in-nfs"));
        expect(nfs.map((r) => r.inputs.fromPort)).toEqual([2049, 2049, 2049]);
        expect(nfs.map((r) => r.inputs.referencedSecurityGroupId)).toContain(storeHost);
        const items = installedFiles(plan).find((f) => f.path === "/etc/sofia/backup.tsv")!.content.split("\n").filter((l) => l && !l.startsWith("#"));
        expect(items).toContain("models\tfiles\t/mnt/sofia-app-files/models\t-\t/mnt/sofia-app-files/models\t1000:1000");
        expect(items).toContain("ui-extensions\tfiles\t/mnt/sofia-app-files/ui-extensions\t-\t/mnt/sofia-app-files/ui-extensions\t1000:1000");
        const env = installedFiles(plan).find((f) => f.path === "/etc/sofia/app-files.env")!.content;
        expect(env).toContain(`FILES_VOLUMES=models=${volumeHostPath(DATA_PATH, "models")} ui-extensions=${volumeHostPath(DATA_PATH, "ui-extensions")}}`);
        expect(String(step("sofia-mount-app-files-run").inputs.create)).toMatch(/sofia-app-files mount$/);
        for (const m of ofType(plan, "aws:efs/mountTarget:MountTarget")) expect(step("sofia-mount-app-files-run").dependsOn).toContain(m.urn);
        expect(step("sofia-move-app-files-run").dependsOn).toEqual(expect.arrayContaining([step("sofia-retire-host-apps-run").urn, step("sofia-mount-app-files-run").urn]));
        expect(step("sofia-move-app-files-run").inputs.triggers).toEqual(["host-to-ecs"]);
        for (const service of ofType(plan, "aws:ecs/service:Service").filter((x) => x.inputs.name === "metrics")) expect(service.dependsOn).toContain(step("sofia-move-app-files-run").urn);
    });

    it("the cache in the store host's backups: the Redis item is a live copy of it (from its replica), on the Redis-only schedule too, alarmed as on the host", async () => {
        const plan = await planStack("prod", ECS);
        const items = installedFiles(plan).find((f) => f.path === "/etc/sofia/backup.tsv")!.content.split("\n").filter((l) => l && !l.startsWith("#"));
        expect(items[0]).toBe("redis\tcache\t-\t-\t-\t-");
        const env = installedFiles(plan).find((f) => f.path === "/etc/sofia/cache.env")!.content;
        expect(env).toMatch(/CACHE_READER_ENDPOINT=replica\./);
        const schedules = ofType(plan, "aws:scheduler/schedule:Schedule").map((x) => [x.inputs.name, x.inputs.scheduleExpression]);
        expect(schedules).toContainEqual(["sofia-prod-backup-redis", "rate(15 minutes)"]);
        const alarms = ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm").filter((a) => a.inputs.metricName === "BackupAgeHours").map((a) => (a.inputs.dimensions as Record<string, string>).Kind);
        expect(alarms.sort()).toEqual(["full", "redis"]);
    });

    it("restore.from: under the signal, the writers held, the cache's snapshot, the store host restored, then the cache from the backup, then the writers back, before the services", async () => {
        const plan = await planStack("prod", [...ECS, "restore.from=20261201T010000Z", "restore.confirm=prod"]);
        const step = (name: string) => plan.resources.find((r) => r.name === name)!;
        const waits = (n: string, on: string) => expect(step(n).dependsOn, `${n} after ${on}`).toContain(step(on).urn);
        expect(step("sofia-restore-hold-writers").inputs.create).toBe("./scripts/ecs-scale.sh eu-central-1 sofia-prod 0 crypto-ws equities ts-writer news whale-alerts");
        expect(String(step("sofia-restore-cache-snapshot").inputs.create)).toMatch(/ecs-cache-snapshot\.sh eu-central-1 \S+ sofia-prod-prerestore-[0-9a-f]{12} 30$/);
        expect(String(step("sofia-restore-run").inputs.create)).toMatch(/sofia-restore 20261201T010000Z$/);
        expect(String(step("sofia-restore-cache-run").inputs.create)).toMatch(/sofia-cache seed 20261201T010000Z --page \d+ restore-ecs$/);
        expect(step("sofia-restore-release-writers").inputs.create).toBe("./scripts/ecs-scale.sh eu-central-1 sofia-prod 1 crypto-ws equities ts-writer news whale-alerts");
        waits("sofia-restore-hold-writers", "sofia-restore-signal-on-run");
        // Clients get the maintenance page at the load balancer while the data is swapped, and the store host may put it there.
        expect(String(step("sofia-restore-signal-on-run").inputs.create)).toMatch(/sofia-maintenance page on \d+ restore-ecs$/);
        expect(String(step("sofia-restore-signal-off-run").inputs.create)).toMatch(/sofia-maintenance page off restore-ecs$/);
        expect(installedFiles(plan).find((f) => f.path === "/etc/sofia/edge.env")!.content).toMatch(/EDGE_LISTENERS=arn:aws:elasticloadbalancing:eu-central-1:\d+:listener\/app\/sofia-prod\/\w+\/\w+ arn:/);
        expect(JSON.parse(String(plan.resources.find((r) => r.name === "sofia-edge-page")!.inputs.policy)).Statement[1].Resource[0]).toMatch(/:listener\/app\/sofia-prod\//);
        waits("sofia-restore-cache-snapshot", "sofia-restore-hold-writers");
        waits("sofia-restore-run", "sofia-restore-cache-snapshot");
        // The cache only once the stores are restored: a failed restore leaves it as it was.
        waits("sofia-restore-cache-run", "sofia-restore-run");
        // The apps' files are on the mounted file system before the restore puts them back there.
        waits("sofia-restore-signal-on-run", "sofia-move-app-files-run");
        // The apps with files get new tasks, which mount the restored directories.
        expect(step("sofia-restore-restart-file-users").inputs.create).toBe("./scripts/ecs-scale.sh eu-central-1 sofia-prod restart api ui");
        waits("sofia-restore-restart-file-users", "sofia-restore-run");
        waits("sofia-restore-cache-run", "sofia-restore-restart-file-users");
        waits("sofia-restore-release-writers", "sofia-restore-cache-run");
        waits("sofia-restore-signal-off-run", "sofia-restore-release-writers");
        for (const n of ["sofia-restore-hold-writers", "sofia-restore-cache-snapshot", "sofia-restore-cache-run", "sofia-restore-release-writers"]) expect(step(n).inputs.triggers).toEqual(["20261201T010000Z"]);
        // Another input's change runs none of them again.
        for (const n of ["sofia-restore-hold-writers", "sofia-restore-release-writers"]) expect(step(n).inputs.update).toBe('printf "%s" "$PULUMI_COMMAND_STDOUT"');
        const first = ofType(plan, "aws:ecs/service:Service").find((x) => x.inputs.name === "metrics")!;
        expect(first.dependsOn).toContain(step("sofia-restore-signal-off-run").urn);
        // The cache is never replaced by a setting: a restore copies into it.
        const group = one(plan, "aws:elasticache/replicationGroup:ReplicationGroup");
        expect(group.inputs.snapshotArns).toBeUndefined();
        expect(group.options.protect).toBe(true);
    });

    it("each app reaches what the catalog says it talks to, no more: its own security group; the UI calls the API by its host name through Service Connect", async () => {
        const plan = await planStack("prod", ECS);
        const rules = ofType(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => r.name);
        expect(rules).toContain("sofia-store-questdb-9009-ts-writer");
        expect(rules.filter((r) => r.startsWith("sofia-store-questdb-") && r.endsWith("-ui"))).toEqual([]);
        expect(rules.filter((r) => r.startsWith("sofia-cache-in-")).sort()).toEqual(["sofia-cache-in-api", "sofia-cache-in-crypto-ws", "sofia-cache-in-equities", "sofia-cache-in-metrics", "sofia-cache-in-news", "sofia-cache-in-store-host", "sofia-cache-in-ts-writer", "sofia-cache-in-whale-alerts"]);
        expect(rules).toContain("sofia-api-in-ui");
        const service = (n: string) => ofType(plan, "aws:ecs/service:Service").find((x) => x.inputs.name === n)!.inputs;
        expect(service("api").serviceConnectConfiguration).toMatchObject({ enabled: true, services: [{ discoveryName: "api", clientAlias: [{ dnsName: "sofia-api", port: 8013 }] }] });
        expect(service("ui").serviceConnectConfiguration).toMatchObject({ enabled: true });
        expect((service("ui").serviceConnectConfiguration as { services?: unknown }).services).toBeUndefined();
        expect(service("ts-writer").serviceConnectConfiguration).toBeUndefined();
        const portNames = JSON.parse(String(ofType(plan, "aws:ecs/taskDefinition:TaskDefinition").find((t) => t.inputs.family === "api")!.inputs.containerDefinitions))[0].portMappings.map((p: { name: string }) => p.name);
        expect(portNames).toEqual(["api-http"]);
    });

    it("a release: writers held at no task, Redis' snapshot and the store host's backup, the migration, the services, the writers back, then verified", async () => {
        const api = "ghcr.io/sofia-v2/api:2026.12.1@sha256:" + "a".repeat(64);
        const plan = await planStack("prod", [...ECS, `images.api=${api}`]);
        expect(plan.outputs.deploy).toMatchObject({ kind: "release", steps: ["backup", "migrate", "verify"] });
        const step = (n: string) => plan.resources.find((r) => r.name === n)!;
        const waits = (n: string, on: string) => expect(step(n).dependsOn, `${n} after ${on}`).toContain(step(on).urn);
        expect(step("sofia-deploy-hold-writers").inputs.create).toBe("./scripts/ecs-scale.sh eu-central-1 sofia-prod 0 crypto-ws equities ts-writer news whale-alerts");
        expect(String(step("sofia-deploy-cache-snapshot").inputs.create)).toMatch(/^\.\/scripts\/ecs-cache-snapshot\.sh eu-central-1 \S+ sofia-prod-predeploy-[0-9a-f]{12} 30$/);
        // Pages suppressed while the writers are held, lifted once verified.
        expect(String(step("sofia-deploy-signal-on-run").inputs.create)).toMatch(/sofia-maintenance signal on 60 deploy$/);
        waits("sofia-deploy-hold-writers", "sofia-deploy-signal-on-run");
        waits("sofia-deploy-signal-off-run", "sofia-deploy-verify-run");
        waits("sofia-deploy-cache-snapshot", "sofia-deploy-hold-writers");
        waits("sofia-deploy-backup-run", "sofia-deploy-hold-writers");
        for (const before of ["sofia-deploy-cache-snapshot", "sofia-deploy-backup-run"]) waits("sofia-deploy-migrate", before);
        expect(String(step("sofia-deploy-migrate").inputs.create)).toMatch(/ecs-run-task\.sh eu-central-1 sofia-prod arn:aws:ecs:eu-central-1:\d+:task-definition\/api:1 api '\["python","-m","src\.db\.migrate"\]'$/);
        expect((step("sofia-deploy-migrate").inputs.environment as Record<string, string>).ECS_RUN_ON_FAILURE).toContain("./scripts/ecs-scale.sh eu-central-1 sofia-prod 1 crypto-ws equities ts-writer news whale-alerts");
        const metrics = ofType(plan, "aws:ecs/service:Service").find((x) => x.inputs.name === "metrics")!;
        expect(metrics.dependsOn).toContain(step("sofia-deploy-migrate").urn);
        waits("sofia-deploy-release-writers", "sofia-ecs-ui-service");
        waits("sofia-deploy-rollout", "sofia-deploy-release-writers");
        waits("sofia-deploy-verify-run", "sofia-deploy-rollout");
        // The theme and critical paths: the canaries' first runs after the rollout, before the release counts as verified.
        expect(step("sofia-deploy-canaries").inputs.create).toBe("./scripts/canary-wait.sh eu-central-1 sofia-prod-api sofia-prod-ui");
        waits("sofia-deploy-canaries", "sofia-deploy-rollout");
        waits("sofia-deploy-verify-run", "sofia-deploy-canaries");
        // No release, no hold: a plan of the same release has none of these steps; but every update gives the writers back.
        const same = await planStack("prod", ECS);
        expect(same.resources.filter((r) => /deploy-(hold|cache-snapshot|backup|migrate)/.test(r.name))).toEqual([]);
        expect(same.resources.find((r) => r.name === "sofia-deploy-release-writers")!.inputs.create).toBe("./scripts/ecs-scale.sh --roll-back eu-central-1 sofia-prod 1 crypto-ws equities ts-writer news whale-alerts");
        // What the writers ran before the update, recorded before any service changes: the roll-back's target.
        const record = same.resources.find((r) => r.name === "sofia-deploy-record-writers")!;
        expect(record.inputs.create).toBe("./scripts/ecs-scale.sh eu-central-1 sofia-prod record crypto-ws equities ts-writer news whale-alerts");
        for (const svc of same.resources.filter((r) => r.type === "aws:ecs/service:Service" && r.name.endsWith("-service") && r.inputs.name === "metrics")) expect(svc.dependsOn).toContain(record.urn);
        // The recorded revisions reach it as ECS_SCALE_ROLL_BACK_TO, known only once the record ran (the plan shows none).
        expect(same.resources.find((r) => r.name === "sofia-deploy-release-writers")!.inputs).toHaveProperty("environment");
    });

    it("Grafana on the store host: its dashboard from this topology's alarms, reached by an SSM tunnel, or with staffCidrs through the load balancer's TLS to them alone", async () => {
        const plan = await planStack("prod", ECS);
        const container = (p: typeof plan) => ofType(p, "docker:index/container:Container").find((c) => c.inputs.name === "sofia-grafana")!.inputs;
        const privateIp = "10.0.0.10";
        // QuestDB is reached at the host's address, as the tasks reach it: Grafana shares no Docker network with a store.
        expect((container(plan).networksAdvanced as { name: string }[]).map((n) => n.name)).toEqual(["sofia-net-grafana"]);
        expect(container(plan).hosts).toEqual([{ host: "sofia-questdb", ip: privateIp }]);
        expect(grafanaDatasources(sofiaCatalog("questdb"), { region: "eu-central-1", timeseriesStore: "questdb" })).toContain("url: sofia-questdb:8812");
        expect(container(plan).ports).toEqual([{ internal: 3000, external: 3000, ip: "127.0.0.1" }]);
        expect(plan.outputs.grafana).toEqual({ url: "http://localhost:3000", user: "admin", tunnel: expect.stringMatching(/^aws ssm start-session --target i-\w+ --document-name AWS-StartPortForwardingSession --parameters portNumber=3000,localPortNumber=3000$/) });
        expect(plan.outputs.grafanaAdminPassword).toBe("[secret]");
        expect(ofType(plan, "aws:lb/listener:Listener").map((l) => l.inputs.port)).not.toContain(3000);
        // The dashboard: the tasks, load balancer and cache rows, each math alarm drawn as it reads (its metrics hidden, by their ids).
        const dashboard = JSON.parse(installedFiles(plan).find((f) => f.path.endsWith("/sofia-overview.json"))!.content) as { panels: { type: string; title: string; targets?: Record<string, unknown>[] }[] };
        const rows = dashboard.panels.filter((p) => p.type === "row").map((p) => p.title);
        expect(rows.slice(0, 4)).toEqual(["Tasks (ECS)", "Load balancer", "Cache (ElastiCache)", "Services and Redis (host probe)"]);
        const writer = dashboard.panels.find((p) => p.title === "ts-writer not running")!.targets!;
        expect(writer).toEqual([
            expect.objectContaining({ id: "running", hide: true, metricName: "RunningTaskCount", dimensions: { ClusterName: "sofia-prod", ServiceName: "ts-writer" } }),
            expect.objectContaining({ id: "alarm", expression: "1 - FILL(running, 0)", metricEditorMode: 1, metricQueryType: 0, statistic: "Average" }),
        ]);
        const memory = dashboard.panels.find((p) => p.title === "DatabaseMemoryUsagePercentage (Maximum)")!.targets!;
        expect(memory.map((t) => (t.dimensions as { CacheClusterId: string }).CacheClusterId)).toEqual([expect.stringMatching(/-001$/), expect.stringMatching(/-002$/)]);
        expect(dashboard.panels.map((p) => p.title)).not.toContain("ErrorLines-proxy (Sum)");
        // A changed Grafana image is no release here either.
        const newer = "grafana/grafana:11.6.1@sha256:" + "b".repeat(64);
        expect((await planStack("prod", [...ECS, `images.grafana=${newer}`])).outputs.deploy).not.toMatchObject({ kind: "release" });

        const staff = await planStack("prod", [...ECS, 'staffCidrs=["203.0.113.0/24"]']);
        const listener = ofType(staff, "aws:lb/listener:Listener").find((l) => l.inputs.port === 3000)!.inputs;
        expect(listener).toMatchObject({ protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" });
        const group = ofType(staff, "aws:lb/targetGroup:TargetGroup").find((g) => g.inputs.port === 3000)!;
        expect(group.inputs).toMatchObject({ targetType: "instance", healthCheck: expect.objectContaining({ path: "/api/health" }) });
        expect((listener.defaultActions as { targetGroupArn: string }[])[0].targetGroupArn).toContain("sofia-edge-grafana");
        expect(one(staff, "aws:lb/targetGroupAttachment:TargetGroupAttachment").inputs).toMatchObject({ targetId: expect.stringMatching(/^i-/), port: 3000 });
        // To staffCidrs alone at the load balancer; from the load balancer alone at the store host.
        const on3000 = ofType(staff, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => r.inputs.fromPort === 3000);
        expect(on3000.map((r) => r.inputs.cidrIpv4 ?? "group").sort()).toEqual(["203.0.113.0/24", "group"]);
        expect(on3000.find((r) => !r.inputs.cidrIpv4)!.inputs.referencedSecurityGroupId).toBeDefined();
        expect(container(staff).ports).toEqual([{ internal: 3000, external: 3000, ip: "127.0.0.1" }, { internal: 3000, external: 3000, ip: privateIp }]);
        expect(container(staff).envs).toContain("GF_SECURITY_COOKIE_SECURE=true");
        expect((staff.outputs.grafana as { url: string }).url).toBe("https://sofia.company.com:3000");
        // The maintenance page is never put on the operators' listener.
        const pageListeners = installedFiles(staff).find((f) => f.path === "/etc/sofia/edge.env")!.content;
        expect(pageListeners.match(/listener\//g)).toHaveLength(2);
        expect(await evaluate(policies, staff.resources, policyConfig(settingsOf("prod", [...ECS, 'staffCidrs=["203.0.113.0/24"]'])))).toEqual([]);
    });

    it("a deploy checks the UI's theme from the store host, in a browser at each of its tasks, canaries or not: the host may read the cluster's tasks and reach the UI's port, no more", async () => {
        // Staging's clients are not the whole internet: it has no canaries.
        for (const [stack, extra] of [["prod", []], ["staging", [CERT]]] as const) {
            const plan = await planStack(stack, [...ECS, ...extra]);
            const themes = installedFiles(plan).find((f) => f.path === "/etc/sofia/themes.tsv")!.content.split("\n").filter((l) => l && !l.startsWith("#"));
            expect(themes.map((r) => r.split("\t").slice(0, 3))).toEqual([["ui", `ecs:eu-central-1/sofia-${stack}/ui`, "ghcr.io/puppeteer/puppeteer:24.10.0"]]);
            expect(JSON.parse(themes[0].split("\t")[3])[0]).toMatchObject({ base: "http://{task}:8080", confine: true });
            const verify = plan.resources.find((r) => r.name === "sofia-deploy-verify-run")!;
            expect(String(verify.inputs.create)).toMatch(/sofia-services flows --wait$/);
            const reader = plan.resources.find((r) => r.name === "sofia-theme-tasks")!;
            expect(verify.dependsOn).toContain(reader.urn);
            const statements = JSON.parse(String(reader.inputs.policy)).Statement;
            expect(statements).toEqual([
                { Sid: "ListTasks", Effect: "Allow", Action: "ecs:ListTasks", Resource: "*", Condition: { ArnEquals: { "ecs:cluster": expect.stringMatching(new RegExp(`^arn:aws:ecs:eu-central-1:\\d+:cluster/`)) } } },
                { Sid: "DescribeTasks", Effect: "Allow", Action: "ecs:DescribeTasks", Resource: expect.stringMatching(/^arn:aws:ecs:eu-central-1:\d+:task\/.+\/\*$/) },
            ]);
            const rule = plan.resources.find((r) => r.name === "sofia-tasks-in-ui-theme")!.inputs;
            // From the store host's group (the one the cache lets the store host in by).
            const storeHostSg = plan.resources.find((r) => r.name === "sofia-cache-in-store-host")!.inputs.referencedSecurityGroupId;
            expect(rule).toMatchObject({ fromPort: 8080, toPort: 8080, referencedSecurityGroupId: storeHostSg });
        }
        expect(() => taskReadPolicy("arn:aws:ecs:eu-central-1:123456789012:service/sofia-prod/ui")).toThrow(/not an ECS cluster's ARN/);
        // A release pulls the browser image on the store host before any service changes (a registry that fails stops it with nothing changed).
        const release = await planStack("prod", [...ECS, `images.api=ghcr.io/sofia-v2/api:2026.12.1@sha256:${"a".repeat(64)}`]);
        const pull = release.resources.find((r) => r.name === "sofia-deploy-pull-browser-run")!;
        expect(String(pull.inputs.create)).toMatch(/sofia-services pull-browser$/);
        // The first stage's service (each later stage waits for the one before).
        expect(ofType(release, "aws:ecs/service:Service").find((x) => x.inputs.name === "metrics")!.dependsOn).toContain(pull.urn);
        expect(release.resources.find((r) => r.name === "sofia-deploy-hold-writers")!.dependsOn).toContain(pull.urn);
    });

    it("TimescaleDB the same way: on the store host with Grafana, reached by the tasks that talk to it, every policy passing", async () => {
        const pinned = "timescale/timescaledb:2.17.2-pg16@sha256:" + "c".repeat(64);
        const overrides = [...ECS, "timeseriesStore=timescaledb", `images.timescaledb=${pinned}`];
        const plan = await planStack("prod", overrides);
        expect(ofType(plan, "docker:index/container:Container").map((c) => c.inputs.name)).toEqual(["sofia-timescaledb", "sofia-grafana"]);
        const grafana = ofType(plan, "docker:index/container:Container").find((c) => c.inputs.name === "sofia-grafana")!.inputs;
        expect(grafana.hosts).toEqual([{ host: "sofia-timescaledb", ip: "10.0.0.10" }]);
        const talkers = sofiaCatalog("timescaledb").filter((e) => e.kind === "app" && e.talksTo?.includes("timescaledb")).map((e) => e.name);
        const rules = plan.resources.filter((r) => r.name.startsWith("sofia-store-timescaledb-5432-")).map((r) => r.name.slice("sofia-store-timescaledb-5432-".length));
        expect(rules.sort()).toEqual([...talkers].sort());
        expect(await evaluate(policies, plan.resources, policyConfig(settingsOf("prod", overrides)))).toEqual([]);
    });

    it("alarms: tasks below desired per app, 5xx share, p95 per target group, cache memory per node, the store host's own; none without a publisher", async () => {
        const plan = await planStack("prod", ECS);
        const names = ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm").map((a) => String(a.inputs.name));
        for (const app of ["metrics", "crypto-ws", "api", "ui"]) expect(names).toContain(`sofia-prod-tasks-${app}`);
        // stale-ratio: the CloudWatch agent beside the metrics server scrapes it (scrape.ts).
        for (const id of ["http-5xx", "api-response-p95", "ui-response-p95", "cache-memory-1", "cache-memory-2", "backup-age", "health-questdb", "disk-data", "ec2-system-check", "stale-ratio", "backup-age-redis"]) expect(names).toContain(`sofia-prod-${id}`);
        // The host's Redis is not there (ElastiCache's own alarm watches its memory); the cache's backups are.
        // Nor the front proxy, whose error lines would never come. Grafana runs on the store host: its health and errors.
        for (const id of ["health-api", "redis-memory", "errors-proxy", "health-proxy"]) expect(names).not.toContain(`sofia-prod-${id}`);
        for (const id of ["health-grafana", "errors-grafana"]) expect(names).toContain(`sofia-prod-${id}`);
        // Every error-line alarm reads a metric some filter of a log group writes.
        const filtered = new Set(ofType(plan, "aws:cloudwatch/logMetricFilter:LogMetricFilter").map((f) => (f.inputs.metricTransformation as { name: string }).name));
        const errorAlarms = ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm").filter((a) => String(a.inputs.name).startsWith("sofia-prod-errors-"));
        expect(errorAlarms.length).toBeGreaterThan(8);
        for (const a of errorAlarms) expect(filtered, String(a.inputs.name)).toContain(a.inputs.metricName);
        // The canaries, as on the host: through the load balancer by the clients' name, their alarms with them.
        expect(ofType(plan, "aws:synthetics/canary:Canary").map((c) => c.inputs.name).sort()).toEqual(["sofia-prod-api", "sofia-prod-ui"]);
        expect(names.filter((n) => n.startsWith("sofia-prod-synthetic"))).not.toEqual([]);
        // The 5xx share reads the clients' target groups (the operators' Grafana behind the same load balancer counts in neither part), and the load balancer's own 5xx.
        const share = (p: typeof plan) => ofType(p, "aws:cloudwatch/metricAlarm:MetricAlarm").find((x) => x.inputs.name === "sofia-prod-http-5xx")!.inputs.metricQueries as { id: string; expression?: string; metric?: { metricName: string; dimensions: Record<string, string> } }[];
        const groupsOf = (p: typeof plan) => share(p).filter((q) => q.metric?.dimensions.TargetGroup).map((q) => q.metric!.dimensions.TargetGroup);
        expect(share(plan).map((q) => q.id)).toEqual(["requests_api", "target_api", "requests_ui", "target_ui", "elb", expect.any(String)]);
        expect(share(plan).find((q) => q.expression)!.expression).toBe("IF((FILL(requests_api, 0) + FILL(requests_ui, 0)) > 0, 100 * (FILL(target_api, 0) + FILL(target_ui, 0) + FILL(elb, 0)) / (FILL(requests_api, 0) + FILL(requests_ui, 0)), 0)");
        const staff = await planStack("prod", [...ECS, 'staffCidrs=["203.0.113.0/24"]']);
        expect(groupsOf(staff)).toEqual(groupsOf(plan));
        expect(groupsOf(plan).every((g) => /sofia-edge-(api|ui)/.test(g))).toBe(true);
        // A singleton held at none alarms too: "1 - running", not "desired - running".
        const tasks = (id: string) => ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm").find((a) => a.inputs.name === `sofia-prod-${id}`)!.inputs.metricQueries as { expression?: string }[];
        expect(tasks("tasks-ts-writer").find((q) => q.expression)!.expression).toBe("1 - FILL(running, 0)");
        expect(tasks("tasks-api").find((q) => q.expression)!.expression).toBe("desired - running");
        const metrics = JSON.parse(String(ofType(plan, "aws:ecs/taskDefinition:TaskDefinition").find((t) => t.inputs.family === "metrics")!.inputs.containerDefinitions));
        expect(metrics.map((c: { name: string }) => c.name)).toEqual(["metrics", "cloudwatch-agent"]);
        const agent = JSON.parse(metrics[1].environment.find((e: { name: string }) => e.name === "CW_CONFIG_CONTENT").value);
        expect(agent.logs.metrics_collected.prometheus).toMatchObject({ prometheus_config_path: "env:PROMETHEUS_CONFIG_CONTENT", log_group_name: "/sofia/prod/prometheus" });
    });

    for (const [stack, extra] of [["prod", []], ["staging", [CERT]]] as const) {
        it(`${stack}: every policy passes on the ECS plan (0 violations)`, async () => {
            const plan = await planStack(stack, [...ECS, ...extra]);
            expect(await evaluate(policies, plan.resources, policyConfig(settingsOf(stack, [...ECS, ...extra])))).toEqual([]);
        });
    }
});

describe("topology ecs: tasks from the catalog", () => {
    const catalog = sofiaCatalog("questdb");
    const s = settingsOf("prod", ECS);
    const endpoints = { redis: { host: "master.cache", tls: true }, questdb: { host: "10.0.0.10", tls: false } };
    it("secrets arrive from Secrets Manager, never as plain env; stores by their endpoints", () => {
        const api = catalog.find((e) => e.name === "api")!;
        const env = ecsEnv(catalog, api, s, endpoints);
        expect(env).toMatchObject({ REDIS_HOST: "master.cache", REDIS_TLS: "true", QUESTDB_HOST: "10.0.0.10" });
        expect(Object.keys(env).filter((k) => /PASSWORD/.test(k))).toEqual([]);
        expect(secretEnvOf(catalog, api)).toEqual([
            { store: "redis", env: "REDIS_PASSWORD" },
            { store: "questdb", env: "QUESTDB_PASSWORD" },
        ]);
        const def = containerDefinition(api, { settings: s, env, secrets: [{ name: "REDIS_PASSWORD", valueFrom: "arn:secret" }], logGroup: "/sofia/prod/api" });
        expect(def).toMatchObject({ readonlyRootFilesystem: true, privileged: false, secrets: [{ name: "REDIS_PASSWORD", valueFrom: "arn:secret" }], stopTimeout: 20 });
        expect(JSON.stringify(def.environment)).not.toContain("arn:secret");
        // Fargate's 120 s cap on a grace the catalog sets longer.
        expect(containerDefinition({ ...api, stopGraceSeconds: 600 }, { settings: s, env, secrets: [], logGroup: "g" }).stopTimeout).toBe(120);
    });

    it("ElastiCache's windows follow the schedules that name one hour, else AWS picks", () => {
        expect(hourWindow("cron(0 1 * * ? *)")).toEqual({ daily: "01:00-02:00" });
        expect(hourWindow("cron(30 23 ? * SAT *)")).toEqual({ daily: "23:30-00:30", weekly: "sat:23:30-sun:00:30" });
        expect(hourWindow("rate(15 minutes)")).toBeUndefined();
        expect(hourWindow("cron(0 1-3 * * ? *)")).toBeUndefined();
    });
});

describe("topology ecs: settings", () => {
    const refused = (overrides: string[]) => {
        try {
            settingsOf("staging", overrides);
        } catch (e) {
            if (e instanceof SettingsError) return e.problems.join("\n");
            throw e;
        }
        return "";
    };
    it("TLS only: a certificate ARN or a domain ACM issues one for", () => {
        expect(refused([...ECS, "proxy={}"])).toContain("sofia:ecs.certificateArn: missing; topology ecs serves clients over TLS only");
        expect(refused([...ECS, "proxy={}", CERT])).toBe("");
    });
    it("refuses what ElastiCache cannot keep, naming the key", () => {
        expect(refused([...ECS, CERT, "backup.retentionDays=60"])).toContain("sofia:backup.retentionDays: 60 is not allowed with topology ecs");
        expect(refused([...ECS, CERT, "restore.from=latest"])).toBe("");
        expect(refused([...ECS, CERT, "ecs.minTasks=5", "ecs.maxTasks=3"])).toContain("sofia:ecs.minTasks");
        expect(refused([...ECS, CERT, "ecs.subnetIds=[\"subnet-0abc12345def67890\"]"])).toContain("two zones");
    });
    it("subnets in one zone, or away from the store host's VPC, are refused before anything is declared", async () => {
        const two = "ecs.subnetIds=[\"subnet-0abc12345def67890\",\"subnet-0abc12345def67891\"]";
        await expect(planStack("staging", [...ECS, CERT, two])).rejects.toThrow(/all in eu-central-1a; the load balancer and ElastiCache's failover need subnets in two zones/);
    });
});

describe("ECS policies can fail", () => {
    let n = 0;
    const res = (type: string, inputs: Record<string, unknown>): PlannedResource => ({ urn: `urn:pulumi:t::sofia::${type}::e${++n}`, type, name: `e${n}`, dependsOn: [], options: {}, inputs, custom: true });
    const check = async (r: PlannedResource[]) => (await evaluate(ecsPolicies, r)).map((v) => `${v.policy}: ${v.message}`).join("\n");
    const service = (inputs: Record<string, unknown>) => res("aws:ecs/service:Service", { waitForSteadyState: true, deploymentCircuitBreaker: { enable: true, rollback: true }, desiredCount: 1, deploymentMaximumPercent: 100, deploymentMinimumHealthyPercent: 0, ...inputs });

    it("a singleton that could run twice, a deployment without its breaker", async () => {
        expect(await check([service({})])).toBe("");
        expect(await check([service({ deploymentMaximumPercent: 200 })])).toContain("two tasks would double ticks and alerts");
        expect(await check([service({ deploymentCircuitBreaker: { enable: true, rollback: false } })])).toContain("circuit breaker");
        expect(await check([service({ desiredCount: 3, loadBalancers: [{}] })])).toBe("");
    });
    it("privileged or writable containers, secrets in env", async () => {
        const task = (c: object) => res("aws:ecs/taskDefinition:TaskDefinition", { containerDefinitions: JSON.stringify([{ name: "c", readonlyRootFilesystem: true, ...c }]) });
        expect(await check([task({})])).toBe("");
        expect(await check([task({ privileged: true })])).toContain("container c is privileged");
        expect(await check([task({ readonlyRootFilesystem: false })])).toContain("writable root");
        expect(await check([task({ environment: [{ name: "REDIS_PASSWORD", value: "hunter2" }] })])).toContain("env REDIS_PASSWORD holds a value in plain text");
    });
    it("plain or old-TLS listeners; an unencrypted cache", async () => {
        const listener = (inputs: object) => res("aws:lb/listener:Listener", { port: 443, ...inputs });
        expect(await check([listener({ protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" })])).toBe("");
        expect(await check([listener({ protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-2016-08" })])).toContain("use a TLS13-1-2 policy");
        expect(await check([listener({ protocol: "HTTP", defaultActions: [{ type: "forward" }] })])).toContain("in the clear");
        expect(await check([listener({ protocol: "HTTP", defaultActions: [{ type: "redirect", redirect: { protocol: "HTTPS" } }] })])).toBe("");
        const good = { atRestEncryptionEnabled: true, transitEncryptionEnabled: true, transitEncryptionMode: "required", authToken: "x", automaticFailoverEnabled: true, multiAzEnabled: true, numCacheClusters: 2 };
        expect(await check([res("aws:elasticache/replicationGroup:ReplicationGroup", good)])).toBe("");
        expect(await check([res("aws:elasticache/replicationGroup:ReplicationGroup", { ...good, authToken: undefined, transitEncryptionMode: "preferred" })])).toMatch(/no AUTH token[\s\S]*not required|not required[\s\S]*no AUTH token/);
    });
    it("a task role granting a wildcard", async () => {
        const role = res("aws:iam/role:Role", { assumeRolePolicy: JSON.stringify({ Statement: [{ Principal: { Service: "ecs-tasks.amazonaws.com" } }] }) });
        const policy = (st: object) => res("aws:iam/rolePolicy:RolePolicy", { role: `${role.name}-id`, policy: JSON.stringify({ Statement: [{ Effect: "Allow", ...st }] }) });
        expect(await check([role, policy({ Action: "secretsmanager:GetSecretValue", Resource: ["arn:aws:secretsmanager:x"] })])).toBe("");
        expect(await check([role, policy({ Action: "s3:*", Resource: ["arn:aws:s3:::b"] })])).toContain("grants s3:*");
        expect(await check([role, policy({ Action: "logs:PutLogEvents", Resource: "*" })])).toContain("on every resource");
    });
});
