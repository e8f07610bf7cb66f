/**
 * A backup of a ~256 MiB Redis dataset to moto_server (snapshot, check, hash, upload, verify,
 * marker, metrics) against its floor: `aws s3 cp` of the same RDB bytes to the same emulator.
 */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { DRILL_BUCKET, DrillEnv } from "../drill/env";
import { Comparison } from "./measure";

export const BACKUP_BENCH_MIB = 256;

// The three steps every verified backup takes in order, each one aws CLI run waiting on the one
// before: upload, read back what S3 stored to verify it, and only then the COMPLETE marker. Nothing else: no snapshot,
// check or hash, and the manifest's upload left out (the backup sends it beside the verification).
const LEAST_BACKUP = `set -euo pipefail
key="bound/$SOFIA_BACKUP_ID"
aws s3 cp "$1" "s3://$2/$key/redis.rdb" --only-show-errors
aws s3api list-objects-v2 --bucket "$2" --prefix "$key/" --query 'Contents[].[Key,Size,ETag]' --output text >/dev/null
aws s3api put-object --bucket "$2" --key "$key/COMPLETE" --body "$3" >/dev/null`;

export async function backupComparison(log: (s: string) => void): Promise<{ comparison: Comparison; close: () => Promise<void> }> {
    const env = await DrillEnv.start();
    const keys = env.loadRandomMiB(BACKUP_BENCH_MIB);
    // The floor's bytes: one snapshot of the same dataset.
    const rdb = path.join(env.dir, "floor.rdb");
    env.redisCli(["--rdb", rdb]);
    log(`  loaded ${keys} keys (${BACKUP_BENCH_MIB} MiB of random values) into redis-server`);
    // Straight to moto: the drill's fault proxy stays out of the measurement.
    const direct = env.scriptEnv({ AWS_ENDPOINT_URL: env.moto.endpoint });
    const marker = path.join(env.dir, "bound-COMPLETE");
    fs.writeFileSync(marker, JSON.stringify({ backup_id: "bound" }));
    let run = 0;
    const comparison: Comparison = {
        name: `backup of a ${BACKUP_BENCH_MIB} MiB Redis dataset`,
        subject: { label: "sofia-backup run --only redis", argv: ["bash", path.join(projectRoot(), "host", "sofia-backup.sh"), "run", "--only", "redis"], env: direct },
        floor: { label: "aws s3 cp", argv: ["aws", "s3", "cp", rdb, `s3://${DRILL_BUCKET}/floor/redis.rdb`, "--only-show-errors"], env: direct },
        floorIs: "aws s3 cp of the same RDB bytes to the same emulator",
        target: 1.3,
        servers: () => env.serverPids(),
        bound: {
            label: "upload, verify, mark",
            is: "the floor's upload, a listing to verify it, then the COMPLETE marker: one aws CLI run each, in a row",
            argv: ["bash", "-c", LEAST_BACKUP, "bound", rdb, DRILL_BUCKET, marker],
            env: direct,
        },
        reset: () => {
            // Every backup needs its own id.
            direct.SOFIA_BACKUP_ID = `bench-${++run}`;
        },
    };
    return { comparison, close: () => env.close() };
}
