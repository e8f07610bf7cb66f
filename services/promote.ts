/**
 * Promotion: the release staging deployed and verified, written into Pulumi.prod.yaml and nothing
 * else, with the file's comments and order kept. Rollback is the same, from an earlier verified
 * release's outputs.
 */
import { isDeepStrictEqual } from "util";
import { parse, parseDocument } from "yaml";
import { isPinnedByDigest } from "../components/formats";
import { NAMESPACE } from "./settings";

/** What `pulumi stack output --json` gives for the fields promotion reads. */
export interface StagingOutputs {
    release?: Record<string, string>;
    verifiedRelease?: { release: Record<string, string>; verifiedAt: string | null };
}

/** What `pulumi stack output --stack prod --json` gives for what a rollback checks. */
export interface ProdOutputs {
    verifiedRelease?: { release: Record<string, string>; verifiedAt: string | null };
}

export class PromotionError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "PromotionError";
    }
}

export interface Promotion {
    /** The new Pulumi.prod.yaml. */
    text: string;
    changes: { service: string; from: string | undefined; to: string }[];
    verifiedAt: string;
}

const IMAGES = `${NAMESPACE}:images`;

export function promote(prodYaml: string, outputs: StagingOutputs, releaseNames: readonly string[]): Promotion {
    const verified = outputs.verifiedRelease;
    if (!verified?.verifiedAt) throw new PromotionError("staging's release is not verified (no verifiedRelease.verifiedAt in its outputs): deploy it to staging and let verification pass first");
    if (outputs.release && !isDeepStrictEqual(outputs.release, verified.release)) {
        throw new PromotionError("staging's current release is not the one it verified: wait for staging's deploy to finish and verify");
    }
    const names = Object.keys(verified.release).sort();
    const expected = [...releaseNames].sort();
    if (!isDeepStrictEqual(names, expected)) {
        throw new PromotionError(`the verified release names ${names.join(", ")}; a release is exactly ${expected.join(", ")}`);
    }
    const unpinned = names.filter((n) => !isPinnedByDigest(verified.release[n]));
    if (unpinned.length) throw new PromotionError(`prod runs only images pinned by digest; not pinned: ${unpinned.map((n) => `${n} (${verified.release[n]})`).join(", ")}`);

    const doc = parseDocument(prodYaml);
    if (!doc.hasIn(["config", IMAGES])) throw new PromotionError(`Pulumi.prod.yaml has no config.${IMAGES} to promote into`);
    const before = parse(prodYaml);
    const changes: Promotion["changes"] = [];
    for (const n of names) {
        const from = doc.getIn(["config", IMAGES, n]) as string | undefined;
        if (from === verified.release[n]) continue;
        doc.setIn(["config", IMAGES, n], verified.release[n]);
        changes.push({ service: n, from, to: verified.release[n] });
    }
    // No folding: long values (an SSH key) stay on their line, as written.
    const text = doc.toString({ lineWidth: 0 });
    // Only the release may differ: anything else would be a promotion doing more than it says.
    const strip = (c: Record<string, any>) => {
        const copy = structuredClone(c);
        for (const n of names) delete copy.config?.[IMAGES]?.[n];
        return copy;
    };
    if (!isDeepStrictEqual(strip(before), strip(parse(text)))) throw new PromotionError("the promotion would change Pulumi.prod.yaml beyond the release; refusing");
    return { text, changes, verifiedAt: verified.verifiedAt };
}

/**
 * A rollback goes back, and only back: its target was verified (in staging) before prod verified
 * the release it runs now, or is that very release (prod's own last verified one, after a failed
 * deploy of a newer release). A newer release is a promotion, with its soak; a rollback asks none.
 * (Prod keeps no history of its releases yet, so a release verified in staging while the current
 * one soaked, before prod verified it, still passes this check.)
 */
export function checkRollback(target: StagingOutputs, prod: ProdOutputs): void {
    const current = prod.verifiedRelease?.verifiedAt;
    if (!current) throw new PromotionError("prod's outputs hold no verified release: there is nothing to roll back from (a release reaches prod by promotion, with its soak)");
    const to = target.verifiedRelease?.verifiedAt;
    if (!to) throw new PromotionError("the rollback target is not a verified release (no verifiedRelease.verifiedAt in its outputs)");
    const [t, c] = [Date.parse(to), Date.parse(current)];
    if (Number.isNaN(t) || Number.isNaN(c)) throw new PromotionError(`cannot compare the times ${to} and ${current}: not ISO 8601`);
    // Back to the very release prod verified last (after a failed deploy of a newer one) is back.
    const same = isDeepStrictEqual(target.verifiedRelease?.release, prod.verifiedRelease?.release);
    if (t > c || (t === c && !same)) {
        throw new PromotionError(
            `--rollback to the release verified at ${to} would move prod forward: prod runs the release it verified at ${current}. A newer release goes to prod by promotion, with its soak (npm run promote without --rollback)`,
        );
    }
}
