/**
 * A backup of a ~256 MiB Redis dataset to moto_server (snapshot, check, hash, upload, verify,
 * marker, metrics) against its floor: `aws s3 cp` of the same RDB bytes to the same emulator.
 */
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { DRILL_BUCKET, DrillEnv } from "../drill/env";
import { Comparison } from "./measure";

export const BACKUP_BENCH_MIB = 256;

export async function backupComparison(log: (s: string) => void): Promise<{ comparison: Comparison; close: () => Promise<void> }> {
    const env = await DrillEnv.start();
    const keys = env.loadRandomMiB(BACKUP_BENCH_MIB);
    // The floor's bytes: one snapshot of the same dataset.
    const rdb = path.join(env.dir, "floor.rdb");
    env.redisCli(["--rdb", rdb]);
    log(`  loaded ${keys} keys (${BACKUP_BENCH_MIB} MiB of random values) into redis-server`);
    // Straight to moto: the drill's fault proxy stays out of the measurement.
    const direct = env.scriptEnv({ AWS_ENDPOINT_URL: env.moto.endpoint });
    let run = 0;
    const comparison: Comparison = {
        name: `backup of a ${BACKUP_BENCH_MIB} MiB Redis dataset`,
        subject: { label: "sofia-backup run --only redis", argv: ["bash", path.join(projectRoot(), "host", "sofia-backup.sh"), "run", "--only", "redis"], env: direct },
        floor: { label: "aws s3 cp", argv: ["aws", "s3", "cp", rdb, `s3://${DRILL_BUCKET}/floor/redis.rdb`, "--only-show-errors"], env: direct },
        floorIs: "aws s3 cp of the same RDB bytes to the same emulator",
        target: 1.3,
        servers: () => env.serverPids(),
        reset: () => {
            // Every backup needs its own id.
            direct.SOFIA_BACKUP_ID = `bench-${++run}`;
        },
    };
    return { comparison, close: () => env.close() };
}
