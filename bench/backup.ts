/**
 * A backup of a ~256 MiB Redis dataset to moto_server (snapshot, check, hash, upload, verify,
 * marker, metrics) against two peers in the same run: the runbook's own backup procedure (BGSAVE,
 * copy dump.rdb, aws s3 sync; nothing verified), which it must not be slower than, and the least
 * any verified backup can do with the aws CLI, which it may cost at most 1.3 times.
 */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { stagingPath } from "../components/host";
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

// The runbook's "Backup Procedures" for Redis, as written: BGSAVE, wait for it, copy dump.rdb
// aside, `aws s3 sync` the directory. Nothing is checked, nothing marks the backup complete.
const RUNBOOK_BACKUP = `set -euo pipefail
cli=(redis-cli -p "$1" --no-auth-warning -a "$2")
"\${cli[@]}" BGSAVE >/dev/null
until "\${cli[@]}" INFO persistence | grep -q '^rdb_bgsave_in_progress:0'; do sleep 0.05; done
"\${cli[@]}" INFO persistence | grep -q '^rdb_last_bgsave_status:ok'
dir=$(mktemp -d "$3/runbook.XXXXXX")
cp "$4/dump.rdb" "$dir/redis_$(date +%Y%m%d_%H%M%S).rdb"
aws s3 sync "$dir" "s3://$5/runbook/$SOFIA_BACKUP_ID/" --only-show-errors
rm -rf "$dir"`;

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
        floor: {
            label: "the runbook's backup",
            argv: ["bash", "-c", RUNBOOK_BACKUP, "runbook", String(env.redisPort), env.redisPassword, stagingPath(env.dataPath), env.redisDir, DRILL_BUCKET],
            env: direct,
        },
        floorIs: "the runbook's procedure on the same dataset: BGSAVE, cp dump.rdb, aws s3 sync, nothing verified",
        target: 1.0,
        servers: () => env.serverPids(),
        bound: {
            label: "upload, verify, mark",
            is: "an upload of the same RDB bytes, a listing to verify it, then the COMPLETE marker: one aws CLI run each, in a row",
            argv: ["bash", "-c", LEAST_BACKUP, "bound", rdb, DRILL_BUCKET, marker],
            env: direct,
            target: 1.3,
        },
        reset: () => {
            // Every backup needs its own id (a Redis-only one's ends in -redis).
            direct.SOFIA_BACKUP_ID = `bench-${++run}-redis`;
        },
    };
    return { comparison, close: () => env.close() };
}
