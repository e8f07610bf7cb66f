/**
 * Promotion: the release staging deployed and verified, written into Pulumi.prod.yaml and nothing
 * else, with the file's comments and order kept. Rollback is the same, from an earlier verified
 * release's outputs.
 */
import { isDeepStrictEqual } from "util";
import { parse, parseDocument } from "yaml";
import { isPinnedByDigest } from "../components/formats";
import { NAMESPACE } from "../model/settings";
import { ReadOutputs, VerifiedRelease } from "./outputs";

/** What `pulumi stack output --json` gives for the fields promotion reads. */
export type StagingOutputs = Pick<ReadOutputs, "release" | "verifiedRelease">;

/** What `pulumi stack output --stack prod --json` gives for what a rollback checks. */
export type ProdOutputs = Pick<ReadOutputs, "verifiedRelease">;

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

const DEPLOY = `${NAMESPACE}:deploy`;

/**
 * The release staging verified, written into the prod stack file: the apps' images, and every
 * other image (stores, proxy) where prod's would differ from it (`defaults`: the catalog's, for
 * images the file does not set). A rollback also writes its id (deploy.rollbackId), which makes
 * prod's update a full release deploy.
 */
export function promote(prodYaml: string, outputs: StagingOutputs, releaseNames: readonly string[], defaults: Record<string, string> = {}, rollbackId?: string): Promotion {
    const promotedCommit = rollbackId === undefined ? outputs.verifiedRelease?.commit : undefined;
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
    // Apps always written; the others only where prod would otherwise run something else.
    const wanted: Record<string, string> = { ...(verified.images ?? {}), ...verified.release };
    for (const n of Object.keys(wanted).sort()) {
        const from = doc.getIn(["config", IMAGES, n]) as string | undefined;
        if ((from ?? (names.includes(n) ? undefined : defaults[n])) === wanted[n]) continue;
        doc.setIn(["config", IMAGES, n], wanted[n]);
        changes.push({ service: n, from, to: wanted[n] });
    }
    if (rollbackId !== undefined) doc.setIn(["config", DEPLOY, "rollbackId"], rollbackId);
    // The schema contract staging verified goes with its release (a rollback keeps prod's: its stores do).
    const schemaBefore = doc.getIn(["config", DEPLOY, "schema"]);
    const schema = rollbackId === undefined ? verified.schema : undefined;
    if (schema && !isDeepStrictEqual(parse(JSON.stringify(schemaBefore ?? null)), schema)) {
        doc.setIn(["config", DEPLOY, "schema"], doc.createNode(schema));
        changes.push({ service: "(schema)", from: schemaBefore === undefined ? undefined : JSON.stringify(schemaBefore), to: JSON.stringify(schema) });
    }
    // What prod's deploy holds its code to: the commit staging verified, and this promotion soaked.
    const promotedBefore = doc.getIn(["config", DEPLOY, "promotedCommit"]) as string | undefined;
    if (promotedCommit !== undefined && /^[0-9a-f]{40}$/.test(promotedCommit) && promotedBefore !== promotedCommit) {
        doc.setIn(["config", DEPLOY, "promotedCommit"], promotedCommit);
        changes.push({ service: "(code)", from: promotedBefore, to: promotedCommit });
    }
    // No folding: long values (an SSH key) stay on their line, as written.
    const text = doc.toString({ lineWidth: 0 });
    // Only the release may differ: anything else would be a promotion doing more than it says.
    const strip = (c: Record<string, any>) => {
        const copy = structuredClone(c);
        for (const n of Object.keys(wanted)) delete copy.config?.[IMAGES]?.[n];
        if (copy.config?.[IMAGES] && Object.keys(copy.config[IMAGES]).length === 0) delete copy.config[IMAGES];
        delete copy.config?.[DEPLOY]?.rollbackId;
        delete copy.config?.[DEPLOY]?.promotedCommit;
        delete copy.config?.[DEPLOY]?.schema;
        if (copy.config?.[DEPLOY] && Object.keys(copy.config[DEPLOY]).length === 0) delete copy.config[DEPLOY];
        return copy;
    };
    if (!isDeepStrictEqual(strip(before), strip(parse(text)))) throw new PromotionError("the promotion would change Pulumi.prod.yaml beyond the release; refusing");
    return { text, changes, verifiedAt: verified.verifiedAt };
}

/** The same release: the same images (every one, where both record them) and the same commit, where both record it. */
function sameRelease(a: Omit<VerifiedRelease, "history">, b: Omit<VerifiedRelease, "history">): boolean {
    const images = a.images && b.images ? isDeepStrictEqual(a.images, b.images) : isDeepStrictEqual(a.release, b.release);
    return images && (a.commit === undefined || b.commit === undefined || a.commit === b.commit);
}

