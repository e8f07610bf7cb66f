/**
 * The data volume and the backup bucket survive settings: a change that would replace either is
 * refused before anything is declared (the stack compares with its own last outputs), unless the
 * settings name the stack to accept the loss; both are protected resources besides.
 */
import { describe, expect, it } from "vitest";
import { ofType, one, planStack } from "./helpers/plan";
import { lastDeployFromFile } from "../plan/stack-config";
import { SettingsError } from "../model/settings";

async function refusal(overrides: string[], last?: Record<string, unknown>, stack = "prod"): Promise<string> {
    try {
        await planStack(stack, overrides, [], last ?? lastDeployFromFile(stack));
    } catch (e) {
        expect(e).toBeInstanceOf(SettingsError);
        return (e as Error).message;
    }
    return "";
}

describe("a change the stack's data would not survive", () => {
    it("is refused for a new zone, naming the safe way and the way to accept it", async () => {
        const said = await refusal(["availabilityZone=eu-central-1b"]);
        expect(said).toMatch(/sofia:availabilityZone: "eu-central-1b" is not allowed: the data volume is in eu-central-1a, and a new zone replaces it with every store on it/);
        expect(said).toContain("take a backup (sofia-backup run), create a new stack with the new setting, restore the backup into it (restore.from)");
        expect(said).toContain("pulumi config set acceptDataLoss prod");
    });

    it("is refused for a new subnet and for switching Object Lock", async () => {
        expect(await refusal(["subnetId=subnet-0abc12345def67890"])).toMatch(/sofia:subnetId: "subnet-0abc12345def67890" is not allowed \(was null\): a new subnet replaces the host/);
        // Staging: prod may not turn its lock off at all (its settings refuse it before this guard).
        expect(await refusal(["backup.objectLock=true"], undefined, "staging")).toMatch(/sofia:backup\.objectLock: true is not allowed \(was false\): .*replaces the backup bucket and deletes every backup in it/);
    });

    it("goes through when the settings name this stack, and only this one, warning while it is set", async () => {
        expect(await refusal(["availabilityZone=eu-central-1b", "acceptDataLoss=prod"])).toBe("");
        const plan = await planStack("prod", ["acceptDataLoss=prod"]);
        expect(plan.messages).toContainEqual(expect.stringMatching(/^warning: acceptDataLoss is set: .*pulumi config rm acceptDataLoss --stack prod/));
        expect(await refusal(["availabilityZone=eu-central-1b", "acceptDataLoss=staging"])).toMatch(/sofia:acceptDataLoss: "staging" is not allowed: it must name this stack, "prod"/);
    });

    it("is not asked of a first deploy, or of a stack whose outputs predate the record", async () => {
        expect(await refusal(["availabilityZone=eu-central-1b"], {})).toBe("");
        const { verifiedRelease } = lastDeployFromFile("prod");
        expect(await refusal(["availabilityZone=eu-central-1b"], { verifiedRelease })).toBe("");
    });

    it("is stopped by the engine too: the data volume and the bucket are protected", async () => {
        const plan = await planStack("prod");
        expect(one(plan, "aws:ebs/volume:Volume").options.protect).toBe(true);
        // The backup bucket, and its access logs (the record of who read the backups).
        const buckets = ofType(plan, "aws:s3/bucket:Bucket").filter((b) => b.urn.includes("::sofia:backup:"));
        expect(buckets).toHaveLength(2);
        for (const b of buckets) expect(b.options, b.name).toMatchObject({ protect: true, retainOnDelete: true });
        expect(plan.outputs.placement).toEqual({ zone: "eu-central-1a", subnetId: null, objectLock: true });
    });
});
