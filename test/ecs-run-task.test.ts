/**
 * scripts/ecs-run-task.sh, the ECS topology's migration runner, against a TEST DOUBLE of the aws
 * CLI (drill/doubles/ecs/aws): moto never stops a Fargate task, nor gives it an exit code.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { runAsync } from "../drill/run";

const ROOT = path.join(__dirname, "..");
const SCRIPT = path.join(ROOT, "scripts", "ecs-run-task.sh");
const DOUBLE = path.join(ROOT, "drill", "doubles", "ecs");
const ARGS = ["eu-central-1", "sofia-prod", "arn:aws:ecs:eu-central-1:123456789012:task-definition/api:7", "api", '["python","-m","src.db.migrate"]'];

function env(extra: Record<string, string> = {}) {
    const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ecs-run-")), "aws.log");
    return { log, env: { ...process.env, PATH: `${DOUBLE}:${process.env.PATH}`, AWS_LOG: log, ECS_RUN_SUBNETS: "subnet-a,subnet-b", ECS_RUN_SECURITY_GROUP: "sg-1", ECS_RUN_PUBLIC_IP: "ENABLED", ECS_RUN_POLL: "1", ...extra } };
}

describe("scripts/ecs-run-task.sh", () => {
    it("runs the task with the command as its override and the network given, and exits 0 when its container does", async () => {
        const { log, env: e } = env();
        const r = await runAsync("bash", [SCRIPT, ...ARGS], e);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("ecs-run-task: api: done (exit 0)");
        const calls = fs.readFileSync(log, "utf8");
        expect(calls).toContain('--overrides {"containerOverrides":[{"name":"api","command":["python","-m","src.db.migrate"]}]}');
        expect(calls).toContain('{"awsvpcConfiguration":{"subnets":["subnet-a","subnet-b"],"securityGroups":["sg-1"],"assignPublicIp":"ENABLED"}}');
    });

    it("fails the update with the container's exit code and where its output is, then what to do now", async () => {
        const { env: e } = env({ ECS_DOUBLE_EXIT: "3", ECS_RUN_ON_FAILURE: "The writers are held at no task: ./scripts/ecs-scale.sh eu-central-1 sofia-prod 1 ts-writer" });
        const r = await runAsync("bash", [SCRIPT, ...ARGS], e);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("api exited 3 (Essential container in task exited); its output is in its log group, stream prefix api");
        expect(r.stderr.trimEnd().endsWith("The writers are held at no task: ./scripts/ecs-scale.sh eu-central-1 sofia-prod 1 ts-writer")).toBe(true);
    });

    it("fails when ECS starts nothing, naming why", async () => {
        const { env: e } = env({ ECS_DOUBLE_NO_TASK: "1" });
        const r = await runAsync("bash", [SCRIPT, ...ARGS], e);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain('ECS started no task: [{"reason":"RESOURCE:MEMORY"}]');
    });

    it("stops the task when it times out, and when it is killed: a retry never runs a second migration beside the first", async () => {
        const timed = env({ ECS_DOUBLE_STATUS: "RUNNING", ECS_RUN_TIMEOUT: "1" });
        const r = await runAsync("bash", [SCRIPT, ...ARGS], timed.env);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("api still RUNNING after 1s: stopped it");
        expect(fs.readFileSync(timed.log, "utf8")).toMatch(/ecs stop-task --region eu-central-1 --cluster sofia-prod --task arn:aws:ecs:\S+\/double --reason ecs-run-task: timed out after 1s/);

        const killed = env({ ECS_DOUBLE_STATUS: "RUNNING" });
        const child = spawn("bash", [SCRIPT, ...ARGS], { env: killed.env });
        await new Promise((res) => setTimeout(res, 1500));
        child.kill("SIGTERM");
        const status = await new Promise((res) => child.on("close", res));
        expect(status).toBe(143);
        expect(fs.readFileSync(killed.log, "utf8")).toContain("ecs stop-task --region eu-central-1 --cluster sofia-prod --task arn:aws:ecs:eu-central-1:123456789012:task/sofia/double --reason ecs-run-task: terminated");
    });

    it("waits for a task an earlier (killed) run started before it runs its own: never two migrations at once", async () => {
        const { log, env: e } = env({ ECS_DOUBLE_EARLIER: "arn:aws:ecs:eu-central-1:123456789012:task/sofia/earlier", ECS_DOUBLE_EARLIER_POLLS: "2" });
        const r = await runAsync("bash", [SCRIPT, ...ARGS], e);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("a task an earlier run started still runs (arn:aws:ecs:eu-central-1:123456789012:task/sofia/earlier); waiting for it to end");
        const calls = fs.readFileSync(log, "utf8").split("\n");
        expect(calls.findIndex((l) => l.startsWith("ecs run-task"))).toBeGreaterThan(calls.map((l) => l.includes("task/sofia/earlier")).lastIndexOf(true));
        expect(calls.find((l) => l.startsWith("ecs list-tasks"))).toBe("ecs list-tasks --region eu-central-1 --cluster sofia-prod --started-by pulumi-deploy --output json");
        // A task of another family (another service's one-off) is not waited for.
        const other = env({ ECS_DOUBLE_EARLIER: "arn:aws:ecs:eu-central-1:123456789012:task/sofia/other", ECS_DOUBLE_EARLIER_POLLS: "99", ECS_DOUBLE_EARLIER_FAMILY: "metrics" });
        const r2 = await runAsync("bash", [SCRIPT, ...ARGS], other.env);
        expect(r2.status).toBe(0);
        expect(r2.stdout).not.toContain("still runs");
    });

    it("rides out a failed look at its task, and stops the task when it cannot look any more", async () => {
        const once = env({ ECS_DOUBLE_DESCRIBE_FAILS: "1" });
        expect((await runAsync("bash", [SCRIPT, ...ARGS], once.env)).status).toBe(0);
        const never = env({ ECS_DOUBLE_DESCRIBE_FAILS: "99", ECS_RUN_POLL: "0" });
        const r = await runAsync("bash", [SCRIPT, ...ARGS], never.env);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("could not describe arn:aws:ecs:eu-central-1:123456789012:task/sofia/double (5 tries)");
        expect(fs.readFileSync(never.log, "utf8")).toContain("ecs stop-task --region eu-central-1 --cluster sofia-prod --task arn:aws:ecs:eu-central-1:123456789012:task/sofia/double --reason ecs-run-task: ended early");
    });

    it("refuses a command that is not a JSON list of strings, and bad settings, before calling AWS", async () => {
        const { log, env: e } = env({ ECS_RUN_TIMEOUT: "soon" });
        const r = await runAsync("bash", [SCRIPT, ...ARGS], e);
        expect(r.stderr).toContain("ECS_RUN_TIMEOUT must be a number of seconds, not 'soon'");
        const bad = await runAsync("bash", [SCRIPT, ...ARGS.slice(0, 4), "python -m migrate"], env().env);
        expect(bad.stderr).toContain("the command must be a JSON array of strings");
        expect(fs.existsSync(log)).toBe(false);
    });
});

describe("scripts/ecs-rollout-check.sh", () => {
    const CHECK = path.join(ROOT, "scripts", "ecs-rollout-check.sh");
    const want = (n: string, rev = 7) => `${n}=arn:aws:ecs:eu-central-1:123456789012:task-definition/${n}:${rev}`;
    const services = ["metrics", "crypto-ws", "equities", "ts-writer", "news", "whale-alerts", "api", "ui", "x1", "x2", "x3"];

    it("passes when every service's primary deployment runs the declared task definition, completed (ten per call)", async () => {
        const { log, env: e } = env();
        const r = await runAsync("bash", [CHECK, "eu-central-1", "sofia-prod", ...services.map((n) => want(n))], e);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("every service runs what this update declared");
        expect(fs.readFileSync(log, "utf8").split("\n").filter((l) => l.startsWith("ecs describe-services"))).toHaveLength(2);
    });

    it("fails, naming the service, the events and what to do, when the circuit breaker rolled it back", async () => {
        const { env: e } = env({ ECS_DOUBLE_ROLLED_BACK: "ui" });
        const r = await runAsync("bash", [CHECK, "eu-central-1", "sofia-prod", want("api"), want("ui")], e);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("ui runs ui:6 (COMPLETED), not ui:7: ECS deployment circuit breaker: rolled back to the last completed deployment");
        expect(r.stderr).toContain("(service ui) rolling back to deployment ecs-svc/1");
        expect(r.stderr).toContain("not running what this update declared: ui");
        expect(r.stderr).toContain("pulumi refresh");
        expect((await runAsync("bash", [CHECK, "eu-central-1", "sofia-prod", "ui=latest"], e)).stderr).toContain("'ui=latest' is not <service>=<task definition ARN>");
    });
});

describe("scripts/ecs-scale.sh", () => {
    const SCALE = path.join(ROOT, "scripts", "ecs-scale.sh");

    it("sets the count of the services that exist and waits until they are steady; passes over those not created yet", async () => {
        const { log, env: e } = env({ ECS_DOUBLE_SERVICES: "crypto-ws ts-writer" });
        const r = await runAsync("bash", [SCALE, "eu-central-1", "sofia-prod", "0", "crypto-ws", "ts-writer", "news"], e);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        const calls = fs.readFileSync(log, "utf8").split("\n");
        expect(calls.filter((l) => l.startsWith("ecs update-service"))).toEqual([
            "ecs update-service --region eu-central-1 --cluster sofia-prod --service crypto-ws --desired-count 0 --output json",
            "ecs update-service --region eu-central-1 --cluster sofia-prod --service ts-writer --desired-count 0 --output json",
        ]);
        expect(calls).toContain("ecs wait services-stable --region eu-central-1 --cluster sofia-prod --services crypto-ws ts-writer");
        const none = await runAsync("bash", [SCALE, "eu-central-1", "sofia-prod", "1", "news"], env({ ECS_DOUBLE_SERVICES: "other" }).env);
        expect(none.stdout).toContain("none of news exists yet: nothing to do");
        expect((await runAsync("bash", [SCALE, "eu-central-1", "sofia-prod", "-1", "news"], e)).stderr).toContain("'-1' is not a task count");
        const looping = await runAsync("bash", [SCALE, "eu-central-1", "sofia-prod", "1", "ts-writer"], env({ ECS_DOUBLE_SERVICES: "ts-writer", ECS_DOUBLE_UNSTABLE: "1" }).env);
        expect(looping.status).toBe(1);
        expect(looping.stderr).toContain("ts-writer: (service ts-writer) has started 1 tasks: (task 1). Essential container in task exited");
        expect(looping.stderr).toContain("ts-writer did not become steady at 1 task(s)");
        const first = await runAsync("bash", [SCALE, "eu-central-1", "sofia-prod", "0", "news"], env({ ECS_DOUBLE_NO_CLUSTER: "1" }).env);
        expect(first.status).toBe(0);
        expect(first.stdout).toContain("cluster sofia-prod does not exist yet: nothing to do");
    });

    it("record prints each service's task definition; --roll-back puts an unsteady one back on exactly that, and the run still fails, saying so", async () => {
        const rec = await runAsync("bash", [SCALE, "eu-central-1", "sofia-prod", "record", "crypto-ws", "ts-writer", "news"], env({ ECS_DOUBLE_SERVICES: "crypto-ws ts-writer" }).env);
        expect(rec.status, rec.stderr).toBe(0);
        const td = "arn:aws:ecs:eu-central-1:123456789012:task-definition";
        expect(rec.stdout.trim().split("\n")).toEqual([`crypto-ws=${td}/crypto-ws:8`, `ts-writer=${td}/ts-writer:8`]);
        // The update then moved them to :8's successor, which crash-loops; :7 was recorded before it (the double runs :8 now).
        const recorded = `crypto-ws=${td}/crypto-ws:7\nts-writer=${td}/ts-writer:7`;
        const { log, env: e } = env({ ECS_DOUBLE_SERVICES: "crypto-ws ts-writer", ECS_DOUBLE_UNSTABLE: "1", ECS_SCALE_ROLL_BACK_TO: recorded });
        const r = await runAsync("bash", [SCALE, "--roll-back", "eu-central-1", "sofia-prod", "1", "crypto-ws", "ts-writer"], e);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("ecs-scale: ts-writer: rolling back from ts-writer:8 to ts-writer:7");
        expect(r.stderr).toContain("crypto-ws ts-writer did not become steady on their new task definitions (the events above) and run their earlier ones again, steady");
        expect(fs.readFileSync(log, "utf8").split("\n")).toContain(`ecs update-service --region eu-central-1 --cluster sofia-prod --service ts-writer --task-definition ${td}/ts-writer:7 --output json`);
        // Still not steady after the roll-back: says so.
        const worse = await runAsync("bash", [SCALE, "--roll-back", "eu-central-1", "sofia-prod", "1", "ts-writer"], env({ ECS_DOUBLE_SERVICES: "ts-writer", ECS_DOUBLE_UNSTABLE: "1", ECS_DOUBLE_ROLLBACK_UNSTABLE: "1", ECS_SCALE_ROLL_BACK_TO: recorded }).env);
        expect(worse.status).toBe(1);
        expect(worse.stderr).toContain("ts-writer did not become steady on their new task definitions, nor after a roll-back to the earlier ones");
        // The recorded revision deregistered since: named, not replaced by a guess.
        const gone = await runAsync("bash", [SCALE, "--roll-back", "eu-central-1", "sofia-prod", "1", "ts-writer"], env({ ECS_DOUBLE_SERVICES: "ts-writer", ECS_DOUBLE_UNSTABLE: "1", ECS_DOUBLE_TD_INACTIVE: "1", ECS_SCALE_ROLL_BACK_TO: recorded }).env);
        expect(gone.status).toBe(1);
        expect(gone.stderr).toContain("ts-writer: could not roll it back to ts-writer:7 (deregistered since? ECS runs no inactive revision anew)");
        expect(gone.stderr).toContain("ts-writer did not become steady at 1 task(s)");
        // Nothing recorded, or the same revision (no new one this update): fails as before, naming why.
        const same = await runAsync("bash", [SCALE, "--roll-back", "eu-central-1", "sofia-prod", "1", "ts-writer"], env({ ECS_DOUBLE_SERVICES: "ts-writer", ECS_DOUBLE_UNSTABLE: "1", ECS_SCALE_ROLL_BACK_TO: `ts-writer=${td}/ts-writer:8` }).env);
        expect(same.status).toBe(1);
        expect(same.stderr).toContain("ts-writer: no earlier task definition recorded for it before this update (it runs ts-writer:8)");
        // Without --roll-back, nothing is rolled back.
        const plain = env({ ECS_DOUBLE_SERVICES: "ts-writer", ECS_DOUBLE_UNSTABLE: "1", ECS_SCALE_ROLL_BACK_TO: recorded });
        expect((await runAsync("bash", [SCALE, "eu-central-1", "sofia-prod", "1", "ts-writer"], plain.env)).status).toBe(1);
        expect(fs.readFileSync(plain.log, "utf8")).not.toContain("--task-definition");
    });

    it("restart: replaces the tasks of the services that exist (a rolling deployment) and waits until they are steady, or fails with ECS' events", async () => {
        const { log, env: e } = env({ ECS_DOUBLE_SERVICES: "api ui" });
        const r = await runAsync("bash", [SCALE, "eu-central-1", "sofia-prod", "restart", "api", "ui"], e);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("ecs-scale: api ui steady on new tasks");
        const calls = fs.readFileSync(log, "utf8").split("\n");
        expect(calls.filter((l) => l.startsWith("ecs update-service"))).toEqual([
            "ecs update-service --region eu-central-1 --cluster sofia-prod --service api --force-new-deployment --output json",
            "ecs update-service --region eu-central-1 --cluster sofia-prod --service ui --force-new-deployment --output json",
        ]);
        const stuck = await runAsync("bash", [SCALE, "eu-central-1", "sofia-prod", "restart", "api"], env({ ECS_DOUBLE_SERVICES: "api", ECS_DOUBLE_UNSTABLE: "1" }).env);
        expect(stuck.status).toBe(1);
        expect(stuck.stderr).toContain("api did not become steady after the restart");
        expect((await runAsync("bash", [SCALE, "eu-central-1", "sofia-prod", "reboot", "api"], e)).stderr).toContain("'reboot' is not a task count (or restart, record)");
    });
});

describe("scripts/canary-wait.sh", () => {
    const WAIT = path.join(ROOT, "scripts", "canary-wait.sh");

    it("waits for each canary's first run after it starts (a run from before says nothing) and passes when every one passed", async () => {
        const { log, env: e } = env({ CANARY_WAIT_POLL: "0" });
        const r = await runAsync("bash", [WAIT, "eu-central-1", "sofia-prod-ui", "sofia-prod-api"], e);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("canary-wait: sofia-prod-ui passed");
        expect(r.stdout).toContain("canary-wait: every canary passed after the rollout");
        // RUNNING at the first look: looked at again.
        expect(fs.readFileSync(log, "utf8").split("\n").filter((l) => l.includes("--name sofia-prod-ui "))).toHaveLength(2);
    });

    it("fails the deploy naming the canary and its reason; and when no run comes within the time given", async () => {
        const failed = await runAsync("bash", [WAIT, "eu-central-1", "sofia-prod-ui", "sofia-prod-api"], env({ CANARY_WAIT_POLL: "0", ECS_DOUBLE_CANARY_FAILS: "sofia-prod-ui" }).env);
        expect(failed.status).toBe(1);
        expect(failed.stderr).toContain("canary-wait: sofia-prod-ui FAILED: theme marker body.sofia-dark missing");
        expect(failed.stderr).toContain("sofia-prod-ui failed on the release");
        expect(failed.stdout).toContain("canary-wait: sofia-prod-api passed");
        const none = await runAsync("bash", [WAIT, "eu-central-1", "sofia-prod-ui"], env({ CANARY_WAIT_POLL: "1", CANARY_WAIT_TIMEOUT: "2", ECS_DOUBLE_CANARY_NONE: "1" }).env);
        expect(none.status).toBe(1);
        expect(none.stderr).toContain("no run of sofia-prod-ui finished within 2s of the rollout");
        expect((await runAsync("bash", [WAIT, "eu-central-1", "Bad Name"], env().env)).stderr).toContain("'Bad Name' is not a canary name");
        // The aws CLI v1 prints Synthetics' times as epoch numbers: read as times all the same.
        const v1 = await runAsync("bash", [WAIT, "eu-central-1", "sofia-prod-ui"], env({ CANARY_WAIT_POLL: "0", ECS_DOUBLE_CANARY_EPOCH: "1", ECS_DOUBLE_CANARY_FAILS: "sofia-prod-ui" }).env);
        expect(v1.status).toBe(1);
        expect(v1.stderr).toContain("canary-wait: sofia-prod-ui FAILED: theme marker body.sofia-dark missing");
        // No permission will not come by waiting: said at once.
        const asked = Date.now();
        const denied = await runAsync("bash", [WAIT, "eu-central-1", "sofia-prod-ui"], env({ CANARY_WAIT_POLL: "1", CANARY_WAIT_TIMEOUT: "60", ECS_DOUBLE_CANARY_DENIED: "1" }).env);
        expect(denied.status).toBe(1);
        expect(denied.stderr).toContain("could not read sofia-prod-ui's runs, and will not be able to: An error occurred (AccessDeniedException)");
        expect(Date.now() - asked).toBeLessThan(30_000);
    });
});

describe("scripts/ecs-cache-snapshot.sh", () => {
    const SNAP = path.join(ROOT, "scripts", "ecs-cache-snapshot.sh");
    const args = ["eu-central-1", "sofia-cache-group-abc", "sofia-prod-predeploy-1a2b3c", "30"];

    it("takes the snapshot, waits until it is available, then deletes the same prefix's older than the days kept", async () => {
        const { log, env: e } = env({ ECS_DOUBLE_SNAPSHOT: "None creating creating available", CACHE_SNAPSHOT_POLL: "0" });
        const r = await runAsync("bash", [SNAP, ...args], e);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("snapshot sofia-prod-predeploy-1a2b3c is available");
        const calls = fs.readFileSync(log, "utf8");
        expect(calls).toContain("elasticache create-snapshot --region eu-central-1 --replication-group-id sofia-cache-group-abc --snapshot-name sofia-prod-predeploy-1a2b3c");
        expect(calls.match(/delete-snapshot .*--snapshot-name (\S+)/g)).toEqual(["delete-snapshot --region eu-central-1 --snapshot-name sofia-prod-predeploy-old"]);
    });

    it("waits for a snapshot a retried update already took, and fails naming a failed one", async () => {
        const again = env({ ECS_DOUBLE_SNAPSHOT: "creating available", CACHE_SNAPSHOT_POLL: "0" });
        expect((await runAsync("bash", [SNAP, ...args], again.env)).status).toBe(0);
        expect(fs.readFileSync(again.log, "utf8")).not.toContain("create-snapshot");
        const failed = await runAsync("bash", [SNAP, ...args], env({ ECS_DOUBLE_SNAPSHOT: "creating failed", CACHE_SNAPSHOT_POLL: "0" }).env);
        expect(failed.status).toBe(1);
        expect(failed.stderr).toContain("snapshot sofia-prod-predeploy-1a2b3c of sofia-cache-group-abc failed");
        // ElastiCache's quota (20 manual snapshots per node in 24 hours): named, with ElastiCache's words.
        const quota = await runAsync("bash", [SNAP, ...args], env({ ECS_DOUBLE_SNAPSHOT_QUOTA: "1", CACHE_SNAPSHOT_POLL: "0" }).env);
        expect(quota.status).toBe(1);
        expect(quota.stderr).toContain("quota of manual snapshots is used up (at most 20 per node in any 24 hours");
        expect(quota.stderr).toContain("SnapshotQuotaExceededFault");
    });
});
