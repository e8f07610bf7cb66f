/**
 * Commands run on an instance the moment alarms enter ALARM: one SSM Command document per
 * command, and an EventBridge rule per document that matches the alarms' state changes by exact
 * name and runs it (Run Command) with the alarm's name as its one parameter. For evidence that is
 * gone by the time someone is paged: the command collects it.
 *
 * EventBridge delivers "CloudWatch Alarm State Change" events for metric and composite alarms
 * alike; names are matched exactly, so a composite built on an alarm never runs the command twice.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { overLimit } from "./aws-limits";
import { assumedBy } from "./iam";

export interface AlarmCommand {
    /** Letters, digits and "-": names the document and the rule (`<prefix>-<id>`). */
    id: string;
    /** One line: the document's and the rule's description. */
    description: string;
    /** The shell command; the alarm's name is appended as its last argument. */
    command: string;
    /** The alarms (full names) whose ALARM state runs it. */
    alarmNames: string[];
    /** Seconds the command may run before SSM stops it. */
    timeoutSeconds: number;
}

export interface AlarmCommandsArgs {
    /** Names start with this (e.g. "sofia-prod"). */
    prefix: string;
    /** The instance the commands run on. */
    instanceId: pulumi.Input<string>;
    /** One document and one rule each; a command no alarm runs is refused. */
    commands: AlarmCommand[];
    /** Tags for every taggable child. @default none */
    tags?: Record<string, string>;
}

/** The document's parameter: CloudWatch's alarm names (EventBridge passes the one that fired). */
export const ALARM_PARAMETER_PATTERN = "^[A-Za-z0-9_.-]{1,200}$";

/** The Command document of one alarm command (schema 2.2, one shell step). */
export function alarmCommandDocument(c: AlarmCommand): string {
    return JSON.stringify({
        schemaVersion: "2.2",
        description: c.description,
        parameters: { alarm: { type: "String", description: "The alarm that entered ALARM", allowedPattern: ALARM_PARAMETER_PATTERN, default: "manual" } },
        mainSteps: [{ action: "aws:runShellScript", name: "run", inputs: { runCommand: [`${c.command} {{ alarm }}`], timeoutSeconds: String(c.timeoutSeconds) } }],
    });
}

/** The rule's event pattern: those alarms, entering ALARM. */
export function alarmEventPattern(alarmNames: string[]): string {
    return JSON.stringify({ source: ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"], detail: { alarmName: [...alarmNames].sort(), state: { value: ["ALARM"] } } });
}

/** Throws on commands AWS would refuse in the middle of an update. */
export function validateAlarmCommands(args: Pick<AlarmCommandsArgs, "commands" | "prefix">): void {
    for (const c of args.commands) {
        if (!/^[a-z0-9-]+$/.test(c.id)) throw new Error(`AlarmCommands: id "${c.id}" must be lower-case letters, digits and "-"`);
        if (c.alarmNames.length === 0) throw new Error(`AlarmCommands ${c.id}: no alarms run it`);
        const pattern = overLimit("eventPatternChars", alarmEventPattern(c.alarmNames).length, `the event pattern of ${args.prefix}-${c.id}`);
        if (pattern) throw new Error(`AlarmCommands ${c.id}: ${pattern}`);
    }
}

export class AlarmCommands extends pulumi.ComponentResource {
    readonly documents: Record<string, aws.ssm.Document> = {};
    readonly rules: Record<string, aws.cloudwatch.EventRule> = {};

    constructor(name: string, args: AlarmCommandsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:monitoring:AlarmCommands", name, {}, opts);
        validateAlarmCommands(args);
        for (const c of args.commands) {
            this.documents[c.id] = new aws.ssm.Document(
                `${name}-${c.id}`,
                { name: `${args.prefix}-${c.id}`, documentType: "Command", documentFormat: "JSON", content: alarmCommandDocument(c), tags: args.tags },
                { parent: this },
            );
        }
        const instanceArn = pulumi.all([aws.getCallerIdentityOutput({}, { parent: this }).accountId, aws.getRegionOutput({}, { parent: this }).name, args.instanceId]).apply(([account, region, id]) => `arn:aws:ec2:${region}:${account}:instance/${id}`);
        // EventBridge's own role: send exactly these documents to exactly this instance.
        const role = new aws.iam.Role(`${name}-events`, { assumeRolePolicy: assumedBy("events.amazonaws.com"), description: `EventBridge runs ${args.prefix}'s alarm commands on its host`, tags: args.tags }, { parent: this });
        new aws.iam.RolePolicy(
            `${name}-events`,
            {
                role: role.id,
                policy: pulumi.all([instanceArn, ...Object.values(this.documents).map((d) => d.arn)]).apply(([instance, ...docs]) =>
                    JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "RunAlarmCommands", Effect: "Allow", Action: "ssm:SendCommand", Resource: [instance, ...docs] }] }),
                ),
            },
            { parent: role },
        );
        for (const c of args.commands) {
            const rule = new aws.cloudwatch.EventRule(`${name}-${c.id}`, { name: `${args.prefix}-${c.id}`, description: c.description.slice(0, 512), eventPattern: alarmEventPattern(c.alarmNames), tags: args.tags }, { parent: this });
            new aws.cloudwatch.EventTarget(
                `${name}-${c.id}`,
                {
                    rule: rule.name,
                    arn: this.documents[c.id].arn,
                    roleArn: role.arn,
                    runCommandTargets: [{ key: "InstanceIds", values: [args.instanceId] }],
                    // The document's parameter from the event: which alarm fired.
                    inputTransformer: { inputPaths: { alarm: "$.detail.alarmName" }, inputTemplate: '{"alarm":[<alarm>]}' },
                },
                { parent: rule },
            );
            this.rules[c.id] = rule;
        }
        this.registerOutputs({});
    }
}
