import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { Io, main } from "../scripts/plan-cli";
import { runOffline } from "../plan/offline";
import { readStackConfig } from "../plan/stack-config";

const ROOT = path.join(__dirname, "..");

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = "";
    let err = "";
    const io: Io = { out: (s) => (out += s), err: (s) => (err += s) };
    const code = await main(args, io);
    return { code, out, err };
}

/** A resource type the double answers like any other; only the program below uses it. */
class Probe extends pulumi.CustomResource {
    constructor(name: string, props: Record<string, pulumi.Input<unknown>>, opts?: pulumi.CustomResourceOptions) {
        super("test:index:Probe", name, props, opts);
    }
}

describe("npm run plan -- --json", () => {
    it("prints one valid JSON document with the host and every field the format promises", async () => {
        const { code, out, err } = await cli(["--stack", "staging", "--json"]);
        expect(err).toBe("");
        expect(code).toBe(0);
        const doc = JSON.parse(out);
        expect(doc.stack).toBe("staging");
        const instance = doc.resources.find((r: any) => r.type === "aws:ec2/instance:Instance");
        expect(instance).toBeDefined();
        for (const r of doc.resources) expect(Object.keys(r).sort()).toEqual(["custom", "dependsOn", "inputs", "name", "options", "parent", "type", "urn"]);
        // The guards a reviewer must see: the bucket outlives the stack.
        expect(doc.resources.find((r: any) => r.type === "aws:s3/bucket:Bucket").options.retainOnDelete).toBe(true);
        const host = doc.resources.find((r: any) => r.urn === instance.parent);
        expect(host.type).toBe("sofia:host:Host");
        expect(doc.outputs.endpoints.api).toBe("https://sofia-staging.company.com:8013");
    });

    it("applies --set overrides for this plan only", async () => {
        const changed = JSON.parse((await cli(["--json", "--set", "instanceType=m6i.large", "--set", "alarms.apiP95Ms=120"])).out);
        expect(changed.resources.find((r: any) => r.type === "aws:ec2/instance:Instance").inputs.instanceType).toBe("m6i.large");
        const again = JSON.parse((await cli(["--json"])).out);
        expect(again.resources.find((r: any) => r.type === "aws:ec2/instance:Instance").inputs.instanceType).toBe("t3.large");
    });

    it("exits 1 with every settings problem on stderr when the stack file is invalid", async () => {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "stack-")), "Pulumi.broken.yaml");
        fs.writeFileSync(file, fs.readFileSync(path.join(ROOT, "Pulumi.staging.yaml"), "utf8").replace("sofia:instanceType: t3.large", "sofia:instanceType: huge\n  sofia:retentionDays: 3"));
        const { code, out, err } = await cli(["--stack", "broken", "--stack-file", file]);
        expect(code).toBe(1);
        expect(out).toBe("");
        expect(err).toContain(`sofia:instanceType: "huge" is not allowed`);
        expect(err).toContain("sofia:retentionDays: unknown setting");
    });

    it("exits 1 naming the known stacks when the stack does not exist", async () => {
        const { code, err } = await cli(["--stack", "qa"]);
        expect(code).toBe(1);
        expect(err).toMatch(/no stack file .*Pulumi\.qa\.yaml; known stacks: prod, staging/);
    });

    it("exits 2 on an unknown option, in one line naming it with the usage", async () => {
        const { code, err } = await cli(["--stak", "prod"]);
        expect(code).toBe(2);
        expect(err).toMatch(/^plan: Unknown option '--stak'.*usage: npm run plan -- .*\n$/);
        expect(err.trim().split("\n")).toHaveLength(1);
    });
});

describe("the plan machinery", () => {
    it("masks secrets in inputs and outputs, wherever they are nested", async () => {
        const plan = await runOffline({
            project: "sofia",
            stack: "unit",
            config: new Map(),
            program: () => {
                const p = new Probe("p", { password: pulumi.secret("hunter2"), nested: { token: pulumi.secret("tok-42"), plain: "visible" } });
                return { password: pulumi.secret("hunter2"), id: p.id };
            },
        });
        const text = JSON.stringify(plan);
        expect(text).not.toContain("hunter2");
        expect(text).not.toContain("tok-42");
        const probe = plan.resources.find((r) => r.type === "test:index:Probe")!;
        // The SDK marks an object secret as a whole when any field of it is: masked as a whole.
        expect(probe.inputs).toEqual({ password: "[secret]", nested: "[secret]" });
        expect(plan.outputs.password).toBe("[secret]");
    });

    it("records dependsOn from resource options, as URNs", async () => {
        const plan = await runOffline({
            project: "sofia",
            stack: "unit",
            config: new Map(),
            program: () => {
                const a = new Probe("a", {});
                const b = new Probe("b", {});
                new Probe("c", {}, { dependsOn: [a, b] });
                new Probe("d", {}, { dependsOn: pulumi.output(a) as unknown as pulumi.Input<pulumi.Resource> });
            },
        });
        const urn = (n: string) => plan.resources.find((r) => r.name === n)!.urn;
        expect(plan.resources.find((r) => r.name === "c")!.dependsOn).toEqual([urn("a"), urn("b")]);
        expect(plan.resources.find((r) => r.name === "d")!.dependsOn).toEqual([urn("a")]);
        expect(plan.resources.find((r) => r.name === "a")!.dependsOn).toEqual([]);
    });

    it("treats secure: values in a stack file as secrets it cannot read", () => {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "stack-")), "Pulumi.s.yaml");
        fs.writeFileSync(file, "config:\n  sofia:oncallEndpoint:\n    secure: AAABAxyz\n  sofia:rootVolumeGb: 40\n");
        const config = readStackConfig("s", file);
        expect(config.get("sofia:oncallEndpoint")).toEqual({ value: "[secret: encrypted, not readable offline]", secret: true });
        expect(config.get("sofia:rootVolumeGb")).toEqual({ value: "40", secret: false });
    });

    it("keeps a --set-secret value out of everything it prints", async () => {
        const { code, out } = await cli(["--json", "--set-secret", "oncallEndpoint=https://events.example.com/very-secret-key"]);
        expect(code).toBe(0);
        expect(out).not.toContain("very-secret-key");
    });
});

describe("the real command", () => {
    it("npm run plan -- --stack prod prints the plan and exits 0", () => {
        const r = spawnSync("npm", ["run", "--silent", "plan", "--", "--stack", "prod"], { cwd: ROOT, encoding: "utf8" });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/Offline plan of stack "prod"/);
        expect(r.stdout).toMatch(/instanceType=m6i\.xlarge/);
    });

    it("stops quietly when its reader leaves early (npm run plan | head)", () => {
        const r = spawnSync("bash", ["-c", "set -o pipefail; npm run --silent plan -- --stack prod | head -1"], { cwd: ROOT, encoding: "utf8" });
        expect(r.stdout).toMatch(/^Offline plan of stack "prod"/);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
    });

    it("exits 1 with the problem on stderr for an invalid override", () => {
        const r = spawnSync("npm", ["run", "--silent", "plan", "--", "--set", "rootVolumeGb=5"], { cwd: ROOT, encoding: "utf8" });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("sofia:rootVolumeGb: 5 is not allowed");
    });
});
