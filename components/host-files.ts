/**
 * Files installed on an EC2 host through SSM (no SSH): an SSM command document that writes them
 * and runs follow-up commands, and an association that runs it on the instance whenever the
 * document changes. `pulumi up` waits for the association to succeed.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface HostFile<C = string> {
    /** Absolute path on the host. */
    path: string;
    content: C;
    /** Octal mode. @default "0644" */
    mode?: string;
}

export interface HostFilesArgs {
    /** The instance to install on. */
    instanceId: pulumi.Input<string>;
    /** Contents may be outputs of other resources (a bucket name); never secrets: documents are readable. */
    files: HostFile<pulumi.Input<string>>[];
    /** Shell commands run after every file is in place (e.g. `systemctl daemon-reload`). */
    then?: string[];
    /** Seconds `pulumi up` waits for the installation to succeed. @default 600 */
    waitSeconds?: number;
    tags?: Record<string, string>;
}

const EOF_MARK = "SOFIA_HOST_FILE_EOF";

/**
 * The bash script the document runs. Files are written under `$SOFIA_ROOT` when it is set, and
 * follow-up commands skipped, so tests can run the very same script in a scratch directory.
 */
export function installScript(files: HostFile[], then: string[] = []): string {
    const lines = ["#!/usr/bin/env bash", "set -euo pipefail", 'root="${SOFIA_ROOT:-}"'];
    for (const f of files) {
        if (!f.path.startsWith("/")) throw new Error(`HostFiles: path "${f.path}" is not absolute`);
        if (f.content.split("\n").includes(EOF_MARK)) throw new Error(`HostFiles: ${f.path} contains the line ${EOF_MARK}`);
        const mode = f.mode ?? "0644";
        if (!/^0[0-7]{3}$/.test(mode)) throw new Error(`HostFiles: mode "${mode}" of ${f.path} is not an octal mode like 0644`);
        const body = f.content.endsWith("\n") ? f.content : `${f.content}\n`;
        lines.push(`install -D -m ${mode} /dev/stdin "$root${f.path}" <<'${EOF_MARK}'`, body + EOF_MARK);
        lines.push(`echo "installed ${f.path}"`);
    }
    if (then.length) lines.push('if [[ -z $root ]]; then', ...then.map((c) => `  ${c}`), "fi");
    return lines.join("\n") + "\n";
}

export class HostFiles extends pulumi.ComponentResource {
    readonly document: aws.ssm.Document;
    readonly association: aws.ssm.Association;

    constructor(name: string, args: HostFilesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:host:HostFiles", name, {}, opts);
        const script = pulumi
            .all(args.files.map((f) => f.content))
            .apply((contents) => installScript(args.files.map((f, i) => ({ ...f, content: contents[i] })), args.then));
        this.document = new aws.ssm.Document(
            `${name}-document`,
            {
                documentType: "Command",
                documentFormat: "JSON",
                content: script.apply((runCommand) =>
                    JSON.stringify({
                        schemaVersion: "2.2",
                        description: `Install ${args.files.map((f) => f.path).join(", ")}`,
                        mainSteps: [{ action: "aws:runShellScript", name: "install", inputs: { runCommand: [runCommand], timeoutSeconds: "300" } }],
                    }),
                ),
                tags: args.tags,
            },
            { parent: this },
        );
        this.association = new aws.ssm.Association(
            `${name}-association`,
            {
                name: this.document.name,
                // A new document version changes this input, so the association runs again.
                documentVersion: this.document.latestVersion,
                targets: [{ key: "InstanceIds", values: [args.instanceId] }],
                waitForSuccessTimeoutSeconds: args.waitSeconds ?? 600,
                tags: args.tags,
            },
            { parent: this },
        );
        this.registerOutputs({ documentName: this.document.name });
    }
}
