/**
 * Wrong or hostile input to `npm run plan`: one clear line naming the input, never a stack trace,
 * and nothing the input can reach beyond its own setting (no prototype, no file outside the project).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { main } from "../scripts/plan-cli";

async function plan(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out: out.join(""), err: err.join("") };
}

function stackFile(text: string): string {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sofia-stack-")), "Pulumi.x.yaml");
    fs.writeFileSync(file, text);
    return file;
}

describe("npm run plan given wrong or hostile input", () => {
    const cases: [string, string[], RegExp][] = [
        ["an unknown stack", ["--stack", "nope"], /^no stack file .*Pulumi\.nope\.yaml; known stacks: prod, staging\n$/],
        ["a stack name that climbs out of the project", ["--stack", "../../etc/x"], /^stack name "\.\.\/\.\.\/etc\/x" is not allowed/],
        ["a secret override named like an Object method", ["--set-secret", "toString=abc"], /sofia:toString: is not a secret setting/],
        ["an override that reaches a prototype", ["--set", "backup.__proto__.polluted=1"], /"__proto__" is not a setting name/],
        ["an override with no key", ["--set", "=1"], /--set expects key=value, got "=1"/],
        ["a field of a setting that is text", ["--set", "instanceType.x=1"], /sofia:instanceType holds text, not a mapping/],
        ["NaN", ["--set", "backup.retentionDays=.nan"], /backup\.retentionDays: "\.nan" is not a finite number/],
        ["an infinity inside a mapping", ["--set", "alarms={apiP95Ms: .inf}"], /is not a finite number/],
        ["a namespace typo", ["--set", "sofa:instanceType=t3.large"], /sofa:instanceType: the namespace "sofa" is not one this stack reads .*did you mean sofia:instanceType\?/],
        ["a secret with no key", ["--set-secret", "registryPassword ghp_NOT_TO_BE_SHOWN"], /^--set-secret expects key=value \(the value is not shown\)\n$/],
        ["all of IPv4 written as IPv6", ["--set", "adminCidrs=['::ffff:0:0/96']"], /adminCidrs\[0\]: "::ffff:0:0\/96" is not allowed: an IPv4-mapped IPv6 block/],
        ["a prefix with a leading zero", ["--set", "clientCidrs=['10.0.0.0/08']"], /clientCidrs\[0\]: "10\.0\.0\.0\/08" is not allowed: expected an IPv4 or IPv6 CIDR/],
        ["an IPv6 zone id", ["--set", "clientCidrs=['fe80::1%eth0/128']"], /clientCidrs\[0\]: "fe80::1%eth0\/128" is not allowed/],
    ];
    for (const [what, args, said] of cases) {
        it(`says what is wrong with ${what}, in one message`, async () => {
            const r = await plan(["--stack", "staging", ...args]);
            expect(r.code).toBe(1);
            expect(r.err).toMatch(said);
            expect(r.err).not.toMatch(/\n\s+at |TypeError/);
            expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        });
    }

    it("keeps a value as given where YAML would read it as other text (a # comment)", async () => {
        const r = await plan(["--stack", "staging", "--json", "--set", "serviceEnv={api: {GREETING: x}}", "--set", "serviceEnv.api.GREETING=hello #world"]);
        expect(r.code, r.err).toBe(0);
        expect(r.out).toContain("GREETING=hello #world");
        expect(r.err).not.toContain("NOT_TO_BE_SHOWN");
    });

    it("names the line of a duplicate key in a stack file", async () => {
        const r = await plan(["--stack-file", stackFile("config:\n  aws:region: eu-central-1\n  aws:region: eu-west-1\n")]);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(/is not valid YAML: Map keys must be unique at line 3/);
    });

    it("refuses NaN written in a stack file instead of reading it as null", async () => {
        const r = await plan(["--stack-file", stackFile("config:\n  sofia:backup:\n    retentionDays: .nan\n")]);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(/sofia:backup holds NaN or an infinity/);
    });
});
