import { describe, expect, it } from "vitest";
import { toJSONSchema } from "zod";
import { releaseServiceNames } from "../model/catalog";
import { ConfigValue, readSettings, SettingsError } from "../model/settings";
import { settingsSchema } from "../model/settings-schema";
import { stackSettings } from "../plan/stack-config";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKRiw9uK4mRIBIf1ZLvaCONfaETTv0o7k3j1UY7K+fbE test";

const releaseImages = Object.fromEntries(releaseServiceNames.map((n) => [n, `ghcr.io/sofia-v2/${n}:1.0.0`]));
/** The release plus these image references, as the `sofia:images` config value. */
const imagesWith = (extra: Record<string, string>) => JSON.stringify({ ...releaseImages, ...extra });

/** A minimal valid config; `extra` adds or replaces keys (values are config strings, as the engine passes them). */
function source(extra: Record<string, string | ConfigValue> = {}, drop: string[] = []): Map<string, ConfigValue> {
    const images = Object.fromEntries(releaseServiceNames.map((n) => [n, `ghcr.io/sofia-v2/${n}:1.0.0`]));
    const base: Record<string, string | ConfigValue> = {
        "aws:region": "eu-central-1",
        "sofia:sshPublicKey": KEY,
        "sofia:images": JSON.stringify(images),
        "sofia:registry": JSON.stringify({ address: "ghcr.io", username: "ci" }),
        ...extra,
    };
    for (const d of drop) delete base[d];
    return new Map(Object.entries(base).map(([k, v]) => [k, typeof v === "string" ? { value: v, secret: false } : v]));
}

function problems(extra: Record<string, string | ConfigValue>, drop: string[] = []): string[] {
    try {
        readSettings("sofia", "test", source(extra, drop));
    } catch (e) {
        expect(e).toBeInstanceOf(SettingsError);
        return (e as SettingsError).problems;
    }
    throw new Error("expected the settings to be rejected");
}

describe("settings defaults", () => {
    it("fills every documented default from a minimal config", () => {
        const s = readSettings("sofia", "test", source());
        expect(s.instanceType).toBe("t3.large");
        expect(s.zone).toBe("eu-central-1a");
        expect(s.dockerAccess).toBe("ssm");
        expect(s.clientCidrs).toEqual([]);
        expect(s.backup.retentionDays).toBe(30);
        expect(s.backup.schedule).toBe("cron(0 1 * * ? *)");
        expect(s.alarms).toMatchObject({ staleRatio: 0.1, apiP95Ms: 150, redisMemoryPercent: 80, diskPercent: 80, backupMaxAgeHours: 26 });
        expect(s.maintenance).toMatchObject({ weeklySchedule: "cron(0 2 ? * SUN *)", monthlySchedule: "cron(0 4 ? * SUN#1 *)", durationHours: 2 });
        expect(s.images.redis).toMatch(/^redis:\d/);
        expect(s.secrets).toEqual({});
    });

    it("documents every setting: each leaf of the schema has a description", () => {
        const json = toJSONSchema(settingsSchema, { io: "input" }) as any;
        const undocumented: string[] = [];
        const walk = (node: any, key: string) => {
            if (node.type === "object" && node.properties) {
                for (const [k, v] of Object.entries<any>(node.properties)) walk(v, key ? `${key}.${k}` : k);
            } else if (!node.description) undocumented.push(key);
        };
        walk(json, "");
        expect(undocumented).toEqual([]);
    });

    it("reads numbers and structured values the way the engine passes them (as text)", () => {
        const s = readSettings("sofia", "test", source({ "sofia:rootVolumeGb": "40", "sofia:alarms": '{"apiP95Ms": 200}' }));
        expect(s.rootVolumeGb).toBe(40);
        expect(s.alarms.apiP95Ms).toBe(200);
        expect(s.alarms.staleRatio).toBe(0.1);
    });

    it("pulls from Docker Hub without a login, and from any registry listed as public", () => {
        expect(readSettings("sofia", "test", source({ "sofia:images": imagesWith({ redis: "redis:7.4.2", proxy: "docker.io/library/nginx:1.27" }) })).images.redis).toBe("redis:7.4.2");
        const open = readSettings("sofia", "test", source({ "sofia:publicRegistries": '["docker.io", "ghcr.io"]' }, ["sofia:registry"]));
        expect(open.registry).toEqual({});
    });

    it("backs prod's Redis up every 15 minutes unless its settings say otherwise; other stacks only when asked", () => {
        const tls = { "sofia:proxy": JSON.stringify({ acme: { domain: "sofia.example.com", email: "ops@example.com" } }) };
        expect(readSettings("sofia", "prod", source({ ...tls, "sofia:restore": "{}", "sofia:backup": '{"objectLock": true}' })).backup.redisSchedule).toBe("rate(15 minutes)");
        expect(readSettings("sofia", "prod", source({ ...tls, "sofia:backup": '{"redisSchedule": "rate(5 minutes)", "objectLock": true}' })).backup.redisSchedule).toBe("rate(5 minutes)");
        expect(readSettings("sofia", "test", source()).backup.redisSchedule).toBeUndefined();
        expect(stackSettings("prod").backup).toMatchObject({ redisSchedule: "rate(15 minutes)", redisRetentionDays: 7 });
    });

    it("accepts both committed stack files", () => {
        for (const stack of ["staging", "prod"]) expect(stackSettings(stack).stack).toBe(stack);
    });
});

