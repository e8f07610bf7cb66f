/**
 * A command run on the host by `pulumi up` through SSM Run Command (scripts/ssm-run.sh), waited
 * for, failing the update with the host's output when it fails. Runs again whenever a trigger
 * changes (for example a replaced container).
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

export interface HostCommandArgs {
    instanceId: pulumi.Input<string>;
    region: string;
    /** The command line to run on the host. */
    command: string;
    /** Values whose change makes the command run again. */
    triggers: pulumi.Input<unknown>[];
    /** Resources that must exist first (a component's own `dependsOn` does not hold back its children). */
    after?: pulumi.Input<pulumi.Resource>[];
    /** Seconds to wait for the command. @default 900 */
    timeoutSeconds?: number;
    /** Printed after the host's own output when the command fails: what to do now. */
    onFailure?: pulumi.Input<string>;
}

export class HostCommand extends pulumi.ComponentResource {
    readonly run: command.local.Command;

    constructor(name: string, args: HostCommandArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:host:HostCommand", name, {}, opts);
        this.run = new command.local.Command(
            `${name}-run`,
            {
                // Relative: commands run in the project directory, wherever it is checked out.
                create: pulumi.interpolate`./scripts/ssm-run.sh ${args.instanceId} ${args.region} ${args.command}`,
                environment: {
                    SSM_RUN_TIMEOUT: String(args.timeoutSeconds ?? 900),
                    SSM_RUN_STEP: name,
                    ...(args.onFailure ? { SSM_RUN_ON_FAILURE: args.onFailure } : {}),
                },
                triggers: args.triggers,
            },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({ stdout: this.run.stdout });
    }
}
