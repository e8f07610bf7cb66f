/**
 * Files installed on an EC2 host through SSM (no SSH), in parts: per part an SSM command document
 * that writes its files and runs its follow-up commands, and an association that runs it on the
 * instance whenever the document changes.
 *
 * An SSM document holds at most 64 KB, and the provider does not wait for an association to run
 * again after an update. So each part's files travel compressed (gzip, base64) with each one's
 * SHA-256, a part that would not fit is refused here, and each part's script writes a digest of
 * what it installed to its marker as its last act: whoever needs this version of the files waits
 * for those digests (HostCommand's `requires`), not for the associations.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { gzipSync } from "zlib";
import { AWS_LIMITS, bytesOf } from "./aws-limits";

export interface HostFile<C = string> {
    /** Absolute path on the host. */
    path: string;
    content: C;
    /** Octal mode. @default "0644" */
    mode?: string;
}

/** Files that travel (and are installed) together, with the commands that activate them. */
export interface HostFilesPart {
    /** Names the part's document, association and marker: letters, digits and "-". */
    name: string;
    /** Contents may be outputs of other resources (a bucket name); never secrets: documents are readable. */
    files: HostFile<pulumi.Input<string>>[];
    /** Shell commands run after the part's files are in place (e.g. `systemctl daemon-reload`). */
    afterInstall?: string[];
}

export interface HostFilesArgs {
    /** The instance to install on. */
    instanceId: pulumi.Input<string>;
    /** The parts, each one document within SSM's 64 KB (a part that would not fit is refused). */
    parts: HostFilesPart[];
    /** Where each part's script writes the digest of what it installed, last: `<markerDir>/<part>.sha256`. */
    markerDir: string;
    /** What must be done before the first run (the host's own setup: the tools `afterInstall` calls). @default none */
    after?: pulumi.Input<pulumi.Resource>[];
    /** Seconds `pulumi up` waits for the first installation to succeed. @default 600 */
    waitSeconds?: number;
    /** Tags for every taggable child. @default none */
    tags?: Record<string, string>;
}

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

/** Checks a file's path and mode; returns the mode. */
function checked(f: HostFile): string {
    if (!/^\/[A-Za-z0-9._@/-]+$/.test(f.path)) throw new Error(`HostFiles: path "${f.path}" is not absolute, or has characters other than letters, digits and ._@/-`);
    const mode = f.mode ?? "0644";
    if (!/^0[0-7]{3}$/.test(mode)) throw new Error(`HostFiles: mode "${mode}" of ${f.path} is not an octal mode like 0644`);
    return mode;
}

/** gzip, level 9, the same bytes from any machine (gzip's header names the OS that compressed it: fixed). */
export function gzipFixed(data: Buffer): Buffer {
    const gz = gzipSync(data, { level: 9 });
    gz[9] = 3;
    return gz;
}

/** One digest of everything the script installs and runs: what the marker holds once it is done. */
export function filesDigest(files: HostFile[], afterInstall: string[] = []): string {
    // The key keeps its first name: the digest is the version each host has installed.
    return sha256(JSON.stringify({ files: files.map((f) => [f.path, checked(f), sha256(f.content)]), then: afterInstall }));
}

/** The files an install script holds, by path, with their SHA-256 (read back from its rows). */
export function installedDigests(script: string): Map<string, string> {
    return new Map([...script.matchAll(/^ {2}"(\/\S+) 0[0-7]{3} ([0-9a-f]{64}) \d+ \d+"$/gm)].map((m) => [m[1], m[2]]));
}

/**
 * The bash script the document runs. Every file travels in one gzip stream (scripts share most of
 * their words, so together they compress far better than one by one), in base64. The script
 * unpacks them all and checks each one's SHA-256 before it puts any in place, so a damaged
 * document installs nothing. Files are written under `$HOST_FILES_ROOT` when it is set, and follow-up
 * commands skipped, so tests can run the very same script in a scratch directory. Each file is
 * written beside its place and renamed over it: a script that is running while it is replaced
 * keeps reading the old one (bash reads scripts as it goes).
 */
