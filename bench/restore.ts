/**
 * A restore of a ~256 MiB Redis dataset end to end (download, verify, stop, load with AOF handled,
 * start health-gated, verify) against its floor: downloading the same RDB and starting a Redis on it.
 */
import * as path from "path";
import { projectRoot } from "../components/project-root";
import { backupPrefix, DRILL_BUCKET, DrillEnv } from "../drill/env";
import { freePort } from "../drill/moto";
import { BACKUP_BENCH_MIB } from "./backup";
import { Comparison } from "./measure";

export async function restoreComparison(log: (s: string) => void): Promise<{ comparison: Comparison; close: () => Promise<void> }> {
    const env = await DrillEnv.start();
    const keys = env.loadRandomMiB(BACKUP_BENCH_MIB);
    const direct = env.scriptEnv({ AWS_ENDPOINT_URL: env.moto.endpoint });
    const backup = await env.runHost("sofia-backup", ["run"], { AWS_ENDPOINT_URL: env.moto.endpoint, SOFIA_BACKUP_ID: "bench-base" });
    if (backup.status !== 0) throw new Error(`bench: the backup to restore failed: ${backup.stderr}`);
    log(`  backed up ${keys} keys (${BACKUP_BENCH_MIB} MiB of random values) as bench-base`);
    const floorDir = path.join(env.dir, "floor");
    const port = await freePort();
    // Download, start a Redis on the copied RDB, wait until it has loaded, stop it.
    const floorScript = [
        "set -euo pipefail",
        `rm -rf ${floorDir} && mkdir -p ${floorDir}`,
        `aws s3 cp s3://${DRILL_BUCKET}/${backupPrefix("bench-base")}redis.rdb ${floorDir}/dump.rdb --only-show-errors`,
        `redis-server --dir ${floorDir} --port ${port} --bind 127.0.0.1 --save '' --daemonize yes --pidfile ${floorDir}/pid`,
        `until [[ $(redis-cli -p ${port} PING 2>/dev/null) == PONG ]]; do sleep 0.05; done`,
        `redis-cli -p ${port} SHUTDOWN NOSAVE >/dev/null 2>&1 || true`,
    ].join("\n");
    const comparison: Comparison = {
        name: `restore of a ${BACKUP_BENCH_MIB} MiB Redis dataset`,
        subject: { label: "sofia-restore", argv: ["bash", path.join(projectRoot(), "host", "sofia-restore.sh"), "bench-base"], env: direct },
        floor: { label: "download + redis-server on the RDB", argv: ["bash", "-c", floorScript], env: direct },
        floorIs: "aws s3 cp of the same RDB from the same emulator, then redis-server loading it until it answers",
        target: 1.3,
        // The restored Redis and the floor's both run daemonized, outside either command's accounting.
        servers: () => [env.moto.pid],
    };
    return { comparison, close: () => env.close() };
}
