/**
 * SSM maintenance windows on one instance: the window (UTC), its target, tasks run one after
 * another by priority with their output in CloudWatch Logs, a service role that can do only what
 * the tasks need, and a notification when any task fails.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { repeated, scheduleProblem } from "./formats";
import { assumedBy } from "./iam";

export interface WindowTask {
    id: string;
    title: string;
    /** Shell commands (AWS-RunShellScript). */
    run: { commands: string[] };
    /** The run's execution timeout: AWS-RunShellScript stops it after this (its default is one hour). */
    timeoutMinutes: number;
}

export interface WindowSpec {
    id: string;
    title: string;
    /** `cron(...)` or `rate(...)`, in UTC. */
    schedule: string;
    durationHours: number;
    /** No new task starts in the last `cutoffHours`. */
    cutoffHours: number;
    tasks: WindowTask[];
}

export interface MaintenanceWindowsArgs {
    /** The system's name, in the descriptions of the windows' role and failure rule. */
    title: string;
    /** Names start with this (e.g. "sofia-prod"). */
    prefix: string;
    /** The instance the windows' tasks run on. */
    instanceId: pulumi.Input<string>;
    /** The windows, each with its tasks in order. */
    windows: WindowSpec[];
    /** Where task output goes. */
    logGroupName: string;
    /** Days the task output is kept. */
    logRetentionDays: number;
    /** SNS topic told about a failed or timed-out task; its policy must admit failureRuleName(prefix). */
    failureTopicArn: pulumi.Input<string>;
    /** Tags for every taggable child. @default none */
    tags?: Record<string, string>;
}

const SHELL = "AWS-RunShellScript";
/** AWS-RunShellScript's executionTimeout may not exceed 48 hours. */
const MAX_EXECUTION_MINUTES = 48 * 60;
/** How long a task may wait for the instance to take the command (not how long it may run). */
const DELIVERY_TIMEOUT_SECONDS = 600;

export function validateWindows(windows: WindowSpec[]): void {
    for (const w of windows) {
        const problem = scheduleProblem(w.schedule);
        if (problem) throw new Error(`maintenance window ${w.id}: schedule "${w.schedule}": ${problem}`);
        if (w.cutoffHours >= w.durationHours) throw new Error(`maintenance window ${w.id}: cutoff ${w.cutoffHours} h must be shorter than its ${w.durationHours} h`);
        for (const t of w.tasks) {
            if (!Number.isInteger(t.timeoutMinutes) || t.timeoutMinutes < 1 || t.timeoutMinutes > MAX_EXECUTION_MINUTES) {
                throw new Error(`maintenance window ${w.id}: task ${t.id}: timeout ${t.timeoutMinutes} min must be a whole number of minutes from 1 to ${MAX_EXECUTION_MINUTES} (AWS-RunShellScript's limit)`);
            }
        }
        const dup = repeated(w.tasks.map((t) => t.id));
        if (dup.length) throw new Error(`maintenance window ${w.id}: task ids used twice: ${dup.join(", ")}`);
    }
}

/** Statuses of a window or task execution that mean work did not happen (SSM's execution statuses). */
export const NOTIFIED_STATUSES = ["FAILED", "TIMED_OUT", "CANCELLED", "SKIPPED_OVERLAPPING"];

/** The EventBridge rule that tells the failure topic about a failed task: the topic's policy names it. */
export function failureRuleName(prefix: string): string {
    return `${prefix}-maintenance-task-failed`;
}

export class MaintenanceWindows extends pulumi.ComponentResource {
    readonly windows: Record<string, aws.ssm.MaintenanceWindow> = {};
    readonly logGroup: aws.cloudwatch.LogGroup;
    readonly role: aws.iam.Role;

