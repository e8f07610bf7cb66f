/**
 * The drill's world, all on this machine: a real redis-server and the real moto_server (S3,
 * CloudWatch), the QuestDB HTTP double, the docker CLI double, and the host scripts' generated
 * configuration pointing at them. Everything lives in one temporary directory.
 */
import { spawn, spawnSync } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { backupEnv, backupItems } from "../topology/host/backups";
import { releaseServiceNames, sofiaCatalog } from "../model/catalog";
import { contractsTable, flowsTable, servicesTable, sofiaHostLayout } from "../topology/host/services-files";
import { probeEnv } from "../topology/host/monitoring";
import { metricsNamespace, STACK_DIMENSION } from "../model/metrics";
import { QUESTDB_USER, questdbServerConf, redisCommand } from "../topology/host/store-config";
import { settingsSchema } from "../model/settings-schema";
import { QuestDbDouble, startQuestDbDouble } from "./doubles/questdb-http";
import { freePort, Moto, startMoto } from "./moto";
import { FaultProxy, startFaultProxy } from "./proxy";
import { mountPointOf } from "./run";
import { HOST_CONFIG_DIR, hostEnv, volumeHostPath } from "../topology/host/layout";
import { releaseOf } from "../release/deploy";

export const DRILL_STACK = "drill";

/** Where a backup's objects are (host/sofia-backup-lib.sh: <stack>/<kind>/<id>/; Redis-only ids end in -redis). */
export function backupPrefix(id: string): string {
    return `${DRILL_STACK}/${id.endsWith("-redis") ? "redis" : "full"}/${id}/`;
}
export const DRILL_BUCKET = "sofia-drill-backups";
const REGION = "eu-central-1";
const REDIS_PASSWORD = "drill-redis-password";
/** QuestDB's (the double's) password, in its server.conf as the stack writes it. */
const QUESTDB_PASSWORD = "drillQuestdbPassword42";
/** The settings' defaults (Redis tuning and the like), as a stack without overrides gets them. */
const settingsForDrill = settingsSchema.parse({
    sshPublicKey: "ssh-ed25519 AAAA drill",
    images: Object.fromEntries(releaseServiceNames.map((n) => [n, `ghcr.io/sofia-v2/${n}:drill`])),
    registry: { address: "ghcr.io", username: "drill" },
});

export interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
    seconds: number;
}

