import { describe, expect, it } from "vitest";
import { imageRefProblem, instanceTypeProblem, isPinnedByDigest, isWorldCidr, registryOf, scheduleNeverFires, scheduleProblem } from "../components/formats";

const DIGEST = "sha256:" + "a".repeat(64);

describe("scheduleProblem (AWS cron and rate expressions)", () => {
    it.each([
        "cron(0 2 ? * SUN *)",
        "cron(0 2 ? * SUN#1 *)",
        "cron(0 1 * * ? *)",
        "cron(15 10 ? * MON-FRI *)",
        "cron(0/15 * * * ? *)",
        "cron(0 18 L * ? *)",
        "cron(0 3 ? * 6L 2027)",
        "rate(1 day)",
        "rate(12 hours)",
    ])("accepts %s", (expr) => expect(scheduleProblem(expr)).toBeUndefined());

    it.each([
        ["0 2 * * SUN", /expected "cron\(/],
        ["cron(0 2 * * SUN)", /6 fields/],
        ["cron(0 2 * * SUN *)", /exactly one of day-of-month and day-of-week/],
        ["cron(0 2 ? * ? *)", /exactly one of day-of-month and day-of-week/],
        ["cron(60 2 ? * SUN *)", /minutes 60 is outside 0-59/],
        ["cron(0 24 ? * SUN *)", /hours 24 is outside 0-23/],
        ["cron(0 2 ? * SUN#6 *)", /day-of-week "SUN#6"/],
        ["cron(0 2 ? FOO SUN *)", /month "FOO"/],
        ["cron(0 ? ? * SUN *)", /only allowed in day-of-month or day-of-week/],
        ["rate(1 days)", /only with values above 1/],
        ["rate(2 day)", /only with 1/],
        ["rate(0 minutes)", /at least 1/],
    ])("rejects %s", (expr, message) => expect(scheduleProblem(expr)).toMatch(message));
});

describe("imageRefProblem", () => {
    it.each(["redis:7.4.2", "questdb/questdb:9.0.3", "ghcr.io/sofia-v2/api:2026.11.3", `ghcr.io/sofia-v2/api@${DIGEST}`, `registry.local:5000/a/b:1@${DIGEST}`])(
        "accepts %s",
        (ref) => expect(imageRefProblem(ref)).toBeUndefined(),
    );
    it.each([
        ["redis", /name a tag or a digest/],
        ["redis:latest", /not a release/],
        ["Redis:7", /expected an image reference/],
        ["ghcr.io/a/b:1@sha256:abc", /expected an image reference/],
        ["a b:1", /expected an image reference/],
    ])("rejects %s", (ref, message) => expect(imageRefProblem(ref)).toMatch(message));

    it("tells digest-pinned references apart", () => {
        expect(isPinnedByDigest(`a/b:1@${DIGEST}`)).toBe(true);
        expect(isPinnedByDigest("a/b:1")).toBe(false);
    });
});

describe("small formats", () => {
    it("knows EC2 instance types", () => {
        expect(instanceTypeProblem("t3.large")).toBeUndefined();
        expect(instanceTypeProblem("m7g.2xlarge")).toBeUndefined();
        expect(instanceTypeProblem("t3large")).toMatch(/EC2 instance type/);
    });
    it("knows the whole internet", () => {
        expect(isWorldCidr("0.0.0.0/0")).toBe(true);
        expect(isWorldCidr("::/0")).toBe(true);
        expect(isWorldCidr("10.0.0.0/8")).toBe(false);
    });
});

describe("registryOf (where Docker pulls an image reference from)", () => {
    it.each([
        ["redis:7.4.2", "docker.io"],
        ["questdb/questdb:9.3.5", "docker.io"],
        ["docker.io/library/nginx:1.27", "docker.io"],
        ["index.docker.io/library/nginx:1.27", "docker.io"],
        ["ghcr.io/sofia-v2/api:1.0.0", "ghcr.io"],
        ["registry.example.com:5000/team/app@" + DIGEST, "registry.example.com:5000"],
        ["localhost/app:1", "localhost"],
        ["localhost:5000/app:1", "localhost:5000"],
    ])("%s comes from %s", (ref, host) => {
        expect(registryOf(ref)).toBe(host);
    });
});

describe("scheduleNeverFires (a schedule that AWS accepts but that will never run)", () => {
    const now = new Date("2026-12-02T12:00:00Z");
    it.each([
        ["cron(0 1 * * ? *)"],
        ["cron(0 2 ? * SUN *)"],
        ["cron(0 4 ? * SUN#1 *)"],
        ["cron(0 4 ? * 1#1 *)"],
        ["cron(0 1 L * ? *)"],
        ["cron(0 1 15W * ? *)"],
        ["cron(0 1 29 2 ? *)"],
        ["cron(0 1 * * ? 2027)"],
        ["cron(0 1 * * ? 2020-2030)"],
        ["cron(0 1 ? * 5#5 *)"],
        ["rate(15 minutes)"],
    ])("%s fires", (expr) => {
        expect(scheduleNeverFires(expr, now)).toBeUndefined();
    });
    it.each([
        ["cron(0 1 30 2 ? *)", /no month has that day/],
        ["cron(0 1 31 4,6,9,11 ? *)", /no month has that day/],
        ["cron(0 1 * * ? 2020)", /never fires after 2026-12-02/],
        ["cron(0 1 29 2 ? 2027)", /never fires after 2026-12-02/],
        ["cron(0 1 1 1 ? 2026)", /never fires after 2026-12-02/],
    ])("%s never fires", (expr, why) => {
        expect(scheduleNeverFires(expr, now)).toMatch(why);
    });
});