    constructor(name: string, args: MaintenanceWindowsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:maintenance:MaintenanceWindows", name, {}, opts);
        validateWindows(args.windows);
        const child = { parent: this };
        const tags = args.tags ?? {};
        const account = aws.getCallerIdentityOutput({}, child).accountId;
        const region = aws.getRegionOutput({}, child).name;

        this.logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: args.logGroupName, retentionInDays: args.logRetentionDays, tags }, child);
        this.role = this.createRole(name, args, account, region, tags);

        for (const w of args.windows) {
            const window = new aws.ssm.MaintenanceWindow(
                `${name}-${w.id}`,
                {
                    name: `${args.prefix}-${w.id}`,
                    description: w.title,
                    schedule: w.schedule,
                    scheduleTimezone: "UTC",
                    duration: w.durationHours,
                    cutoff: w.cutoffHours,
                    allowUnassociatedTargets: false,
                    tags,
                },
                child,
            );
            this.windows[w.id] = window;
            const target = new aws.ssm.MaintenanceWindowTarget(
                `${name}-${w.id}-target`,
                { windowId: window.id, resourceType: "INSTANCE", targets: [{ key: "InstanceIds", values: [args.instanceId] }] },
                { parent: window },
            );
            w.tasks.forEach((t, i) => {
                new aws.ssm.MaintenanceWindowTask(
                    `${name}-${w.id}-${t.id}`,
                    {
                        windowId: window.id,
                        name: t.id,
                        description: t.title,
                        taskType: "RUN_COMMAND",
                        taskArn: SHELL,
                        // One after another, in the order given.
                        priority: i + 1,
                        maxConcurrency: "1",
                        maxErrors: "1",
                        // A task that is running when the cutoff comes finishes; new ones do not start.
                        cutoffBehavior: "CONTINUE_TASK",
                        serviceRoleArn: this.role.arn,
                        targets: [{ key: "WindowTargetIds", values: [target.id] }],
                        taskInvocationParameters: {
                            runCommandParameters: {
                                comment: `${args.prefix} ${w.id}: ${t.title}`.slice(0, 100),
                                // How long SSM tries to deliver it; it gives up on a command not yet run only after
                                // this plus its execution timeout, so a long task may start late, never twice.
                                timeoutSeconds: DELIVERY_TIMEOUT_SECONDS,
                                parameters: [
                                    { name: "commands", values: t.run.commands },
                                    // How long it may run: without it, SSM stops every task after an hour.
                                    { name: "executionTimeout", values: [String(t.timeoutMinutes * 60)] },
                                ],
                                cloudwatchConfig: { cloudwatchLogGroupName: this.logGroup.name, cloudwatchOutputEnabled: true },
                            },
                        },
                    },
                    { parent: window },
                );
            });
        }
        this.notifyFailures(name, args, tags);
        this.registerOutputs({ logGroup: this.logGroup.name });
    }

    /** Only what the tasks need: send these two documents to this instance, and follow the commands. */
    private createRole(name: string, args: MaintenanceWindowsArgs, account: pulumi.Output<string>, region: pulumi.Output<string>, tags: Record<string, string>): aws.iam.Role {
        const role = new aws.iam.Role(
            `${name}-role`,
            {
                description: `${args.title} maintenance windows: run their commands on the host, nothing else`,
                assumeRolePolicy: assumedBy("ssm.amazonaws.com"),
                tags,
            },
            { parent: this },
        );
        new aws.iam.RolePolicy(
            `${name}-role-policy`,
            {
                role: role.id,
                policy: pulumi.all([account, region, args.instanceId]).apply(([acct, reg, instance]) =>
                    JSON.stringify({
                        Version: "2012-10-17",
                        Statement: [
                            {
                                Sid: "RunTheTasks",
                                Effect: "Allow",
                                Action: ["ssm:SendCommand"],
                                Resource: [`arn:aws:ec2:${reg}:${acct}:instance/${instance}`, `arn:aws:ssm:${reg}::document/${SHELL}`],
                            },
                            { Sid: "FollowTheTasks", Effect: "Allow", Action: ["ssm:CancelCommand", "ssm:ListCommands", "ssm:ListCommandInvocations", "ssm:GetCommandInvocation"], Resource: ["*"] },
                        ],
                    }),
                ),
            },
            { parent: role },
        );
        return role;
    }

    /** A failed or timed-out task notifies the topic (EventBridge, no polling). */
    private notifyFailures(name: string, args: MaintenanceWindowsArgs, tags: Record<string, string>): void {
        const windowIds = Object.values(this.windows).map((w) => w.id);
        const rule = new aws.cloudwatch.EventRule(
            `${name}-task-failed`,
            {
                name: failureRuleName(args.prefix),
                description: `A ${args.title} maintenance window or task failed, timed out, was cancelled or was skipped`,
                eventPattern: pulumi.all(windowIds).apply((ids) =>
                    JSON.stringify({
                        source: ["aws.ssm"],
                        // A task that failed or ran out of time, and a window cancelled or skipped
                        // (its previous run still going): each is work that did not happen.
                        "detail-type": ["Maintenance Window Task Execution State-change Notification", "Maintenance Window Execution State-change Notification"],
                        detail: { "window-id": ids, status: NOTIFIED_STATUSES },
                    }),
                ),
                tags,
            },
            { parent: this },
        );
        // The topic's policy admits this rule by name (its owner builds it from failureRuleName).
        new aws.cloudwatch.EventTarget(`${name}-task-failed-target`, { rule: rule.name, arn: args.failureTopicArn }, { parent: rule });
    }
}
