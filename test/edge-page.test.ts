/**
 * The ECS topology's maintenance page: host/sofia-maintenance.sh puts it up and takes it down as
 * rules on the load balancer's listeners, against moto_server's ELB (a TEST DOUBLE of AWS, as in
 * the drills), with the stack's own edge.env and answers (topology/ecs/edge.ts).
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DrillEnv } from "../drill/env";
import { edgeHostFiles, FIXED_RESPONSE_MAX_CHARS, PAGE_RULE_PRIORITY, pageRulePolicy } from "../topology/ecs/edge";
import { EDGE_PAGES_DIR } from "../topology/host/layout";

const REGION = "eu-central-1";
const resolve = (v: pulumi.Input<string>) => new Promise<string>((r) => pulumi.output(v).apply((x) => r(x)));

describe("the maintenance page on ECS: rules on the load balancer's listeners, in step with the flag", () => {
    let env: DrillEnv;
    let listeners: string[];
    let extra: Record<string, string>;
    const ok = (r: ReturnType<DrillEnv["aws"]>) => {
        expect(r.status, r.stderr).toBe(0);
        return JSON.parse(r.stdout || "{}");
    };
    const rules = (listener: string) =>
        (ok(env.aws(["elbv2", "describe-rules", "--region", REGION, "--listener-arn", listener, "--output", "json"])).Rules as { Priority: string; Actions: { FixedResponseConfig?: { StatusCode: string; ContentType: string; MessageBody: string } }[] }[]).filter((r) => r.Priority !== "default");

    beforeAll(async () => {
        env = await DrillEnv.start();
        const vpc = ok(env.aws(["ec2", "create-vpc", "--region", REGION, "--cidr-block", "10.9.0.0/16"])).Vpc.VpcId;
        const subnets = ["a", "b"].map((z, i) => ok(env.aws(["ec2", "create-subnet", "--region", REGION, "--vpc-id", vpc, "--cidr-block", `10.9.${i}.0/24`, "--availability-zone", `${REGION}${z}`])).Subnet.SubnetId);
        const lb = ok(env.aws(["elbv2", "create-load-balancer", "--region", REGION, "--name", "sofia-drill", "--subnets", ...subnets])).LoadBalancers[0].LoadBalancerArn;
        const tg = ok(env.aws(["elbv2", "create-target-group", "--region", REGION, "--name", "sofia-drill-ui", "--protocol", "HTTP", "--port", "8080", "--vpc-id", vpc, "--target-type", "ip"])).TargetGroups[0].TargetGroupArn;
        listeners = [8013, 8080].map((port) => ok(env.aws(["elbv2", "create-listener", "--region", REGION, "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", String(port), "--default-actions", `Type=forward,TargetGroupArn=${tg}`])).Listeners[0].ListenerArn);
        // The stack's own files, pointed at this machine.
        const part = edgeHostFiles({ region: REGION, deploy: { retryAfterSeconds: 120 } } as never, listeners);
        const dir = path.join(env.dir, "edge");
        fs.mkdirSync(dir, { recursive: true });
        for (const f of part.files.filter((f) => f.path !== "/etc/sofia/host.env")) {
            const content = (await resolve(f.content as pulumi.Input<string>)).replaceAll(EDGE_PAGES_DIR, dir);
            fs.writeFileSync(path.join(dir, path.basename(f.path)), content);
        }
        extra = { SOFIA_EDGE_CONFIG: path.join(dir, "edge.env") };
    }, 120_000);
    afterAll(() => env?.close());

    it("page on: each listener answers 503 with the proxy's own answers, HTML for a browser, JSON for the rest; page off takes them down", async () => {
        const on = await env.runHost("sofia-maintenance", ["page", "on", "30", "restore"], extra);
        expect(on.status, on.stderr).toBe(0);
        for (const l of listeners) {
            const r = rules(l);
            expect(r.map((x) => x.Priority).sort()).toEqual([String(PAGE_RULE_PRIORITY), String(PAGE_RULE_PRIORITY + 1)]);
            const html = r.find((x) => x.Priority === String(PAGE_RULE_PRIORITY))!.Actions[0].FixedResponseConfig!;
            expect([html.StatusCode, html.ContentType]).toEqual(["503", "text/html"]);
            expect(html.MessageBody).toContain("Sofia is being updated");
            const json = r.find((x) => x.Priority === String(PAGE_RULE_PRIORITY + 1))!.Actions[0].FixedResponseConfig!;
            expect(JSON.parse(json.MessageBody)).toMatchObject({ status: "maintenance", retryAfterSeconds: 120 });
        }
        // Run again (a retried update): no second rule.
        expect((await env.runHost("sofia-maintenance", ["page", "on", "30", "restore"], extra)).status).toBe(0);
        expect(rules(listeners[0])).toHaveLength(2);
        const off = await env.runHost("sofia-maintenance", ["page", "off", "restore"], extra);
        expect(off.status, off.stderr).toBe(0);
        for (const l of listeners) expect(rules(l)).toEqual([]);
    }, 60_000);

    it("lapses with the flag: an owner that never takes it down (a killed restore) leaves no page at the load balancer", async () => {
        expect((await env.runHost("sofia-maintenance", ["page", "on", "30", "restore"], extra)).status).toBe(0);
        expect(rules(listeners[0])).toHaveLength(2);
        // Its deadline passes with nobody taking it down.
        for (const kind of ["page", "signal"]) fs.writeFileSync(path.join(env.dir, "var", "maintenance", `${kind}.restore`), `${Math.floor(Date.now() / 1000) - 60}\n`);
        const lapse = await env.runHost("sofia-maintenance", ["lapse"], extra);
        expect(lapse.status, lapse.stderr).toBe(0);
        expect(lapse.stdout).toContain("maintenance page lapsed: clients reach the services again");
        for (const l of listeners) expect(rules(l)).toEqual([]);
        // Nothing is asked of AWS while no page is up (the probe lapses every minute).
        const quiet = await env.runHost("sofia-maintenance", ["lapse"], { ...extra, AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1" });
        expect(quiet.status, quiet.stderr).toBe(0);
    }, 60_000);

    it("the load balancer out of reach: page on fails saying so (the signal is up and lapses); the next lapse takes down what it put up", async () => {
        // ELB alone out of reach (CloudWatch answers: the signal goes up and down as usual).
        const down = { ...extra, AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1" };
        expect((await env.runHost("sofia-maintenance", ["page", "on", "30", "restore"], extra)).status).toBe(0);
        const off = await env.runHost("sofia-maintenance", ["page", "off", "restore"], down);
        expect(off.stdout + off.stderr).toContain("could not take the maintenance page down at the load balancer (above); the next lapse, within a minute, tries again");
        expect(rules(listeners[0])).toHaveLength(2);
        expect((await env.runHost("sofia-maintenance", ["lapse"], extra)).status).toBe(0);
        for (const l of listeners) expect(rules(l)).toEqual([]);
        const failed = await env.runHost("sofia-maintenance", ["page", "on", "30", "deploy"], down);
        expect(failed.status).toBe(1);
        expect(failed.stderr).toContain("could not put the maintenance page up at the load balancer (above); this page is dropped, the signal stays on until it lapses");
        // Dropped: the next lapse, with the load balancer back, puts up nothing.
        expect((await env.runHost("sofia-maintenance", ["lapse"], extra)).status).toBe(0);
        for (const l of listeners) expect(rules(l)).toEqual([]);
        expect((await env.runHost("sofia-maintenance", ["signal", "off", "deploy"], extra)).status).toBe(0);
    }, 90_000);

    it("never touches a rule at the page's priorities that is not the page's: says so instead", async () => {
        const tg = ok(env.aws(["elbv2", "describe-target-groups", "--region", REGION, "--names", "sofia-drill-ui"])).TargetGroups[0].TargetGroupArn;
        const other = ok(env.aws(["elbv2", "create-rule", "--region", REGION, "--listener-arn", listeners[1], "--priority", String(PAGE_RULE_PRIORITY), "--conditions", "Field=path-pattern,Values=/api/*", "--actions", `Type=forward,TargetGroupArn=${tg}`])).Rules[0].RuleArn;
        const on = await env.runHost("sofia-maintenance", ["page", "on", "30", "restore"], extra);
        expect(on.status).toBe(1);
        expect(on.stderr).toContain(`${listeners[1]} holds a rule at priority ${PAGE_RULE_PRIORITY} that is not the maintenance page's (forward): left as it is`);
        expect(rules(listeners[1]).map((r) => (r as unknown as { RuleArn: string }).RuleArn)).toEqual([other]);
        // The first listener's page rules, made before, are taken down again with the dropped page.
        expect(rules(listeners[0])).toEqual([]);
        env.aws(["elbv2", "delete-rule", "--region", REGION, "--rule-arn", other]);
        expect((await env.runHost("sofia-maintenance", ["signal", "off", "restore"], extra)).status).toBe(0);
    }, 60_000);

    it("holds the answers within ELB's fixed-response limit and the store host's grant to this load balancer's listeners", async () => {
        for (const f of edgeHostFiles({ region: REGION, deploy: { retryAfterSeconds: 120 } } as never, []).files.filter((f) => f.path.startsWith(EDGE_PAGES_DIR))) {
            expect(String(f.content).length).toBeLessThanOrEqual(FIXED_RESPONSE_MAX_CHARS);
        }
        const policy = JSON.parse(pageRulePolicy("arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/sofia-prod/0123abcd"));
        expect(policy.Statement[1].Resource).toEqual(["arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/sofia-prod/0123abcd/*", "arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener-rule/app/sofia-prod/0123abcd/*"]);
        expect(() => pageRulePolicy("arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/net/x/1")).toThrow(/not an application load balancer's ARN/);
    });
});