export class DrillEnv {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "sofia-drill-"));
    readonly dataPath = path.join(this.dir, "data");
    /** Where sofia-maintenance raises a deploy's maintenance page (the proxy's flag file). */
    readonly pageFlag = path.join(this.dir, "var", "maintenance-page", "on");
    readonly configDir = path.join(this.dir, "etc-sofia");
    readonly state = path.join(this.dir, "docker-state");
    redisPort = 0;
    /** The drill Redis' password (a drill's, never a real one): peers that call redis-cli themselves need it. */
    readonly redisPassword = REDIS_PASSWORD;
    restorePort = 0;
    moto!: Moto;
    proxy!: FaultProxy;
    questdb!: QuestDbDouble;
    /** Answers 200 to every request: the services' /health, which are doubles here. */
    private health!: http.Server;
    private healthUrl = "";

    /** A set-up that fails stops whatever it had started (moto, the proxies, redis) before it throws. */
    static async start(): Promise<DrillEnv> {
        const env = new DrillEnv();
        try {
            await env.setUp();
        } catch (e) {
            await env.close().catch(() => undefined);
            throw e;
        }
        return env;
    }

    private async setUp(): Promise<void> {
        this.moto = await startMoto(REGION);
        this.proxy = await startFaultProxy(this.moto.endpoint);
        this.questdb = await startQuestDbDouble();
        // Every service's /health, and what the images are assumed to serve (the catalog's contracts).
        const served = new Map(sofiaCatalog("questdb").flatMap((e) => (e.serves ?? []).map((c) => [c.path, c.lines.join("\n") + "\n"] as const)));
        this.health = http.createServer((q, res) => res.end(served.get(q.url ?? "") ?? "ok"));
        await new Promise<void>((r) => this.health.listen(0, "127.0.0.1", r));
        this.healthUrl = `http://127.0.0.1:${(this.health.address() as net.AddressInfo).port}`;
        this.redisPort = await freePort();
        this.restorePort = await freePort();
        this.writeConfig();
        await this.startRedis();
        const made = this.aws(["s3api", "create-bucket", "--bucket", DRILL_BUCKET, "--create-bucket-configuration", `LocationConstraint=${REGION}`]);
        if (made.status !== 0) throw new Error(`drill: could not create the bucket in moto: ${made.stderr}`);
    }

    /** Where "sofia-redis" keeps its data: its volume's directory, as on the host. */
    get redisDir(): string {
        return volumeHostPath(this.dataPath, "redis-data");
    }

    /**
     * Starts "sofia-redis": a real redis-server with production's arguments, on its volume
     * directory, through the docker double (so the host scripts stop and start it the same way).
     */
    async startRedis(): Promise<void> {
        const r = spawnSync(path.join(projectRoot(), "drill", "doubles", "docker"), ["start", "sofia-redis"], { env: this.scriptEnv(), encoding: "utf8" });
        if (r.status !== 0) throw new Error(`drill: redis-server did not start (${r.stderr.trim()}); is it installed? node scripts/prereqs.js --install`);
        for (let i = 0; i < 100; i++) {
            if (this.redisCli(["PING"]).stdout.trim() === "PONG") return;
            await new Promise((res) => setTimeout(res, 50));
        }
        throw new Error(`drill: redis-server did not answer on ${this.redisPort}`);
    }

    async stopRedis(): Promise<void> {
        spawnSync(path.join(projectRoot(), "drill", "doubles", "docker"), ["stop", "-t", "10", "sofia-redis"], { env: this.scriptEnv() });
    }

    /** The servers a host script's work runs in besides its own processes: moto_server and "sofia-redis". */
    serverPids(): number[] {
        const redis = Number(fs.readFileSync(path.join(this.state, "sofia-redis.pid"), "utf8").trim());
        return [this.moto.pid, redis];
    }

    /** DEBUG DIGEST: one hash of the whole dataset, to compare two states of Redis. */
    digest(): string {
        return this.redisCli(["DEBUG", "DIGEST"]).stdout.trim();
    }

    redisCli(args: string[], input?: string) {
        return spawnSync("redis-cli", ["-p", String(this.redisPort), "--no-auth-warning", "-a", REDIS_PASSWORD, ...args], { encoding: "utf8", input, maxBuffer: 1 << 30 });
    }

    /**
     * Loads about `mib` MiB of incompressible string values (random bytes, base64), so the RDB is
     * as large as the dataset. Returns the key count.
     */
    loadRandomMiB(mib: number): number {
        const valueBytes = 4096;
        return this.pipe(Math.ceil((mib * 1024 * 1024) / valueBytes), 4096, (i) => ["SET", `tick:${i}`, randomBytes((valueBytes * 3) / 4).toString("base64")]);
    }

    /** Loads `count` keys of several types; values are `valueBytes` long. Returns the key count. */
    loadRedis(count: number, valueBytes = 64): number {
        return this.pipe(count, 20_000, (i) => {
            const v = `v${i}-`.padEnd(valueBytes, "x");
            switch (i % 4) {
                case 0: return ["SET", `quote:${i}`, v];
                case 1: return ["HSET", `position:${i}`, "qty", String(i), "note", v];
                case 2: return ["RPUSH", `trades:${i}`, v, v.slice(0, 8)];
                default: return ["ZADD", `book:${i}`, String(i), v];
            }
        });
    }

    /** Sends `count` commands through redis-cli --pipe, `chunk` at a time; returns DBSIZE after. */
    private pipe(count: number, chunk: number, command: (i: number) => string[]): number {
        for (let start = 0; start < count; start += chunk) {
            const lines: string[] = [];
            for (let i = start; i < Math.min(count, start + chunk); i++) lines.push(resp(command(i)));
            const r = this.redisCli(["--pipe"], lines.join(""));
            if (r.status !== 0) throw new Error(`drill: loading Redis failed: ${r.stderr}`);
        }
        return Number(this.redisCli(["DBSIZE"]).stdout.trim());
    }

    /** The host files the stack would install, pointed at this machine. */
    private writeConfig(): void {
        const catalog = sofiaCatalog("questdb");
        fs.mkdirSync(this.configDir, { recursive: true });
        const items = backupItems(catalog, this.dataPath)
            .replace("127.0.0.1:6379", `127.0.0.1:${this.redisPort}`)
            .replace("http://127.0.0.1:9000", this.questdb.url)
            .replace(`\t${HOST_CONFIG_DIR}\t`, `\t${this.configDir}\t`);
        fs.writeFileSync(path.join(this.configDir, "backup.tsv"), items);
        // Redis tools run from PATH here: REDIS_IMAGE is empty.
        fs.writeFileSync(path.join(this.configDir, "backup.env"), backupEnv({ bucket: DRILL_BUCKET, prefix: DRILL_STACK, region: REGION, stack: DRILL_STACK, kms: false, redisImage: "", redisScheduled: true }));
        fs.writeFileSync(path.join(this.configDir, "release.json"), JSON.stringify(releaseOf(catalog, settingsForDrill.images)));
        // What the volumes hold on a host: a QuestDB root, models, UI extensions.
        const qdb = volumeHostPath(this.dataPath, "questdb-data");
        fs.mkdirSync(path.join(qdb, "db", "ticks", "2026-11-29"), { recursive: true });
        fs.writeFileSync(path.join(qdb, "db", "ticks", "2026-11-29", "price.d"), Buffer.alloc(256 * 1024, 7));
        fs.writeFileSync(path.join(qdb, "db", "ticks", "_meta"), "ticks meta");
        // Its credentials: the host scripts read them from here, and the double takes nothing else.
        fs.mkdirSync(path.join(qdb, "conf"), { recursive: true });
        fs.writeFileSync(path.join(qdb, "conf", "server.conf"), questdbServerConf(QUESTDB_PASSWORD), { mode: 0o600 });
        this.questdb.auth = `${QUESTDB_USER}:${QUESTDB_PASSWORD}`;
        fs.mkdirSync(volumeHostPath(this.dataPath, "models"), { recursive: true });
        fs.writeFileSync(path.join(volumeHostPath(this.dataPath, "models"), "sentiment.onnx"), Buffer.alloc(128 * 1024, 3));
        fs.mkdirSync(volumeHostPath(this.dataPath, "ui-extensions"), { recursive: true });
        fs.writeFileSync(path.join(volumeHostPath(this.dataPath, "ui-extensions"), "theme.json"), '{"theme":"sofia-dark"}');
        fs.writeFileSync(path.join(this.configDir, "probe.env"), probeEnv(DRILL_STACK));
        // The host's layout, as the stack writes it, with the data volume and the lock here.
        fs.writeFileSync(path.join(this.configDir, "host.env"), hostEnv({ ...sofiaHostLayout(this.dataPath), SOFIA_DATA_MOUNT: mountPointOf(this.dir), SOFIA_OPS_LOCK: path.join(this.dir, "ops.lock"), SOFIA_STATE_DIR: path.join(this.dir, "var") }));
        // The catalog's services for sofia-services, their /health served here.
        fs.writeFileSync(path.join(this.configDir, "services.tsv"), servicesTable(catalog).replace(/http:\/\/127\.0\.0\.1:\d+/g, this.healthUrl));
        fs.writeFileSync(path.join(this.configDir, "contracts.tsv"), contractsTable(catalog).replace(/http:\/\/127\.0\.0\.1:\d+/g, this.healthUrl));
        // What verify checks is arriving: the double counts rows newer than a minute in ticks.
        fs.writeFileSync(path.join(this.configDir, "flows.tsv"), flowsTable(catalog, { timeseriesStore: "questdb" }).replaceAll("http://127.0.0.1:9000", this.questdb.url));
        // No UI page is served here: the theme check's browser runs in test/host-services.test.ts
        // (a browser in every verification would double the campaign's time).
        fs.writeFileSync(path.join(this.configDir, "themes.tsv"), "# service\tnetwork\timage\tchecks\n");
        // The docker double: every container runs and is healthy; sofia-redis is a real process.
        fs.mkdirSync(this.state, { recursive: true });
        for (const e of catalog) {
            fs.writeFileSync(path.join(this.state, `sofia-${e.name}.running`), "true\n");
            fs.writeFileSync(path.join(this.state, `sofia-${e.name}.health`), "healthy\n");
        }
        fs.writeFileSync(path.join(this.state, "sofia-redis.secret"), REDIS_PASSWORD);
        fs.writeFileSync(path.join(this.state, "sofia-redis.port"), String(this.redisPort));
        // Production's own arguments (minus the secret config file), so the drill runs the real tuning;
        // minus activedefrag too: Debian's redis-server lacks the patched jemalloc it needs (the
        // official image has it). DEBUG is the drill's instrument for comparing datasets.
        fs.mkdirSync(this.redisDir, { recursive: true });
        const [server, , ...production] = redisCommand(settingsForDrill.redis, this.redisDir);
        const at = production.indexOf("--activedefrag");
        const options = at < 0 ? production : [...production.slice(0, at), ...production.slice(at + 2)];
        const args = [...options, "--port", String(this.redisPort), "--bind", "127.0.0.1", "--requirepass", REDIS_PASSWORD, "--save", "''", "--enable-debug-command", "local"];
        // The container's own health check: PING answers LOADING until the dataset is loaded.
        const check = sofiaCatalog("questdb").find((e) => e.name === "redis")!.check.test.slice(1).join(" ");
        fs.writeFileSync(path.join(this.state, "sofia-redis.check"), `REDISCLI_AUTH=${REDIS_PASSWORD} ${check.replace("redis-cli", `redis-cli -p ${this.redisPort}`)}\n`);
        fs.writeFileSync(path.join(this.state, "sofia-redis.start"), `exec ${server} ${args.join(" ")} --daemonize yes --pidfile ${path.join(this.state, "sofia-redis.pid")}\n`);
    }

    /**
     * Runs `fn` with the models volume where the ECS topology has it: on a file system of its own
     * (tmpfs here, EFS on the store host), in backup.tsv as the ECS stack lists it (restored in
     * place, every file given to `owner`). The host's own list is back afterwards.
     */
    async withSharedModels<T>(owner: string, fn: (models: string, shared: string) => Promise<T>): Promise<T> {
        const shared = fs.mkdtempSync("/dev/shm/sofia-drill-efs-");
        const models = path.join(shared, "models");
        const items = path.join(this.configDir, "backup.tsv");
        const hostItems = fs.readFileSync(items, "utf8");
        try {
            fs.mkdirSync(models, { mode: 0o750 });
            fs.writeFileSync(items, hostItems.replace(/^models\t.*$/m, ["models", "files", models, "-", models, owner].join("\t")));
            return await fn(models, shared);
        } finally {
            fs.writeFileSync(items, hostItems);
            fs.rmSync(shared, { recursive: true, force: true });
        }
    }

    /** Environment for host scripts: the doubles first on PATH, the config here, AWS through the proxy. */
    scriptEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
        return {
            ...process.env,
            ...this.moto.env,
            AWS_ENDPOINT_URL: this.proxy.endpoint,
            PATH: `${path.join(projectRoot(), "drill", "doubles")}:${process.env.PATH}`,
            DOCKER_LOG: path.join(this.dir, "docker.log"),
            DOCKER_STATE: this.state,
            SOFIA_BACKUP_ENV: path.join(this.configDir, "backup.env"),
            SOFIA_BACKUP_ITEMS: path.join(this.configDir, "backup.tsv"),
            SOFIA_RELEASE: path.join(this.configDir, "release.json"),
            SOFIA_HOST_ENV: path.join(this.configDir, "host.env"),
            SOFIA_OPS_LIB: path.join(projectRoot(), "host", "sofia-ops.sh"),
            SOFIA_BACKUP_LIB: path.join(projectRoot(), "host", "sofia-backup-lib.sh"),
            SOFIA_SERVICES: path.join(projectRoot(), "host", "sofia-services.sh"),
            SOFIA_CATALOG: path.join(this.configDir, "services.tsv"),
            SOFIA_CONTRACTS: path.join(this.configDir, "contracts.tsv"),
            SOFIA_FLOWS: path.join(this.configDir, "flows.tsv"),
            SOFIA_THEMES: path.join(this.configDir, "themes.tsv"),
            SOFIA_PROBE_ENV: path.join(this.configDir, "probe.env"),
            SOFIA_PAGE_FLAG: this.pageFlag,
            SOFIA_MAINTENANCE_BIN: path.join(projectRoot(), "host", "sofia-maintenance.sh"),
            SOFIA_POLL_SECONDS: "1",
            SOFIA_RESTORE_REDIS_PORT: String(this.restorePort),
            ...extra,
        };
    }

    /** Runs a host script (host/<name>.sh) the way SSM would, asynchronously. */
    runHost(script: string, args: string[], extra: Record<string, string> = {}): Promise<Run> {
        const started = Date.now();
        const child = spawn("bash", [path.join(projectRoot(), "host", `${script}.sh`), ...args], { env: this.scriptEnv(extra) });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr, seconds: (Date.now() - started) / 1000 })));
    }

    /** The aws CLI straight at moto (not through the proxy), for checking results. */
    aws(args: string[]) {
        return spawnSync("aws", args, { env: { ...process.env, ...this.moto.env }, encoding: "utf8", maxBuffer: 1 << 30 });
    }

    keys(prefix: string): string[] {
        const r = this.aws(["s3api", "list-objects-v2", "--bucket", DRILL_BUCKET, "--prefix", prefix, "--query", "Contents[].Key", "--output", "json"]);
        return (JSON.parse(r.stdout || "null") ?? []) as string[];
    }

    getObject(key: string): Buffer {
        const file = path.join(this.dir, `get-${Date.now()}-${Math.random()}`);
        const r = this.aws(["s3api", "get-object", "--bucket", DRILL_BUCKET, "--key", key, file]);
        if (r.status !== 0) throw new Error(`drill: get ${key}: ${r.stderr}`);
        const body = fs.readFileSync(file);
        fs.rmSync(file);
        return body;
    }

    putObject(key: string, body: Buffer): void {
        const file = path.join(this.dir, `put-${Date.now()}-${Math.random()}`);
        fs.writeFileSync(file, body);
        const r = this.aws(["s3api", "put-object", "--bucket", DRILL_BUCKET, "--key", key, "--body", file]);
        fs.rmSync(file);
        if (r.status !== 0) throw new Error(`drill: put ${key}: ${r.stderr}`);
    }

    /**
     * Writes many small objects straight into moto (one boto3 client, not one aws CLI run per
     * object): the drill's way to fill the bucket with thousands of backups' index entries.
     */
    bulkPut(keys: string[]): void {
        const script = "import boto3, sys\ns3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name=sys.argv[2])\nfor key in sys.stdin.read().split():\n    s3.put_object(Bucket=sys.argv[3], Key=key, Body=b'{}')\n";
        const r = spawnSync("python3", ["-c", script, this.moto.endpoint, REGION, DRILL_BUCKET], { env: { ...process.env, ...this.moto.env }, input: keys.join("\n"), encoding: "utf8" });
        if (r.status !== 0) throw new Error(`drill: could not write ${keys.length} objects into moto (python3 with boto3, which moto brings): ${r.stderr}`);
    }

    /** True once nothing accepts connections on the loopback port (waits up to 3 s for a server to go). */
    async portIsFree(port: number): Promise<boolean> {
        const refused = () =>
            new Promise<boolean>((resolve) => {
                const socket = net.connect(port, "127.0.0.1");
                socket.once("connect", () => (socket.destroy(), resolve(false)));
                socket.once("error", () => resolve(true));
            });
        for (let i = 0; i < 30; i++) {
            if (await refused()) return true;
            await new Promise((r) => setTimeout(r, 100));
        }
        return false;
    }

    /**
     * Rewrites a complete backup as if it had been stored so: `edit` changes the manifest (and may
     * replace objects, by name); sizes and SHA-256s of replaced objects and the COMPLETE marker's
     * manifest digest are brought in line, so only what `edit` changed differs.
     */
    rewriteBackup(id: string, edit: (manifest: any) => Record<string, Buffer>): void {
        const base = backupPrefix(id).replace(/\/$/, "");
        const manifest = JSON.parse(this.getObject(`${base}/manifest.json`).toString("utf8"));
        const replaced = edit(manifest);
        for (const [name, body] of Object.entries(replaced)) {
            const entry = manifest.files.find((f: { path: string }) => f.path === name);
            entry.size = body.length;
            entry.sha256 = createHash("sha256").update(body).digest("hex");
            this.putObject(`${base}/${name}`, body);
        }
        const text = JSON.stringify(manifest);
        const complete = JSON.parse(this.getObject(`${base}/COMPLETE`).toString("utf8"));
        complete.manifest_sha256 = createHash("sha256").update(text).digest("hex");
        this.putObject(`${base}/manifest.json`, Buffer.from(text));
        this.putObject(`${base}/COMPLETE`, Buffer.from(JSON.stringify(complete)));
    }

    /** Values of one of Sofia's metrics published to moto's CloudWatch in the last hour (with these dimensions besides the stack). */
    metricValues(name: string, dimensions: Record<string, string> = {}): number[] {
        const now = new Date();
        const r = this.aws([
            "cloudwatch", "get-metric-statistics", "--namespace", metricsNamespace(DRILL_STACK), "--metric-name", name,
            "--dimensions", `Name=${STACK_DIMENSION},Value=${DRILL_STACK}`, ...Object.entries(dimensions).map(([k, v]) => `Name=${k},Value=${v}`), "--statistics", "Minimum", "Maximum", "SampleCount",
            "--start-time", new Date(now.getTime() - 3600_000).toISOString(), "--end-time", new Date(now.getTime() + 60_000).toISOString(), "--period", "60",
        ]);
        const points = (JSON.parse(r.stdout || "{}").Datapoints ?? []) as { Minimum: number; Maximum: number }[];
        return points.flatMap((p) => [p.Minimum, p.Maximum]);
    }

    /** Stops what was started; safe after a set-up that stopped half-way (fields not yet set). */
    async close(): Promise<void> {
        if (this.redisPort) await this.stopRedis();
        if (this.health) await new Promise<void>((r) => this.health.close(() => r()));
        await this.proxy?.close();
        await this.questdb?.close();
        await this.moto?.stop();
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/** One Redis command in the wire protocol, for redis-cli --pipe. */
function resp(args: string[]): string {
    return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("");
}