/**
 * A rollback goes back, and only back: its target is a release prod itself verified (its history,
 * prod's last verified one included, after a failed deploy of a newer release). A newer release is
 * a promotion, with its soak; a rollback asks none. And it goes back only where the data can
 * follow: an app built for a schema older than the oldest the stores' schema is readable by is
 * refused, with the backup from before that migration as the way back (restore.from).
 * Outputs of an older version keep no history: the target must then be older than prod's release.
 */
export function checkRollback(target: StagingOutputs, prod: ProdOutputs): void {
    const current = prod.verifiedRelease?.verifiedAt;
    if (!current) throw new PromotionError("prod's outputs hold no verified release: there is nothing to roll back from (a release reaches prod by promotion, with its soak)");
    const to = target.verifiedRelease?.verifiedAt;
    if (!to) throw new PromotionError("the rollback target is not a verified release (no verifiedRelease.verifiedAt in its outputs)");
    const history = prod.verifiedRelease!.history;
    if (history) {
        const at = history.findIndex((h) => sameRelease(h, target.verifiedRelease!));
        if (at < 0) {
            const known = history.map((h) => `${h.verifiedAt} (${h.commit?.slice(0, 12) ?? "?"})`).join(", ");
            throw new PromotionError(`--rollback goes back only to a release prod itself verified; the one verified at ${to} is not in prod's history (${known}). A release reaches prod first by promotion, with its soak`);
        }
        checkSchemaFollows(history, at, prod.verifiedRelease!.schema);
        return;
    }
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

/**
 * The stores keep their schema through a rollback: the target's app must read it. Its schema is
 * what prod recorded when it verified it; the way back otherwise is the backup taken before the
 * first deploy that left it behind.
 */
function checkSchemaFollows(history: NonNullable<VerifiedRelease["history"]>, at: number, current: VerifiedRelease["schema"]): void {
    if (!current) return;
    const target = history[at];
    const built = target.schema?.version;
    if (built !== undefined && built >= current.oldestCompatible) return;
    // Oldest first, the deploys after the target: the first whose schema its app cannot read.
    const past = history.slice(0, at).reverse().find((h) => !h.schema || built === undefined || h.schema.oldestCompatible > built);
    const way = past?.preDeployBackup
        ? ` The way back is the data from before that deploy (${past.verifiedAt}): its pre-deploy backup, pulumi config set --path restore.from ${past.preDeployBackup} and restore.confirm prod, with this rollback (data written since is lost).`
        : " No pre-deploy backup of that deploy is recorded: choose a backup from before it (sofia-backup list) for restore.from.";
    const why = built === undefined ? `prod recorded no schema for the release verified at ${target.verifiedAt}, so it cannot be known to read` : `the release verified at ${target.verifiedAt} is built for schema ${built}, older than`;
    throw new PromotionError(`--rollback refused: ${why} the stores' schema ${current.version} (readable by apps of schema ${current.oldestCompatible} and newer).${way}`);
}

/**
 * Prod runs exactly what staging verified: the same images, every one of them, and the same code
 * (staging's verified commit against the commit being deployed, but for the prod stack file). A
 * rollback (a new deploy.rollbackId against prod's last) is the exception: it goes back, by
 * checkRollback at promotion, to images prod itself verified.
 */
export function checkDeployIsVerified(staging: StagingOutputs, prodImages: Record<string, string>, codeChanges: (commit: string) => string[] | undefined): void {
    const verified = staging.verifiedRelease;
    if (!verified?.verifiedAt) throw new PromotionError("staging has no verified release: nothing prod may run yet");
    if (!verified.images || !verified.commit) throw new PromotionError("staging's verified release does not record its images and commit (outputs of an older version): deploy staging again, then promote");
    const differ = Object.keys({ ...verified.images, ...prodImages })
        .sort()
        .filter((n) => verified.images![n] !== prodImages[n])
        .map((n) => `${n}: prod ${prodImages[n] ?? "(none)"}, staging verified ${verified.images![n] ?? "(none)"}`);
    if (differ.length) throw new PromotionError(`prod's images are not the ones staging verified at ${verified.verifiedAt}: ${differ.join("; ")}. Promote again (npm run promote)`);
    if (verified.commit.endsWith("+dirty")) throw new PromotionError(`staging verified code no commit holds (${verified.commit}): deploy staging from a commit`);
    const changed = codeChanges(verified.commit);
    if (changed === undefined) throw new PromotionError(`staging's verified commit ${verified.commit} is not in this checkout: fetch the history (fetch-depth: 0)`);
    if (changed.length) {
        throw new PromotionError(`the code differs from the commit staging verified (${verified.commit.slice(0, 12)}) in ${changed.length} file(s): ${changed.slice(0, 10).join(", ")}${changed.length > 10 ? ", ..." : ""}. Let staging deploy and verify this commit, then promote`);
    }
}