describe("settings errors name the key, the value and what is allowed", () => {
    const cases: [string, Record<string, string | ConfigValue>, RegExp, string[]?][] = [
        ["wrong type", { "sofia:rootVolumeGb": '"big"' }, /^sofia:rootVolumeGb: "big" is not allowed: expected number/],
        ["out of range", { "sofia:rootVolumeGb": "8" }, /^sofia:rootVolumeGb: 8 is not allowed: .*>=20/],
        ["unknown top-level key", { "sofia:instanceTipe": "t3.large" }, /^sofia:instanceTipe: unknown setting \(a typo\?\); allowed here: .*instanceType/],
        ["unknown nested key", { "sofia:alarms": '{"staleRatoi": 0.2}' }, /^sofia:alarms\.staleRatoi: unknown setting .*allowed here: .*staleRatio/],
        ["malformed CIDR", { "sofia:clientCidrs": '["10.0.0.0/33"]' }, /^sofia:clientCidrs\[0\]: "10\.0\.0\.0\/33" is not allowed: expected an IPv4 or IPv6 CIDR/],
        ["admin CIDR open to the world", { "sofia:adminCidrs": '["0.0.0.0/0"]' }, /^sofia:adminCidrs\[0\]: "0\.0\.0\.0\/0" is not allowed: an admin CIDR names trusted hosts: at most a \/16/],
        ["the internet in two halves as admin CIDRs", { "sofia:adminCidrs": '["0.0.0.0/1", "128.0.0.0/1"]' }, /^sofia:adminCidrs\[0\]: "0\.0\.0\.0\/1" is not allowed: .*internet in pieces/],
        ["half the IPv6 internet as an admin CIDR", { "sofia:adminCidrs": '["::/1"]' }, /^sofia:adminCidrs\[0\]: "::\/1" is not allowed: .*\/48/],
        ["a host address with a /0", { "sofia:clientCidrs": '["10.0.0.5/0"]' }, /^sofia:clientCidrs\[0\]: "10\.0\.0\.5\/0" is not allowed: host bits are set after the \/0: the block is 0\.0\.0\.0\/0; for one host write 10\.0\.0\.5\/32/],
        ["a secret under a name the check once missed", { "sofia:serviceEnv": '{"api": {"DB_PASSWD": "x"}}' }, /^sofia:serviceEnv\.api\.DB_PASSWD: .*looks like a secret/],
        ["malformed image reference", { "sofia:images": '{"api": "Not An Image"}' }, /^sofia:images\.api: "Not An Image" is not allowed: expected an image reference/],
        ["untagged image", { "sofia:images": '{"api": "ghcr.io/sofia-v2/api"}' }, /^sofia:images\.api: "ghcr\.io\/sofia-v2\/api" is not allowed: name a tag or a digest/],
        ["missing release image", {}, /^sofia:images\.api: missing/, ["sofia:images"]],
        ["unknown service image", { "sofia:images": '{"apii": "x/y:1"}' }, /^sofia:images\.apii: unknown setting .*allowed here: redis, questdb/],
        ["bad instance type", { "sofia:instanceType": "t3large" }, /^sofia:instanceType: "t3large" is not allowed: expected an EC2 instance type/],
        ["bad schedule", { "sofia:backup": '{"schedule": "cron(0 1 * * * *)"}' }, /^sofia:backup\.schedule: "cron\(0 1 \* \* \* \*\)" is not allowed: exactly one of day-of-month and day-of-week must be "\?"/],
        ["bad enum", { "sofia:dockerAccess": "telnet" }, /^sofia:dockerAccess: "telnet" is not allowed: expected one of "ssm", "admin-ssh"/],
        ["bad region", { "aws:region": "europe" }, /^aws:region: "europe" is not allowed/],
        ["missing region", {}, /^aws:region: missing/, ["aws:region"]],
        ["zone outside the region", { "sofia:availabilityZone": "us-east-1a" }, /^sofia:availabilityZone: "us-east-1a" is not allowed: it must be a zone of aws:region eu-central-1/],
        ["cross-field rule", { "sofia:dockerAccess": "admin-ssh" }, /^sofia:adminCidrs: \[\] is not allowed: dockerAccess is admin-ssh/],
        ["bad e-mail", { "sofia:escalation": '{"seniorEmails": ["not-mail"]}' }, /^sofia:escalation\.seniorEmails\[0\]: "not-mail" is not allowed: expected an e-mail address/],
        ["secret given in plain text", { "sofia:oncallEndpoint": "https://events.example.com/x" }, /^sofia:oncallEndpoint: must be set as a secret/],
        ["a private registry without credentials", {}, /^sofia:images\.metrics: "ghcr\.io\/sofia-v2\/metrics:1\.0\.0" is not allowed: it comes from ghcr\.io \(so do sofia:images\.crypto-ws, .*sofia:images\.ui\), which has no credentials: set sofia:registry\.address ghcr\.io and sofia:registry\.username/, ["sofia:registry"]],
        ["an image from a second private registry", { "sofia:images": imagesWith({ redis: "quay.io/org/redis:7.4.2" }) }, /^sofia:images\.redis: "quay\.io\/org\/redis:7\.4\.2" is not allowed: it comes from quay\.io, which has no credentials/],
        ["a registry without its user", { "sofia:registry": '{"address": "ghcr.io"}' }, /^sofia:registry\.username: .*set registry\.address and registry\.username together/],
        ["a registry that is not a host", { "sofia:registry": '{"address": "https://ghcr.io", "username": "ci"}' }, /^sofia:registry\.address: "https:\/\/ghcr\.io" is not allowed: expected a registry host/],
        ["a schedule on a day no month has", { "sofia:backup": '{"schedule": "cron(0 1 30 2 ? *)"}' }, /^sofia:backup\.schedule: "cron\(0 1 30 2 \? \*\)" is not allowed: it never fires: no month has that day/],
        ["a schedule only in a year gone by", { "sofia:maintenance": '{"weeklySchedule": "cron(0 2 ? * SUN 2020)"}' }, /^sofia:maintenance\.weeklySchedule: .*is not allowed: it never fires after/],
        ["Redis-only backups kept longer than full ones", { "sofia:backup": '{"retentionDays": 14, "redisRetentionDays": 30}' }, /^sofia:backup\.redisRetentionDays: 30 is not allowed: redisRetentionDays cannot be longer than retentionDays/],
        ["plain setting given as a secret", { "sofia:instanceType": { value: "t3.large", secret: true } }, /^sofia:instanceType: is not a secret setting/],
        ["a KMS alias instead of its key", { "sofia:backup": '{"kmsKeyArn": "arn:aws:kms:eu-central-1:123456789012:alias/backups"}' }, /^sofia:backup\.kmsKeyArn: .* is not allowed: expected a KMS key ARN .*aws kms describe-key --key-id alias/],
        ["an Object Lock mode S3 does not have", { "sofia:backup": '{"objectLockMode": "STRICT"}' }, /^sofia:backup\.objectLockMode: "STRICT" is not allowed: expected one of "GOVERNANCE", "COMPLIANCE"/],
        ["a data-loss acceptance naming another stack", { "sofia:acceptDataLoss": "prod" }, /^sofia:acceptDataLoss: "prod" is not allowed: it must name this stack, "test"/],
        ["a rollback id with spaces", { "sofia:deploy": '{"rollbackId": "roll back"}' }, /^sofia:deploy\.rollbackId: "roll back" is not allowed: letters, digits/],
        ["a prototype key inside a setting", { "sofia:alarms": '{"__proto__": {"staleRatio": 5}}' }, /^sofia:alarms\.__proto__: unknown setting/],
        ["a constructor key at the top", { "sofia:constructor": "x" }, /^sofia:constructor: unknown setting/],
        ["a namespace typo in a stack file", { "sofa:instanceType": "t3.large" }, /^sofa:instanceType: the namespace "sofa" is not one this stack reads/],
        ["a data volume too small", { "sofia:dataVolumeGb": "5" }, /^sofia:dataVolumeGb: 5 is not allowed: .*>=20/],
        ["a subnet id that is not one", { "sofia:subnetId": "subnet-xyz" }, /^sofia:subnetId: "subnet-xyz" is not allowed: expected a subnet id/],
    ];
    for (const [what, extra, expected, drop] of cases) {
        it(`rejects ${what}`, () => {
            const found = problems(extra, drop);
            expect(found.some((p) => expected.test(p)), `problems were:\n${found.join("\n")}`).toBe(true);
        });
    }

    it("holds at least 40 bad inputs, each with the message it must give", () => {
        expect(cases.length).toBeGreaterThanOrEqual(40);
    });

    it("keeps prod's backups a month at least, locked", () => {
        const prod = (extra: Record<string, string>) => {
            try {
                readSettings("sofia", "prod", source(extra));
                return [];
            } catch (e) {
                return (e as SettingsError).problems;
            }
        };
        expect(prod({ "sofia:backup": '{"retentionDays": 1, "redisRetentionDays": 1, "objectLock": true}' })).toContainEqual(expect.stringMatching(/^sofia:backup\.retentionDays: 1 is not allowed: prod keeps its backups at least 30 days/));
        expect(prod({ "sofia:backup": '{"objectLock": false}' })).toContainEqual(expect.stringMatching(/^sofia:backup\.objectLock: false is not allowed: prod's backups must be locked/));
        expect(prod({ "sofia:backup": '{"objectLock": true, "objectLockMode": "COMPLIANCE"}' }).filter((p) => p.includes("backup"))).toEqual([]);
    });

    it("reports every problem at once, one message each", () => {
        const found = problems({ "sofia:rootVolumeGb": "8", "sofia:instanceTipe": "x", "sofia:clientCidrs": '["nope"]' });
        expect(found).toHaveLength(3);
    });

    it("never prints a secret's value, even when it is invalid", () => {
        const found = problems({ "sofia:oncallEndpoint": { value: "http://hunter2.example.com", secret: true } });
        expect(found).toEqual(["sofia:oncallEndpoint: [secret] is not allowed: expected an https:// URL"]);
        expect(found.join("\n")).not.toContain("hunter2");
    });

    it("keeps a valid secret secret", async () => {
        const s = readSettings("sofia", "test", source({ "sofia:oncallEndpoint": { value: "https://events.example.com/abc", secret: true } }));
        const pulumi = await import("@pulumi/pulumi");
        expect(pulumi.Output.isInstance(s.secrets.oncallEndpoint)).toBe(true);
        expect(await (s.secrets.oncallEndpoint as any).isSecret).toBe(true);
    });
});
