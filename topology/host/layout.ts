/**
 * The only map of the Sofia host: where its scripts, tables, configuration, state, locks and data
 * are. Every other file of the program takes a host path from here, and the host's scripts take
 * theirs from /etc/sofia/host.env, which is written from here (hostEnv). The one path a script
 * must know before it can read anything is that file's own: HOST_ENV, which a test holds every
 * script to.
 *
 * Paths inside containers (nginx's, QuestDB's) belong to their images and stay with the code that
 * configures them.
 */
import { DEFAULT_DATA_PATH, HostNaming, stagingPath } from "../../components/host";

const ETC = "/etc/sofia";
const SBIN = "/usr/local/sbin";
const LIB = "/usr/local/lib/sofia";
const STATE = "/var/lib/sofia";

/** What the host's own users, files and descriptions are named after (the deploy user is sofia-deploy). */
export const HOST_NAMING: HostNaming = { slug: "sofia", title: "Sofia", generator: "sofia-infra" };

/** Where the data volume is mounted; Docker's data root, the stores' volumes and the journal are on it. */
export const DATA_PATH = DEFAULT_DATA_PATH;

/** The layout file every host script sources first. */
export const HOST_ENV = `${ETC}/host.env`;
export const HOST_CONFIG_DIR = ETC;
/** Where each part of the host files writes the digest it installed (components/host-files.ts): steps wait for theirs. */
export const HOST_FILES_MARKERS = `${ETC}/host-files.d`;
export const SYSTEMD_DIR = "/etc/systemd/system";

/** The commands on the host's PATH. */
export const SERVICES_BIN = `${SBIN}/sofia-services`;
export const BACKUP_BIN = `${SBIN}/sofia-backup`;
export const RESTORE_BIN = `${SBIN}/sofia-restore`;
export const MAINTENANCE_BIN = `${SBIN}/sofia-maintenance`;
export const PROBE_BIN = `${SBIN}/sofia-probe`;
export const CERT_BIN = `${SBIN}/sofia-cert`;
export const GRAFANA_CREDS_BIN = `${SBIN}/sofia-grafana-creds`;
export const DIAGNOSE_BIN = `${SBIN}/sofia-diagnose`;
export const CAPACITY_BIN = `${SBIN}/sofia-capacity`;
export const CACHE_BIN = `${SBIN}/sofia-cache`;
export const APP_FILES_BIN = `${SBIN}/sofia-app-files`;

/** Sourced, not run: the host lock and operations journal; the backup configuration and helpers. */
export const OPS_LIB = `${LIB}/sofia-ops.sh`;
export const BACKUP_LIB = `${LIB}/sofia-backup-lib.sh`;
export const REDIS_COPY_LIB = `${LIB}/sofia-redis-copy.py`;
/** The synthetic checks' browser runner, with checks.js beside it (components/synthetics/): a directory of their own, mounted into the browser's container. */
export const THEME_RUNNER_DIR = `${LIB}/synthetics`;
export const THEME_RUNNER = `${THEME_RUNNER_DIR}/run-local.js`;

/** Generated tables and configuration the scripts read. */
export const CATALOG_TABLE = `${ETC}/services.tsv`;
export const TUNING_TABLE = `${ETC}/tuning.tsv`;
export const CONTRACTS_TABLE = `${ETC}/contracts.tsv`;
export const FLOWS_TABLE = `${ETC}/flows.tsv`;
export const THEMES_TABLE = `${ETC}/themes.tsv`;
export const BACKUP_ITEMS = `${ETC}/backup.tsv`;
export const BACKUP_ENV = `${ETC}/backup.env`;
export const PROBE_ENV = `${ETC}/probe.env`;
export const CERT_ENV = `${ETC}/cert.env`;
export const GRAFANA_ENV = `${ETC}/grafana.env`;
export const DIAGNOSE_ENV = `${ETC}/diagnose.env`;
export const CAPACITY_ENV = `${ETC}/capacity.env`;
export const CAPACITY_TABLE = `${ETC}/capacity.tsv`;
export const CACHE_ENV = `${ETC}/cache.env`;
export const APP_FILES_ENV = `${ETC}/app-files.env`;
/** The ECS topology's load balancer, for the maintenance page (sofia-maintenance): its listeners and the answers. */
export const EDGE_ENV = `${ETC}/edge.env`;
export const EDGE_PAGES_DIR = `${ETC}/edge-pages`;
/** Where the ECS topology's store host mounts the apps' shared files (EFS): off the data volume, a network file system of its own. */
export const APP_FILES_MOUNT = "/mnt/sofia-app-files";
export const RELEASE_FILE = `${ETC}/release.json`;

/** The scripts' own state (maintenance signal, watchdog strikes), and what the proxy reads from the host. */
export const STATE_DIR = STATE;
export const MAINTENANCE_PAGE_HOST_DIR = `${STATE}/maintenance-page`;
export const TLS_HOST_DIR = `${STATE}/tls`;
export const ACME_WEBROOT_HOST_DIR = `${STATE}/acme-webroot`;
export const ACME_STATE_DIR = `${STATE}/acme`;
/** Grafana's short-lived AWS credentials, written by sofia-grafana-creds, read by its container. */
export const GRAFANA_AWS_HOST_DIR = `${STATE}/grafana-aws`;
/** Grafana's generated dashboards (a host file, so a new alarm is no new container). */
export const GRAFANA_DASHBOARDS_HOST_DIR = `${STATE}/grafana-dashboards`;

