/**
 * The host files' installer: the real script, run under a scratch root, for the real stack's files;
 * and the SSM document that carries it, within AWS's 64 KB.
 */
import { spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeEach, describe, expect, it } from "vitest";
import { AWS_LIMITS, bytesOf } from "../components/aws-limits";
import { documentContent, filesDigest, gzipFixed, HostFile, installScript } from "../components/host-files";
import { installedFiles, ofType, one, planStack } from "./helpers/plan";
import { HOST_FILES_MARKERS } from "../topology/host/layout";

const ROOT = path.join(__dirname, "..");
let dir: string;
beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-files-"));
});

/** The parts of the staging stack's host files, as their documents carry them. */
async function stackParts(): Promise<{ part: string; content: string; script: string }[]> {
    // The installers' documents (the diagnostics' own documents are no host files).
    return ofType(await planStack("staging"), "aws:ssm/document:Document").filter((doc) => doc.name.endsWith("-document")).map((doc) => {
        const content = doc.inputs.content as string;
        return { part: doc.name.replace(/^sofia-host-files-|-document$/g, ""), content, script: JSON.parse(content).mainSteps[0].inputs.runCommand[0] };
    });
}

function install(script: string, root: string) {
    const file = path.join(dir, `install-${Math.random()}.sh`);
    fs.writeFileSync(file, script);
    return spawnSync("bash", [file], { env: { ...process.env, HOST_FILES_ROOT: root, PATH: "/usr/bin:/bin" }, encoding: "utf8" });
}

describe("the host files' installer", () => {
    it("installs every file of the real stack exactly, with its mode, then each part's digest marker; twice is harmless", async () => {
        const parts = await stackParts();
        expect(parts.map((p) => p.part).sort()).toEqual(["backups", "capacity", "certificate", "deploy-key", "diagnostics", "grafana", "maintenance", "monitoring", "services"]);
        const root = path.join(dir, "root");
        for (const { part, script } of parts) {
            const file = path.join(dir, `install-${part}.sh`);
            fs.writeFileSync(file, script);
            expect(spawnSync("shellcheck", [file], { encoding: "utf8" }).stdout, part).toBe("");
            const r = install(script, root);
            expect(r.stderr, part).toBe("");
            expect(r.status, part).toBe(0);
            expect(r.stdout.trim().split("\n").every((l) => l.startsWith("installed /")), part).toBe(true);
            expect(fs.readFileSync(path.join(root, HOST_FILES_MARKERS, `${part}.sha256`), "utf8").trim(), part).toMatch(/^[0-9a-f]{64}$/);
            expect(install(script, root).status, part).toBe(0);
        }
        expect(fs.readFileSync(path.join(root, "usr/local/sbin/sofia-services"), "utf8")).toBe(fs.readFileSync(path.join(ROOT, "host", "sofia-services.sh"), "utf8"));
        expect(fs.readFileSync(path.join(root, "usr/local/sbin/sofia-restore"), "utf8")).toBe(fs.readFileSync(path.join(ROOT, "host", "sofia-restore.sh"), "utf8"));
        expect(fs.readFileSync(path.join(root, "usr/local/lib/sofia/sofia-ops.sh"), "utf8")).toBe(fs.readFileSync(path.join(ROOT, "host", "sofia-ops.sh"), "utf8"));
        expect((fs.statSync(path.join(root, "usr/local/sbin/sofia-backup")).mode & 0o777).toString(8)).toBe("755");
        expect((fs.statSync(path.join(root, "etc/sofia/services.tsv")).mode & 0o777).toString(8)).toBe("644");
        expect(fs.readdirSync(path.join(root, "etc/sofia")).filter((f) => f.endsWith(".host-files-new"))).toEqual([]);
        // The deploy user's key, closed to others (sshd refuses a key file others can write).
        expect(fs.readFileSync(path.join(root, "home/sofia-deploy/.ssh/authorized_keys"), "utf8")).toMatch(/^ssh-ed25519 \S+/);
        expect((fs.statSync(path.join(root, "home/sofia-deploy/.ssh/authorized_keys")).mode & 0o777).toString(8)).toBe("600");
    });

    it("rotates the deploy key: a new key replaces the old one, and changes no user data (no stop and start)", async () => {
        const NEW = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEWKEYNEWKEYNEWKEYNEWKEYNEWKEYNEWKEYNEWKE rotated";
        const before = await planStack("staging");
        const after = await planStack("staging", [`sshPublicKey=${NEW}`]);
        const userData = (p: typeof before) => one(p, "aws:ec2/instance:Instance").inputs.userData;
        expect(userData(after)).toBe(userData(before));
        const keyScript = (p: typeof before) => installedFiles(p).find((f) => f.path === "/home/sofia-deploy/.ssh/authorized_keys")!.content;
        expect(keyScript(after)).toBe(`${NEW}\n`);
        expect(keyScript(after)).not.toContain(keyScript(before).trim());
        // The Docker provider logs in only once this update's key is in place.
        const provider = one(after, "pulumi:providers:docker");
        expect(provider.dependsOn.some((u) => u.endsWith("sofia-host-deploy-key-ready-run"))).toBe(true);
    });

    it("writes the digest of exactly what it installs: another file set, another digest", () => {
        const files: HostFile[] = [{ path: "/etc/a", content: "one\n" }];
        const root = path.join(dir, "root");
        expect(install(installScript(files, [], "/m"), root).status).toBe(0);
        expect(fs.readFileSync(path.join(root, "m"), "utf8").trim()).toBe(filesDigest(files));
        expect(filesDigest([{ path: "/etc/a", content: "two\n" }])).not.toBe(filesDigest(files));
        expect(filesDigest([{ path: "/etc/a", content: "one\n", mode: "0755" }])).not.toBe(filesDigest(files));
        expect(filesDigest(files, ["systemctl daemon-reload"])).not.toBe(filesDigest(files));
    });

    it("installs nothing when any file arrives damaged: steps keep waiting for their version", () => {
        const root = path.join(dir, "root");
        const good = installScript([{ path: "/etc/a", content: "a\n" }, { path: "/etc/b", content: "b\n" }], [], "/m");
        // The same number of bytes, one changed: /etc/b no longer has the SHA-256 it was sent with.
        const damaged = gzipFixed(Buffer.from("a\nc\n")).toString("base64");
        const r = install(good.replace(/(<<'EOF'\n)[\s\S]*?\nEOF\n/, `$1${damaged}\nEOF\n`), root);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("host-files: /etc/b does not have the SHA-256 it was sent with; nothing was installed");
        expect(fs.existsSync(path.join(root, "etc/a"))).toBe(false);
        expect(fs.existsSync(path.join(root, "m"))).toBe(false);
        expect(install(good, root).status).toBe(0);
        expect(fs.readFileSync(path.join(root, "etc/b"), "utf8")).toBe("b\n");
    });

    it("replaces a script by renaming, so a copy that is running goes on with the old text", async () => {
        const root = path.join(dir, "root");
        const target = path.join(root, "usr/local/sbin/slow");
        expect(install(installScript([{ path: "/usr/local/sbin/slow", content: "#!/bin/bash\nsleep 1\necho old-version-line-two\n", mode: "0755" }]), root).status).toBe(0);
        const running = spawn("bash", [target]);
        let out = "";
        running.stdout.on("data", (d) => (out += d));
        await new Promise((r) => setTimeout(r, 300));
        expect(install(installScript([{ path: "/usr/local/sbin/slow", content: "#!/bin/bash\nsleep 1\necho NEW\n", mode: "0755" }]), root).status).toBe(0);
        await new Promise((r) => running.on("close", r));
        expect(out).toBe("old-version-line-two\n");
        expect(fs.readFileSync(target, "utf8")).toContain("echo NEW");
    });

    it("refuses a relative path, a path with shell characters, or a bad mode", () => {
        expect(() => installScript([{ path: "etc/x", content: "" }])).toThrow(/"etc\/x" is not absolute/);
        expect(() => installScript([{ path: "/etc/$(reboot)", content: "" }])).toThrow(/is not absolute, or has characters/);
        expect(() => installScript([{ path: "/etc/x", content: "", mode: "755" }])).toThrow(/not an octal mode/);
    });
});

