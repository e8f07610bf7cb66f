/**
 * Where the stack's data lives, recorded in its outputs (`placement`) so that the next update can
 * refuse, before anything is declared, a change that would replace the data volume or the backup
 * bucket: a new zone or subnet moves the host and, with the zone, the volume and every store on
 * it; Object Lock can only be chosen when a bucket is created. The engine would replace them with
 * no more warning than a "+-" in the preview.
 */
import * as pulumi from "@pulumi/pulumi";
import { NAMESPACE, Settings } from "../../model/settings";
import { Placement } from "../../release/outputs";

export function placementOf(s: Settings): Placement {
    return { zone: s.zone, subnetId: s.subnetId ?? null, objectLock: s.backup.objectLock };
}

/** The setting that lets one update replace the data volume or the bucket: it names the stack. */
export const ACCEPT_DATA_LOSS = "acceptDataLoss";

const SAFE_WAY =
    "to move a stack's data: take a backup (sofia-backup run), create a new stack with the new setting, restore the backup into it (restore.from), and retire this one once it verifies";

/** One problem per change the stack's data would not survive, unless the settings accept the loss by naming the stack. */
export function placementProblems(previous: Placement | undefined, s: Settings): string[] {
    if (!previous || s.acceptDataLoss === s.stack) return [];
    const now = placementOf(s);
    const accept = `or, if this stack's data may be lost, pulumi config set ${ACCEPT_DATA_LOSS} ${s.stack} for this one update`;
    const problems: string[] = [];
    if (now.zone !== previous.zone) {
        problems.push(`${NAMESPACE}:availabilityZone: ${JSON.stringify(now.zone)} is not allowed: the data volume is in ${previous.zone}, and a new zone replaces it with every store on it; ${SAFE_WAY}; ${accept}`);
    }
    if (now.subnetId !== previous.subnetId) {
        problems.push(`${NAMESPACE}:subnetId: ${JSON.stringify(now.subnetId)} is not allowed (was ${JSON.stringify(previous.subnetId)}): a new subnet replaces the host, and one in another zone the data volume; ${SAFE_WAY}; ${accept}`);
    }
    if (now.objectLock !== previous.objectLock) {
        problems.push(`${NAMESPACE}:backup.objectLock: ${now.objectLock} is not allowed (was ${previous.objectLock}): Object Lock is chosen when a bucket is created, so switching it replaces the backup bucket and deletes every backup in it; ${SAFE_WAY.replace("take a backup (sofia-backup run), ", "")}; ${accept}`);
    }
    return problems;
}

/** This stack's placement from its last update's outputs; undefined before the first, or before outputs carried it. */
export async function previousPlacement(self: pulumi.StackReference): Promise<Placement | undefined> {
    const details = await self.getOutputDetails("placement");
    const p = (details.value ?? details.secretValue) as Placement | undefined;
    return p && typeof p === "object" && typeof p.zone === "string" ? p : undefined;
}