/** Locks on tmpfs, which a reboot clears with their holders. */
export const OPS_LOCK = "/run/lock/sofia-ops.lock";
export const CERT_LOCK = "/run/lock/sofia-cert.lock";

/** The CloudWatch agent's configuration directory (its package's own). */
export const AGENT_DIR = "/opt/aws/amazon-cloudwatch-agent/etc";

/** The Docker volume behind a catalog volume name. */
export function dockerVolumeName(volume: string): string {
    return `sofia-${volume}`;
}

/** Where a Docker volume's files are on the host (Docker's data root is on the data volume). */
export function volumeHostPath(dataPath: string, volume: string): string {
    return `${dataPath}/docker/volumes/${dockerVolumeName(volume)}/_data`;
}

/** The operations journal: on the data volume, beside the data, so it survives exactly what the data survives. */
export function journalPath(dataPath: string): string {
    return `${dataPath}/sofia-ops.journal`;
}

export { stagingPath };

/**
 * The layout as the host's scripts read it (host.env), by the variable each script uses. The
 * journal lives on the data volume (the scripts refuse to run while it is not mounted); the lock
 * on tmpfs. `questdbConf` is where the catalog's QuestDB volume holds its server.conf (a file
 * that is not there means no credentials: a TimescaleDB stack).
 */
export function hostLayout(dataPath: string, questdbConf: string): Record<string, string> {
    return {
        SOFIA_DATA_MOUNT: dataPath,
        SOFIA_STAGING_DIR: stagingPath(dataPath),
        SOFIA_JOURNAL: journalPath(dataPath),
        SOFIA_QUESTDB_CONF: questdbConf,
        SOFIA_OPS_LOCK: OPS_LOCK,
        SOFIA_STATE_DIR: STATE_DIR,
        SOFIA_SERVICES: SERVICES_BIN,
        SOFIA_MAINTENANCE_BIN: MAINTENANCE_BIN,
        SOFIA_OPS_LIB: OPS_LIB,
        SOFIA_BACKUP_LIB: BACKUP_LIB,
        SOFIA_CATALOG: CATALOG_TABLE,
        SOFIA_TUNING: TUNING_TABLE,
        SOFIA_CONTRACTS: CONTRACTS_TABLE,
        SOFIA_FLOWS: FLOWS_TABLE,
        SOFIA_THEMES: THEMES_TABLE,
        SOFIA_THEME_RUNNER: THEME_RUNNER,
        SOFIA_BACKUP_ITEMS: BACKUP_ITEMS,
        SOFIA_BACKUP_ENV: BACKUP_ENV,
        SOFIA_PROBE_ENV: PROBE_ENV,
        SOFIA_CERT_CONFIG: CERT_ENV,
        SOFIA_GRAFANA_CONFIG: GRAFANA_ENV,
        SOFIA_DIAG_CONFIG: DIAGNOSE_ENV,
        SOFIA_CAPACITY_CONFIG: CAPACITY_ENV,
        SOFIA_CAPACITY_TABLE: CAPACITY_TABLE,
        SOFIA_CACHE_CONFIG: CACHE_ENV,
        SOFIA_CACHE_BIN: CACHE_BIN,
        SOFIA_REDIS_COPY: REDIS_COPY_LIB,
        SOFIA_APP_FILES_CONFIG: APP_FILES_ENV,
        SOFIA_EDGE_CONFIG: EDGE_ENV,
        SOFIA_RELEASE: RELEASE_FILE,
    };
}

/**
 * A configuration file a host script sources (cert.env, grafana.env, ...): each value only where the
 * environment has none (set, even empty, it stays), so a test can point it elsewhere. Values are
 * refused if bash would need them quoted; `generator` names the source file in the header.
 */
export function shellDefaults(file: string, generator: string, values: Record<string, string>, allowed = /^[A-Za-z0-9@._:/+-]+$/): string {
    const bad = Object.entries(values).filter(([, v]) => !allowed.test(v));
    if (bad.length) throw new Error(`${file}: ${bad.map(([k]) => k).join(", ")} would need quoting`);
    return [`# Generated by sofia-infra (${generator}); do not edit on the host.`, ...Object.entries(values).map(([k, v]) => `: "\${${k}=${v}}"`), ""].join("\n");
}

/** host.env: each value only where the environment has none, so a drill can point the scripts elsewhere. */
export function hostEnv(layout: Record<string, string>): string {
    const bad = Object.entries(layout).filter(([, v]) => !/^\/[A-Za-z0-9._/-]*$/.test(v));
    if (bad.length) throw new Error(`host layout: ${bad.map(([k, v]) => `${k}="${v}"`).join(", ")} must be absolute paths of letters, digits and ._/-`);
    return ["# Generated by sofia-infra (topology/host/layout.ts); do not edit on the host.", ...Object.entries(layout).map(([k, v]) => `: "\${${k}:=${v}}"`), ""].join("\n");
}