describe("the installer document within SSM's 64 KB", () => {
    it("carries each part of the real stack's files compressed, each with room to grow", async () => {
        for (const { part, content } of await stackParts()) {
            expect(bytesOf(content), part).toBeLessThan(AWS_LIMITS.ssmDocumentBytes.max * 0.6);
            expect(JSON.parse(content).description, part).toMatch(/^Install \d+ host files \(digest [0-9a-f]{12}\)$/);
        }
    });

    it("is refused before anything is declared when the files would not fit, naming the largest", () => {
        // Random bytes hardly compress: 48 KiB of them in base64 cannot fit once sent as gzip in base64 again.
        const files: HostFile[] = [
            { path: "/etc/small", content: "x\n" },
            { path: "/usr/local/sbin/huge", content: randomBytes(48 * 1024).toString("base64") },
        ];
        expect(() => documentContent(files, [], "/m")).toThrow(/over SSM's limit of 65536; compressed sizes alone, largest first: \/usr\/local\/sbin\/huge \d+, \/etc\/small \d+/);
        expect(() => documentContent([files[0]], [], "/m")).not.toThrow();
    });

    it("is the same from any machine: no time or OS in the compressed bytes", () => {
        const files: HostFile[] = [{ path: "/etc/a", content: "same\n" }];
        expect(installScript(files)).toBe(installScript(files));
        const b64 = /<<'EOF'\n([\s\S]*?)\nEOF\n/.exec(installScript(files))![1].replace(/\n/g, "");
        const gz = Buffer.from(b64, "base64");
        expect(gz.readUInt32LE(4)).toBe(0);
        expect(gz[9]).toBe(3);
    });
});