export function installScript(files: HostFile[], afterInstall: string[] = [], marker = "/var/lib/host-files.sha256"): string {
    const blobs = files.map((f) => Buffer.from(f.content, "utf8"));
    let offset = 0;
    const rows = files.map((f, i) => {
        const row = `${f.path} ${checked(f)} ${sha256(blobs[i])} ${offset} ${blobs[i].length}`;
        offset += blobs[i].length;
        return row;
    });
    // 76 characters a line, a multiple of 4: no line of base64 can be the 3-character end mark.
    const archive = gzipFixed(Buffer.concat(blobs)).toString("base64").replace(/.{1,76}/g, "$&\n");
    const lines = [
        "#!/usr/bin/env bash",
        "set -euo pipefail",
        'root="${HOST_FILES_ROOT:-}"',
        "tmp=$(mktemp -d)",
        "trap 'rm -rf \"$tmp\"' EXIT",
        "# Every file, one after another, gzip in base64.",
        'base64 -d >"$tmp/all.gz" <<\'EOF\'',
        archive + "EOF",
        'gunzip -c "$tmp/all.gz" >"$tmp/all"',
        "# path, mode, SHA-256, offset and length in the stream: all checked before any is installed.",
        "files=(",
        ...rows.map((r) => `  "${r}"`),
        ")",
        "n=0",
        'for row in "${files[@]}"; do',
        '  read -r path mode sum offset length <<<"$row"',
        '  dd if="$tmp/all" of="$tmp/$n" bs=64K iflag=skip_bytes,count_bytes skip="$offset" count="$length" status=none',
        '  [[ $(sha256sum "$tmp/$n" | cut -d" " -f1) == "$sum" ]] || { echo "host-files: $path does not have the SHA-256 it was sent with; nothing was installed: run the association again (pulumi up)" >&2; exit 1; }',
        "  n=$((n + 1))",
        "done",
        "n=0",
        'for row in "${files[@]}"; do',
        '  read -r path mode _ <<<"$row"',
        '  install -D -m "$mode" "$tmp/$n" "$root$path.host-files-new"',
        '  mv -f "$root$path.host-files-new" "$root$path"',
        '  echo "installed $path"',
        "  n=$((n + 1))",
        "done",
    ];
    if (afterInstall.length) lines.push('if [[ -z $root ]]; then', ...afterInstall.map((c) => `  ${c}`), "fi");
    lines.push(
        "# Last: whoever needs this version of the files waits for this digest.",
        `mkdir -p "$(dirname "$root${marker}")"`,
        `echo ${filesDigest(files, afterInstall)} >"$root${marker}.host-files-new"`,
        `mv -f "$root${marker}.host-files-new" "$root${marker}"`,
    );
    return lines.join("\n") + "\n";
}

/** The document's content, refused here (with each file's share) when AWS would refuse it. */
export function documentContent(files: HostFile[], afterInstall: string[], marker: string): string {
    const content = JSON.stringify({
        schemaVersion: "2.2",
        description: `Install ${files.length} host files (digest ${filesDigest(files, afterInstall).slice(0, 12)})`,
        mainSteps: [{ action: "aws:runShellScript", name: "install", inputs: { runCommand: [installScript(files, afterInstall, marker)], timeoutSeconds: "300" } }],
    });
    const { max } = AWS_LIMITS.ssmDocumentBytes;
    if (bytesOf(content) > max) {
        const shares = files
            .map((f) => ({ path: f.path, bytes: gzipFixed(Buffer.from(f.content)).length }))
            .sort((a, b) => b.bytes - a.bytes)
            .map((x) => `${x.path} ${x.bytes}`);
        throw new Error(`HostFiles: the installer document is ${bytesOf(content)} bytes, over SSM's limit of ${max}; compressed sizes alone, largest first: ${shares.join(", ")}. Split the files over two HostFiles, or ship the largest another way.`);
    }
    return content;
}

export class HostFiles extends pulumi.ComponentResource {
    readonly documents: aws.ssm.Document[] = [];
    readonly associations: aws.ssm.Association[] = [];
    /** Per part: where its installed version's digest is written on the host, and the digest this update installs. */
    readonly installed: { marker: string; digest: pulumi.Output<string> }[] = [];

    constructor(name: string, args: HostFilesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sofia:host:HostFiles", name, {}, opts);
        const names = args.parts.map((p) => p.name);
        const bad = names.filter((n, i) => !/^[a-z0-9][a-z0-9-]*$/.test(n) || names.indexOf(n) !== i);
        if (bad.length) throw new Error(`HostFiles: part names must be distinct, of lower-case letters, digits and "-": ${bad.join(", ")}`);
        for (const part of args.parts) {
            const afterInstall = part.afterInstall ?? [];
            const marker = `${args.markerDir}/${part.name}.sha256`;
            const resolved = pulumi.all(part.files.map((f) => f.content)).apply((contents) => part.files.map((f, i) => ({ ...f, content: contents[i] })));
            this.installed.push({ marker, digest: resolved.apply((files) => filesDigest(files, afterInstall)) });
            const document = new aws.ssm.Document(
                `${name}-${part.name}-document`,
                { documentType: "Command", documentFormat: "JSON", content: resolved.apply((files) => documentContent(files, afterInstall, marker)), tags: args.tags },
                { parent: this },
            );
            this.documents.push(document);
            this.associations.push(
                new aws.ssm.Association(
                    `${name}-${part.name}-association`,
                    {
                        name: document.name,
                        // A new document version changes this input, so the association runs again.
                        documentVersion: document.latestVersion,
                        targets: [{ key: "InstanceIds", values: [args.instanceId] }],
                        waitForSuccessTimeoutSeconds: args.waitSeconds ?? 600,
                        tags: args.tags,
                    },
                    // Not before the host has the tools the follow-up commands call (cloud-init installs them).
                    { parent: this, dependsOn: args.after },
                ),
            );
        }
        this.registerOutputs({ digests: this.installed.map((i) => i.digest) });
    }
}
