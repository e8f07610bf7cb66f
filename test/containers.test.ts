import { networkMembers, networksOf } from "../topology/host/networks";
import { beforeAll, describe, expect, it } from "vitest";
import type { Plan, PlannedResource } from "../plan/offline";
import { OFFLINE_PRIVATE_IP } from "../plan/mocks";
import { startGraph } from "../plan/start-graph";
import { sofiaCatalog } from "../model/catalog";
import { installedFiles, ofType, one, planStack } from "./helpers/plan";

const CONTAINER = "docker:index/container:Container";
const catalog = sofiaCatalog("questdb");

function container(plan: Plan, name: string): PlannedResource {
    const found = ofType(plan, CONTAINER).find((c) => c.inputs.name === `sofia-${name}`);
    if (!found) throw new Error(`no container sofia-${name}`);
    return found;
}

function env(c: PlannedResource): Record<string, string> {
    return Object.fromEntries((c.inputs.envs as string[]).map((kv) => kv.split(/=(.*)/s, 2) as [string, string]));
}

describe("containers in the staging plan", () => {
    let plan: Plan;
    beforeAll(async () => {
        plan = await planStack("staging");
    });

    it("has one container per catalog entry", () => {
        expect(ofType(plan, CONTAINER).map((c) => c.inputs.name).sort()).toEqual(catalog.map((e) => `sofia-${e.name}`).sort());
    });

    it("creates each container only after the containers it starts after (health-gated: wait for healthy)", () => {
        for (const e of catalog) {
            const c = container(plan, e.name);
            const after = c.dependsOn.map((u) => plan.resources.find((r) => r.urn === u)!).filter((r) => r.type === CONTAINER).map((r) => r.inputs.name).sort();
            expect(after, e.name).toEqual(e.startsAfter.map((d) => `sofia-${d}`).sort());
            expect(c.inputs.wait, e.name).toBe(true);
            expect(c.inputs.waitTimeout as number, e.name).toBeGreaterThan(e.check.startPeriodSeconds);
        }
        expect(startGraph(plan).stages).toEqual([["sofia-proxy", "sofia-questdb", "sofia-redis"], ["sofia-grafana", "sofia-metrics"], ["sofia-crypto-ws", "sofia-equities"], ["sofia-ts-writer"], ["sofia-news", "sofia-whale-alerts"], ["sofia-api"], ["sofia-ui"]]);
    });

    it("gives every container a health check, restart policy, log rotation, memory limit, private network, no privilege", () => {
        for (const e of catalog) {
            const i = container(plan, e.name).inputs as any;
            expect(i.healthcheck.tests.length, e.name).toBeGreaterThan(1);
            expect(i.healthcheck.startPeriod, e.name).toBe(`${e.check.startPeriodSeconds}s`);
            expect(i.restart, e.name).toBe("on-failure");
            // Shipped to the service's log group; `docker logs` reads a rotated local cache.
            expect(i.logDriver, e.name).toBe("awslogs");
            expect(i.logOpts, e.name).toEqual({
                "awslogs-region": "eu-central-1", "awslogs-group": `/sofia/staging/${e.name}`, "awslogs-stream": `sofia-${e.name}`,
                mode: "non-blocking", "max-buffer-size": "4m", "cache-max-size": "50m", "cache-max-file": "5",
            });
            expect(i.memory, e.name).toBe(e.memoryMb);
            expect(i.memorySwap, e.name).toBe(e.memoryMb);
            expect(i.networksAdvanced.map((n: any) => n.name), e.name).toEqual(networksOf(catalog, e.name));
            expect(i.privileged, e.name).toBe(false);
            expect(i.networkMode, e.name).toBeUndefined();
            expect(i.stopTimeout, e.name).toBe(e.stopGraceSeconds);
            expect(i.destroyGraceSeconds, e.name).toBe(e.stopGraceSeconds);
        }
    });

    it("replaces fixed-name containers by deleting first, and replaces on a health-check change", () => {
        for (const c of ofType(plan, CONTAINER)) {
            expect(c.options.deleteBeforeReplace, c.name).toBe(true);
            expect(c.options.replaceOnChanges, c.name).toEqual(["healthcheck"]);
        }
    });

    it("binds every service to loopback, lets only the front proxy take the API, UI and Grafana ports for clients, and keeps ILP private", () => {
        const published = ofType(plan, CONTAINER).flatMap((c) => (c.inputs.ports as any[]).map((p) => `${c.inputs.name}:${p.internal}@${p.ip}`)).sort();
        // The proxy binds the host's private address (clients reach it through the security
        // group); the API and UI keep the same ports on loopback for the host's own checks.
        expect(published).toEqual([
            "sofia-api:8013@127.0.0.1",
            "sofia-grafana:3000@127.0.0.1",
            "sofia-metrics:8000@127.0.0.1",
            `sofia-proxy:3000@${OFFLINE_PRIVATE_IP}`,
            `sofia-proxy:8013@${OFFLINE_PRIVATE_IP}`,
            `sofia-proxy:8080@${OFFLINE_PRIVATE_IP}`,
            // The ACME challenge (staging's certificate comes from Let's Encrypt).
            `sofia-proxy:80@${OFFLINE_PRIVATE_IP}`,
            "sofia-questdb:8812@127.0.0.1",
            "sofia-questdb:9000@127.0.0.1",
            "sofia-questdb:9003@127.0.0.1",
            "sofia-redis:6379@127.0.0.1",
            "sofia-ui:8080@127.0.0.1",
        ]);
    });

    it("puts each container on the networks of what it talks to and its own: the proxy reaches the API, UI and Grafana, never a store", () => {
        const joined = (name: string) => (container(plan, name).inputs.networksAdvanced as { name: string }[]).map((n) => n.name);
        expect(joined("proxy")).toEqual(["sofia-net-api", "sofia-net-grafana", "sofia-net-ui"]);
        expect(joined("grafana")).toEqual(["sofia-net-grafana", "sofia-net-questdb"]);
        expect(joined("redis")).toEqual(["sofia-net-redis"]);
        expect(joined("crypto-ws")).toEqual(["sofia-net-redis"]);
        expect(joined("api")).toEqual(["sofia-net-api", "sofia-net-questdb", "sofia-net-redis"]);
        expect(networkMembers(catalog)).toEqual({
            "sofia-net-redis": ["redis", "metrics", "crypto-ws", "equities", "ts-writer", "news", "whale-alerts", "api"],
            "sofia-net-questdb": ["questdb", "metrics", "ts-writer", "whale-alerts", "api", "grafana"],
            "sofia-net-api": ["api", "ui", "proxy"],
            "sofia-net-ui": ["ui", "proxy"],
            "sofia-net-grafana": ["grafana", "proxy"],
        });
        expect(ofType(plan, "docker:index/network:Network").map((n) => n.inputs.name).sort()).toEqual(Object.keys(networkMembers(catalog)).sort());
        // Only what it talks to: an ingestor gets Redis' address and password, not QuestDB's.
        expect(Object.keys(env(container(plan, "crypto-ws"))).filter((k) => k.startsWith("QUESTDB_"))).toEqual([]);
        expect(env(container(plan, "ts-writer"))).toMatchObject({ QUESTDB_HOST: "sofia-questdb", QUESTDB_USER: "sofia", QUESTDB_PASSWORD_FILE: "/run/secrets/questdb-password" });
    });

    it("refuses a catalog entry that talks to nothing there, or sits on no network", () => {
        const lonely = catalog.map((e) => (e.name === "news" ? { ...e, talksTo: [] } : e));
        expect(() => networksOf(lonely, "news")).toThrow(/news talks to nothing and nothing talks to it/);
        const typo = catalog.map((e) => (e.name === "news" ? { ...e, talksTo: ["rediss"] } : e));
        expect(() => networkMembers(typo)).toThrow(/news talks to rediss, which is not another entry/);
    });

    it("passes secrets only as masked files, never in env or in plain text anywhere in the plan", () => {
        expect(JSON.stringify(plan)).not.toMatch(/offline-[0-9a-f]{24}/); // the doubles' generated passwords
        for (const e of catalog) {
            const c = container(plan, e.name);
            for (const [k, v] of Object.entries(env(c))) expect(`${k}=${v}`).not.toMatch(/PASSWORD=|SECRET=|TOKEN=/);
            // Every store, and every app that talks to one, gets a password file: its upload list is secret as a whole.
            if (e.kind === "store" || (e.talksTo ?? []).some((t) => catalog.find((x) => x.name === t)?.kind === "store")) expect(c.inputs.uploads, e.name).toBe("[secret]");
        }
        // The UI talks to the API alone: no password at all.
        expect(container(plan, "ui").inputs.uploads).toEqual([]);
        // The proxy gets no password: its configuration stays readable for review.
        expect((container(plan, "proxy").inputs.uploads as { file: string }[]).map((u) => u.file).sort()).toEqual(["/etc/nginx/nginx.conf", "/etc/nginx/sofia/503.html", "/etc/nginx/sofia/503.json"]);
        expect(env(container(plan, "api")).REDIS_PASSWORD_FILE).toBe("/run/secrets/redis-password");
        expect(env(container(plan, "api")).QUESTDB_PASSWORD_FILE).toBe("/run/secrets/questdb-password");
    });

    it("tunes Redis as the runbook says, with AOF everysec on its volume and no tcp-nodelay", () => {
        const redis = container(plan, "redis").inputs as any;
        const args = (redis.command as string[]).join(" ");
        expect(redis.command.slice(0, 2)).toEqual(["redis-server", "/run/secrets/redis-auth.conf"]);
        for (const opt of ["--dir /data", "--appendonly yes", "--appendfsync everysec", "--maxmemory 1536mb", "--maxmemory-policy volatile-lru", "--activedefrag yes", "--tcp-keepalive 60"]) {
            expect(args).toContain(opt);
        }
        expect(args).not.toMatch(/nodelay|requirepass/);
        expect(redis.volumes).toEqual([{ volumeName: "sofia-redis-data", containerPath: "/data" }]);
        expect(redis.healthcheck.tests.join(" ")).toContain('REDISCLI_AUTH="$(cat /run/secrets/redis-password)"');
    });

    it("follows the Redis settings", async () => {
        const tuned = await planStack("staging", ["redis.maxmemoryMb=1024", "redis.maxmemoryPolicy=noeviction"]);
        const args = (container(tuned, "redis").inputs.command as string[]).join(" ");
        expect(args).toContain("--maxmemory 1024mb --maxmemory-policy noeviction");
    });

    it("keeps store data on retained volumes, and pins the store images", () => {
        for (const v of ofType(plan, "docker:index/volume:Volume")) expect(v.options.retainOnDelete, v.name).toBe(true);
        const images = ofType(plan, "docker:index/remoteImage:RemoteImage").map((i) => i.inputs.name as string);
        expect(images).toContain("questdb/questdb:9.3.5@sha256:22ad030544f45a396c743124c928ce33de11666c104f63f69ce4e66e07e7b968");
        expect(images).toContain("redis:7.4.2@sha256:fbdbaea47b9ae4ecc2082ecdb4e1cea81e32176ffb1dcf643d422ad07427e5d9");
    });

    it("gives apps the connection env derived from the catalog and the runbook's API defaults", () => {
        expect(env(container(plan, "api"))).toMatchObject({
            WORKERS: "4", REDIS_POOL_SIZE: "20", DB_POOL_SIZE: "10", API_CACHE_TTL: "5",
            TIMESERIES_STORE: "questdb", REDIS_HOST: "sofia-redis", REDIS_REDIS_PORT: "6379", QUESTDB_HOST: "sofia-questdb", QUESTDB_PG_WIRE_PORT: "8812", QUESTDB_ILP_PORT: "9009",
        });
    });

    it("applies the store tuning once every container is up and the host files are installed, again when the retention changes", async () => {
        const tune = (p: Plan) => ofType(p, "command:local:Command").find((c) => c.name === "sofia-tune-run")!;
        expect(tune(plan).inputs.create).toMatch(/\/usr\/local\/sbin\/sofia-services tune$/);
        const after = tune(plan).dependsOn.map((u) => u.split("::").pop());
        for (const e of catalog) expect(after).toContain(`sofia-services-${e.name}-container`);
        for (const part of ["services", "backups", "monitoring", "maintenance"]) expect(after).toContain(`sofia-host-files-${part}-association`);
        expect(JSON.stringify(tune(plan).inputs.triggers)).toContain("dateadd('d', -30, now())");
        const shorter = await planStack("staging", ["questdb.retentionDays=14"]);
        expect(JSON.stringify(tune(shorter).inputs.triggers)).toContain("dateadd('d', -14, now())");
    });

    it("installs the ordered boot and the watchdog on the host, and waits for them", () => {
        const doc = JSON.parse(ofType(plan, "aws:ssm/document:Document").find((d) => d.name === "sofia-host-files-services-document")!.inputs.content as string);
        const script = doc.mainSteps[0].inputs.runCommand[0] as string;
        expect(installedFiles(plan).map((f) => f.path)).toEqual(expect.arrayContaining(["/etc/sofia/services.tsv", "/usr/local/sbin/sofia-services", "/etc/systemd/system/sofia-boot.service", "/etc/systemd/system/sofia-watchdog.timer"]));
        expect(installedFiles(plan).find((f) => f.path === "/usr/local/sbin/sofia-services")!.mode).toBe("0755");
        expect(script).toContain("systemctl enable sofia-boot.service");
        const install = ofType(plan, "aws:ssm/association:Association").find((a) => a.name === "sofia-host-files-services-association")!;
        expect(install.inputs.waitForSuccessTimeoutSeconds).toBe(600);
        // Not before cloud-init has installed what the follow-up commands call (the CloudWatch agent).
        expect(install.dependsOn).toEqual([ofType(plan, "command:local:Command").find((c) => c.name === "sofia-host-ready-run")!.urn]);
    });

    it("reaches Docker only once the host is ready (cloud-init done) and this update's deploy key is in place", () => {
        const provider = one(plan, "pulumi:providers:docker");
        const ready = ofType(plan, "command:local:Command").find((c) => c.name === "sofia-host-ready-run")!;
        const key = ofType(plan, "command:local:Command").find((c) => c.name === "sofia-host-deploy-key-ready-run")!;
        expect(ready.inputs.create).toMatch(/cloud-init status --wait$/);
        expect(key.inputs.create).toMatch(/test -s \/home\/sofia-deploy\/\.ssh\/authorized_keys$/);
        expect(provider.dependsOn).toEqual([ready.urn, key.urn]);
    });
});

