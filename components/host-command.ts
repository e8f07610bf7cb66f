/**
 * A command run on the host by `pulumi up` through SSM Run Command (scripts/ssm-run.sh), waited
 * for, failing the update with the host's output when it fails.
 *
 * It runs when it is created and again only when one of its `triggers` changes (the resource is
 * then replaced): any other change of its inputs (the instance, the host files' digest, the
 * failure hint) is an update that runs nothing and keeps the last output. A one-shot such as a
 * restore must not run again because the host was replaced or a script changed.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

export interface HostCommandArgs {
    /** The instance the command runs on, through SSM. */
    instanceId: pulumi.Input<string>;
    /** The instance's region. */
    region: string;
    /** The command line to run on the host. */
    command: string;
    /** Values whose change makes the command run again (and only those). */
    triggers: pulumi.Input<unknown>[];
    /** Resources that must exist first (a component's own `dependsOn` does not hold back its children). @default none */
    after?: pulumi.Input<pulumi.Resource>[];
    /**
     * The host files this command needs: before running it, the host waits (bounded) until each
     * `marker` holds its `digest`, i.e. until the version of the scripts this update installs is in place.
     * @default no wait
     */
    requires?: { marker: string; digest: pulumi.Input<string> }[];
    /** Seconds to wait for the command; also its execution timeout on the host. @default 900 */
    timeoutSeconds?: number;
    /** Printed after the host's own output when the command fails: what to do now. @default nothing more */
    onFailure?: pulumi.Input<string>;
}

/** What an update runs instead of the command: nothing, keeping the output of the last run. */
export const KEEP_LAST_OUTPUT = 'printf "%s" "$PULUMI_COMMAND_STDOUT"';

export class HostCommand extends pulumi.ComponentResource {
    readonly run: command.local.Command;

    constructor(name: string, args: HostCommandArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:host:HostCommand", name, {}, opts);
        this.run = new command.local.Command(
            `${name}-run`,
            {
                // Relative: commands run in the project directory, wherever it is checked out.
                create: pulumi.interpolate`./scripts/ssm-run.sh ${args.instanceId} ${args.region} ${args.command}`,
                update: KEEP_LAST_OUTPUT,
                addPreviousOutputInEnv: true,
                environment: {
                    SSM_RUN_TIMEOUT: String(args.timeoutSeconds ?? 900),
                    SSM_RUN_STEP: name,
                    ...(args.onFailure ? { SSM_RUN_ON_FAILURE: args.onFailure } : {}),
                    ...(args.requires?.length ? { SSM_RUN_REQUIRE: pulumi.all(args.requires.map((r) => pulumi.interpolate`${r.marker}=${r.digest}`)).apply((xs) => xs.join(" ")) } : {}),
                },
                triggers: args.triggers,
            },
            // With an update command set, a changed trigger would only update: replacing is what runs `create` again.
            { parent: this, dependsOn: args.after, replaceOnChanges: ["triggers"] },
        );
        this.registerOutputs({ stdout: this.run.stdout });
    }
}
