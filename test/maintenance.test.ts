import { beforeAll, describe, expect, it } from "vitest";
import { validateWindows } from "../components/maintenance-window";
import type { Plan, PlannedResource } from "../plan/offline";
import { windowsOverlap } from "../topology/host/maintenance";
import { ofType, planStack } from "./helpers/plan";

const WINDOW = "aws:ssm/maintenanceWindow:MaintenanceWindow";
const TASK = "aws:ssm/maintenanceWindowTask:MaintenanceWindowTask";

function tasksOf(plan: Plan, window: PlannedResource): PlannedResource[] {
    return ofType(plan, TASK).filter((t) => t.parent === window.urn).sort((a, b) => Number(a.inputs.priority) - Number(b.inputs.priority));
}
const commandOf = (t: PlannedResource) => {
    const p = (t.inputs.taskInvocationParameters as any).runCommandParameters.parameters as { name: string; values: string[] }[];
    return p.find((x) => x.name === "commands")!.values.join(" && ");
};

describe("maintenance windows in the staging plan", () => {
    let plan: Plan;
    let weekly: PlannedResource;
    let monthly: PlannedResource;
    beforeAll(async () => {
        plan = await planStack("staging");
        weekly = ofType(plan, WINDOW).find((w) => w.inputs.name === "sofia-staging-weekly")!;
        monthly = ofType(plan, WINDOW).find((w) => w.inputs.name === "sofia-staging-monthly")!;
    });

    it("runs weekly on Sunday 02:00-04:00 UTC and monthly on the first Sunday after it", () => {
        expect(weekly.inputs).toMatchObject({ schedule: "cron(0 2 ? * SUN *)", scheduleTimezone: "UTC", duration: 2, cutoff: 1, allowUnassociatedTargets: false });
        expect(monthly.inputs).toMatchObject({ schedule: "cron(0 4 ? * SUN#1 *)", scheduleTimezone: "UTC", duration: 2, cutoff: 1 });
    });

    it("runs the weekly tasks in the issue's order, one after another", () => {
        const tasks = tasksOf(plan, weekly);
        expect(tasks.map((t) => t.inputs.priority)).toEqual([1, 2, 3, 4, 5, 6, 7]);
        expect(tasks.map(commandOf)).toEqual([
            "/usr/local/sbin/sofia-maintenance signal on 120 window-weekly",
            "/usr/local/sbin/sofia-services tune",
            "/usr/local/sbin/sofia-maintenance tidy",
            "/usr/local/sbin/sofia-restore --verify-only latest",
            "/usr/local/sbin/sofia-services patch",
            "/usr/local/sbin/sofia-services start && /usr/local/sbin/sofia-services verify",
            "/usr/local/sbin/sofia-maintenance signal off window-weekly",
        ]);
    });

    it("runs the monthly restart, DR test and capacity report between raising and clearing the signal", () => {
        expect(tasksOf(plan, monthly).map(commandOf)).toEqual([
            "/usr/local/sbin/sofia-maintenance signal on 120 window-monthly",
            "/usr/local/sbin/sofia-services restart && /usr/local/sbin/sofia-services verify",
            "/usr/local/sbin/sofia-restore --scratch latest",
            "/usr/local/sbin/sofia-backup run --wait 3600",
            "/usr/local/sbin/sofia-capacity report",
            "/usr/local/sbin/sofia-maintenance signal off window-monthly",
        ]);
    });

    it("gives every task an execution timeout of its own, sized for the whole dataset where it reads it", async () => {
        const seconds = (p: Plan, window: PlannedResource) =>
            Object.fromEntries(tasksOf(p, window).map((t) => [t.inputs.name, Number((t.inputs.taskInvocationParameters as any).runCommandParameters.parameters.find((x: any) => x.name === "executionTimeout").values[0])]));
        expect(seconds(plan, weekly)).toEqual({ "signal-on": 300, "questdb-retention": 3600, tidy: 1800, "verify-backup": 7200, patch: 5400, "after-patch": 3600, "signal-off": 300 });
        // The delivery timeout is not a run-time limit: a task the instance has not taken in 10 minutes does not run.
        for (const t of ofType(plan, TASK)) expect((t.inputs.taskInvocationParameters as any).runCommandParameters.timeoutSeconds).toBe(600);
        // A slower recovery objective gives the DR test and the verification more time.
        const slow = await planStack("staging", ["alarms.recoveryTimeMinutes=240"]);
        const slowMonthly = ofType(slow, WINDOW).find((w) => w.inputs.name === "sofia-staging-monthly")!;
        expect(seconds(slow, slowMonthly)["dr-test"]).toBe(480 * 60);
    });

    it("logs every task's output to CloudWatch, runs it as the window's own role, and lets it finish at the cutoff", () => {
        for (const t of ofType(plan, TASK)) {
            const rc = (t.inputs.taskInvocationParameters as any).runCommandParameters;
            expect(rc.cloudwatchConfig).toEqual({ cloudwatchLogGroupName: "/sofia/staging/maintenance", cloudwatchOutputEnabled: true });
            expect(t.inputs.serviceRoleArn).toMatch(/^arn:aws:iam:.*sofia-maintenance-role$/);
            expect(t.inputs.cutoffBehavior).toBe("CONTINUE_TASK");
        }
    });

    it("gives the windows' role only SendCommand for its documents on this instance", () => {
        const policy = JSON.parse(ofType(plan, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name === "sofia-maintenance-role-policy")!.inputs.policy as string);
        expect(policy.Statement[0].Action).toEqual(["ssm:SendCommand"]);
        expect(policy.Statement[0].Resource).toEqual([
            expect.stringMatching(/^arn:aws:ec2:eu-central-1:123456789012:instance\/i-[0-9a-f]+$/),
            "arn:aws:ssm:eu-central-1::document/AWS-RunShellScript",
        ]);
        expect(JSON.stringify(policy)).not.toMatch(/"Action":\["?\*|ssm:\*/);
    });

    it("notifies on-call when a task fails or times out, and when a window is cancelled or skipped", () => {
        const rule = ofType(plan, "aws:cloudwatch/eventRule:EventRule").find((r) => String(r.inputs.eventPattern).includes("aws.ssm"))!;
        const pattern = JSON.parse(rule.inputs.eventPattern as string);
        expect(pattern).toMatchObject({
            source: ["aws.ssm"],
            "detail-type": ["Maintenance Window Task Execution State-change Notification", "Maintenance Window Execution State-change Notification"],
            detail: { status: ["FAILED", "TIMED_OUT", "CANCELLED", "SKIPPED_OVERLAPPING"] },
        });
        expect(pattern.detail["window-id"]).toHaveLength(2);
        const target = ofType(plan, "aws:cloudwatch/eventTarget:EventTarget").find((t) => t.parent === rule.urn)!;
        expect(target.inputs.arn).toMatch(/:sofia-staging-level2-oncall$/);
        // The on-call topic's one policy admits this rule by its name (and the alarms beside it).
        const policy = ofType(plan, "aws:sns/topicPolicy:TopicPolicy").find((p) => p.inputs.arn === target.inputs.arn)!;
        expect(policy.inputs.policy).toContain(`rule/${rule.inputs.name}`);
    });

    it("follows the schedule settings", async () => {
        const moved = await planStack("staging", ["maintenance={weeklySchedule: 'cron(30 1 ? * SUN *)', monthlySchedule: 'cron(0 6 ? * SUN#1 *)', durationHours: 3, cutoffHours: 1}"]);
        const w = ofType(moved, WINDOW).find((x) => x.inputs.name === "sofia-staging-weekly")!;
        expect(w.inputs).toMatchObject({ schedule: "cron(30 1 ? * SUN *)", duration: 3 });
        expect(commandOf(tasksOf(moved, w)[0])).toBe("/usr/local/sbin/sofia-maintenance signal on 180 window-weekly");
    });
});

describe("the first-Sunday rule and schedule validation", () => {
    const m = (weeklySchedule: string, monthlySchedule: string, durationHours = 2) => ({ weeklySchedule, monthlySchedule, durationHours });

    it("refuses a monthly window that would run into the weekly one", () => {
        expect(windowsOverlap(m("cron(0 2 ? * SUN *)", "cron(0 2 ? * SUN#1 *)"))).toMatch(/overlaps the weekly window \(02:00-04:00 UTC\).*start it at 04:00 or later/);
        expect(windowsOverlap(m("cron(0 2 ? * SUN *)", "cron(0 3 ? * SUN#1 *)"))).toMatch(/overlaps/);
        expect(windowsOverlap(m("cron(0 2 ? * SUN *)", "cron(0 4 ? * SUN#1 *)"))).toBeUndefined();
        expect(windowsOverlap(m("cron(0 2 ? * SUN *)", "cron(0 2 ? * SAT#1 *)"))).toBeUndefined();
    });

    it("names the key when the settings break it", async () => {
        await expect(planStack("staging", ["maintenance.monthlySchedule=cron(0 2 ? * SUN#1 *)"])).rejects.toThrow(/sofia:maintenance\.monthlySchedule: "cron\(0 2 \? \* SUN#1 \*\)" is not allowed: it overlaps the weekly window/);
        await expect(planStack("staging", ["maintenance.weeklySchedule=cron(0 2 * * SUN *)"])).rejects.toThrow(/sofia:maintenance\.weeklySchedule: .*exactly one of day-of-month and day-of-week must be "\?"/);
    });

    it("validates windows in the component too", () => {
        const w = { id: "w", title: "t", schedule: "cron(0 2 ? * SUN *)", durationHours: 2, cutoffHours: 1, tasks: [] };
        const task = { id: "a", title: "", run: { commands: [] }, timeoutMinutes: 5 };
        expect(() => validateWindows([{ ...w, schedule: "weekly" }])).toThrow(/maintenance window w: schedule "weekly"/);
        expect(() => validateWindows([{ ...w, cutoffHours: 2 }])).toThrow(/cutoff 2 h must be shorter/);
        expect(() => validateWindows([{ ...w, tasks: [task, task] }])).toThrow(/task ids used twice: a/);
        expect(() => validateWindows([{ ...w, tasks: [{ ...task, timeoutMinutes: 49 * 60 }] }])).toThrow(/task a: timeout 2940 min must be a whole number of minutes from 1 to 2880/);
    });
});