describe("settings that change containers", () => {
    it("equityPrimary: yahoo (the runbook's forced fallback) changes the equities container and nothing else", async () => {
        const before = await planStack("staging");
        const after = await planStack("staging", ["equityPrimary=yahoo"]);
        const inputs = (p: Plan) => new Map(p.resources.map((r) => [r.urn, JSON.stringify(r.inputs)]));
        const [a, b] = [inputs(before), inputs(after)];
        const changed = [...a.keys()].filter((urn) => a.get(urn) !== b.get(urn)).map((urn) => urn.split("::").pop());
        expect(changed).toEqual(["sofia-services-equities-container"]);
        expect(env(container(after, "equities")).EQUITY_PRIMARY).toBe("yahoo");
        expect(env(container(before, "equities")).EQUITY_PRIMARY).toBeUndefined();
    });

    it("serviceEnv overrides a runbook default for one service", async () => {
        const plan = await planStack("staging", ["serviceEnv={api: {WORKERS: '8'}}"]);
        expect(env(container(plan, "api")).WORKERS).toBe("8");
        expect(env(container(plan, "metrics")).WORKERS).toBeUndefined();
    });

    it("timeseriesStore: timescaledb swaps the store and what waits for it", async () => {
        const plan = await planStack("staging", ["timeseriesStore=timescaledb"]);
        expect(ofType(plan, CONTAINER).map((c) => c.inputs.name)).not.toContain("sofia-questdb");
        expect(env(container(plan, "timescaledb")).POSTGRES_PASSWORD_FILE).toBe("/run/secrets/timescaledb-password");
        expect(startGraph(plan).stages[0]).toEqual(["sofia-proxy", "sofia-redis", "sofia-timescaledb"]);
        expect(startGraph(plan).stages[1]).toEqual(["sofia-grafana", "sofia-metrics"]);
        expect(env(container(plan, "api")).TIMESERIES_STORE).toBe("timescaledb");
    });

    it("refuses a Redis maxmemory that leaves no room to fork for snapshots", async () => {
        await expect(planStack("staging", ["redis.maxmemoryMb=2000"])).rejects.toThrow(/sofia:redis\.maxmemoryMb: 2000 is not allowed: must be at most 1536/);
    });

    it("refuses a secret-looking name in plain serviceEnv", async () => {
        await expect(planStack("staging", ["serviceEnv={api: {API_TOKEN: x}}"])).rejects.toThrow(/sofia:serviceEnv\.api\.API_TOKEN: "API_TOKEN" is not allowed: looks like a secret/);
    });
});
