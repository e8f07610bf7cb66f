/**
 * cloud-config user data, built as data and rendered once, so that it is valid YAML by
 * construction and can be checked with `cloud-init schema` in the tests.
 */
import { stringify } from "yaml";

export interface CloudConfigFile {
    path: string;
    content: string;
    /** Octal mode as a string, e.g. "0755". */
    permissions?: string;
    owner?: string;
}

export interface CloudConfigUser {
    name: string;
    groups?: string[];
    shell?: string;
    sshAuthorizedKeys?: string[];
}

export interface CloudConfig {
    /** Groups to create before users are added to them. */
    groups?: string[];
    users?: CloudConfigUser[];
    packages?: string[];
    writeFiles?: CloudConfigFile[];
    /** Commands run once, in order, at the end of first boot. Each is an argv list (no shell). */
    runcmd?: string[][];
}

/** Renders the document with cloud-init's own key names and the mandatory `#cloud-config` header. */
export function renderCloudConfig(doc: CloudConfig): string {
    const body: Record<string, unknown> = {};
    if (doc.groups?.length) body.groups = doc.groups;
    if (doc.users?.length) {
        body.users = [
            "default",
            ...doc.users.map((u) => ({
                name: u.name,
                ...(u.groups ? { groups: u.groups.join(", ") } : {}),
                shell: u.shell ?? "/bin/bash",
                lock_passwd: true,
                ...(u.sshAuthorizedKeys ? { ssh_authorized_keys: u.sshAuthorizedKeys } : {}),
            })),
        ];
    }
    if (doc.packages?.length) {
        body.package_update = true;
        body.packages = doc.packages;
    }
    if (doc.writeFiles?.length) {
        body.write_files = doc.writeFiles.map((f) => ({
            path: f.path,
            content: f.content,
            owner: f.owner ?? "root:root",
            permissions: f.permissions ?? "0644",
        }));
    }
    if (doc.runcmd?.length) body.runcmd = doc.runcmd;
    return "#cloud-config\n" + stringify(body, { lineWidth: 0 });
}
