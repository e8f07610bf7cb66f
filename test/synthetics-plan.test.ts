/**
 * The synthetic checks in the plan (topology/host/synthetics.ts, components/synthetic-checks.ts):
 * where clients come from anywhere and the proxy has a name, one canary per entry that declares a
 * theme or critical paths, through that name, paging when it fails; elsewhere none, said in the plan.
 */
import { describe, expect, it } from "vitest";
import { canaryName, canaryPolicy } from "../components/synthetic-checks";
import { stackSettings } from "../plan/stack-config";
import { syntheticsOffBecause } from "../topology/host/synthetics";
import { ofType, planStack } from "./helpers/plan";

describe("the synthetic checks in the plan", () => {
    it("prod: a canary for the UI's theme and paths and one for the API's, through the proxy's name, each with its level 2 alarm", async () => {
        const plan = await planStack("prod");
        const canaries = ofType(plan, "aws:synthetics/canary:Canary");
        expect(canaries.map((c) => c.inputs.name).sort()).toEqual(["sofia-prod-api", "sofia-prod-ui"]);
        const ui = canaries.find((c) => c.inputs.name === "sofia-prod-ui")!;
        const checks = JSON.parse((ui.inputs.runConfig as { environmentVariables: { CHECKS: string } }).environmentVariables.CHECKS);
        expect(checks).toEqual([
            {
                base: "https://sofia.company.com:8080",
                theme: { path: "/", markers: [{ selector: 'html[data-theme="sofia-dark"]', property: "color-scheme", value: "dark" }, { selector: "body", property: "background-color", value: "rgb(13, 17, 23)" }] },
                paths: [{ path: "/", maxMs: 3000 }],
            },
        ]);
        expect(ui.inputs).toMatchObject({ handler: "checks.handler", startCanary: true, schedule: { expression: "rate(5 minutes)" } });
        const code = ofType(plan, "aws:s3/bucketObjectv2:BucketObjectv2")[0];
        expect(code.inputs.key).toMatch(/^code\/checks-[0-9a-f]{12}\.zip$/);
        const alarms = ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm").filter((a) => String(a.inputs.name).includes("synthetic"));
        expect(alarms.map((a) => [a.inputs.name, a.inputs.namespace, a.inputs.metricName, (a.inputs.dimensions as Record<string, string>).CanaryName, a.inputs.treatMissingData])).toEqual([
            ["sofia-prod-synthetic-api", "CloudWatchSynthetics", "SuccessPercent", "sofia-prod-api", "breaching"],
            ["sofia-prod-synthetic-ui", "CloudWatchSynthetics", "SuccessPercent", "sofia-prod-ui", "breaching"],
        ]);
    });

    it("staging (clients from the office only): no canary and no alarm for one, for a reason the README gives", async () => {
        const plan = await planStack("staging");
        expect(ofType(plan, "aws:synthetics/canary:Canary")).toEqual([]);
        expect(ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm").filter((a) => String(a.inputs.name).includes("synthetic"))).toEqual([]);
        expect(syntheticsOffBecause(stackSettings("staging"))).toMatch(/open to clientCidrs only, not to the whole internet/);
        expect(syntheticsOffBecause({ ...stackSettings("prod"), proxy: { ...stackSettings("prod").proxy, acme: undefined } })).toMatch(/no DNS name/);
        expect(syntheticsOffBecause(stackSettings("prod"))).toBeUndefined();
    });

    it("keeps canary names within what a Lambda function's name leaves them (21 characters)", () => {
        expect(canaryName("sofia-prod", "ui")).toBe("sofia-prod-ui");
        expect(() => canaryName("sofia-preproduction", "api")).toThrow(/must be 1 to 21 lower-case letters/);
        expect(() => canaryName("Sofia", "ui")).toThrow(/lower-case/);
    });

    it("lets the canaries write their artifacts, log as themselves and publish their own metrics, nothing else", () => {
        const doc = JSON.parse(canaryPolicy("arn:aws:s3:::b", ["sofia-prod-ui"]));
        const writes = doc.Statement.find((s: { Sid: string }) => s.Sid === "Artifacts");
        expect(writes.Resource).toEqual(["arn:aws:s3:::b/runs/*", "arn:aws:s3:::b/code/*"]);
        expect(doc.Statement.find((s: { Sid: string }) => s.Sid === "OwnLogs").Resource).toEqual(["arn:aws:logs:*:*:log-group:/aws/lambda/cwsyn-sofia-prod-ui-*"]);
        expect(doc.Statement.find((s: { Sid: string }) => s.Sid === "OwnMetrics").Condition).toEqual({ StringEquals: { "cloudwatch:namespace": "CloudWatchSynthetics" } });
        expect(JSON.stringify(doc)).not.toMatch(/"Action":"\*"|s3:\*|"s3:DeleteObject"/);
    });
});
