/**
 * The proxy's certificate from an ACME CA (proxy.acme): host/sofia-cert.sh, its configuration and
 * the timer that renews it. The install puts a self-signed placeholder in place first, so the proxy
 * can start with TLS before the CA has answered; the timer then asks every hour until the CA's
 * certificate is installed, and from then on only within RENEW_DAYS of its end (a run that finds it
 * valid contacts nobody).
 */
import * as fs from "fs";
import { HostFilesPart } from "../../components/host-files";
import { proxyEntry, sofiaCatalog } from "../../model/catalog";
import { hostScript } from "../../components/project-root";
import { CERT_METRICS, metricsNamespace, STACK_DIMENSION } from "../../model/metrics";
import { ACME } from "./proxy-config";
import { Settings } from "../../model/settings";
import { containerName } from "./store-config";
import { CERT_BIN, CERT_ENV, CERT_LOCK, SYSTEMD_DIR, shellDefaults } from "./layout";
import { hostEnvFile } from "./services-files";

/** Let's Encrypt certificates last 90 days: renewing a month ahead leaves two months of retries. */
export const RENEW_DAYS = 30;
/**
 * lego, the ACME client, run from its image on the host. The version the tests run against Pebble
 * (Debian's lego 4.9.1), pinned by tag; set proxy.acme.clientImage to pin a digest.
 */
export const LEGO_IMAGE = "docker.io/goacme/lego:v4.9.1";

/**
 * /etc/sofia/cert.env: every value only where the environment has none (set, even empty, it stays),
 * so a test can point it elsewhere, and run lego from PATH with LEGO_IMAGE empty.
 */
export function certEnv(s: Pick<Settings, "proxy" | "stack">): string {
    const acme = s.proxy.acme;
    if (!acme) throw new Error("certEnv: proxy.acme is not set");
    const values: Record<string, string> = {
        ACME_DOMAIN: acme.domain,
        ACME_EMAIL: acme.email,
        ACME_DIRECTORY: acme.directory,
        ACME_STATE_DIR: ACME.hostStateDir,
        ACME_WEBROOT: ACME.hostWebroot,
        TLS_DIR: ACME.hostTlsDir,
        // The front proxy is the catalog's edge entry, whichever store the stack runs.
        PROXY_CONTAINER: containerName(proxyEntry(sofiaCatalog("questdb"))),
        RENEW_DAYS: String(RENEW_DAYS),
        CERT_LOCK,
        LEGO_IMAGE: acme.clientImage ?? LEGO_IMAGE,
        METRICS_NAMESPACE: metricsNamespace(s.stack),
        METRICS_STACK: s.stack,
        METRICS_STACK_DIMENSION: STACK_DIMENSION,
        CERT_METRIC: CERT_METRICS.daysLeft,
    };
    // Settings checked these; the file is sourced by bash, so nothing in it may need quoting.
    return shellDefaults("cert.env", "topology/host/certificate.ts", values);
}

const CERT_SERVICE = `[Unit]
Description=Obtain or renew the Sofia proxy's certificate (ACME)
After=sofia-boot.service network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=${CERT_BIN} renew
TimeoutStartSec=900
`;

// Hourly: a run that finds the certificate valid returns without contacting the CA, and one that
// fails (DNS not yet pointed, port 80 not yet open) is retried within the CA's limits (5 failed
// validations per hour per name at Let's Encrypt).
const CERT_TIMER = `[Unit]
Description=Obtain or renew the Sofia proxy's certificate every hour, when due

[Timer]
OnActiveSec=2min
OnBootSec=5min
OnUnitActiveSec=1h
RandomizedDelaySec=5min

[Install]
WantedBy=timers.target
`;

/** The host files of a stack whose proxy gets its certificate from an ACME CA; none otherwise. */
export function certificateHostFiles(s: Pick<Settings, "proxy" | "stack">): HostFilesPart[] {
    if (!s.proxy.acme) return [];
    return [
        {
            name: "certificate",
            files: [
                hostEnvFile(),
                { path: CERT_ENV, content: certEnv(s) },
                { path: CERT_BIN, content: fs.readFileSync(hostScript("sofia-cert.sh"), "utf8"), mode: "0755" },
                { path: `${SYSTEMD_DIR}/sofia-cert.service`, content: CERT_SERVICE },
                { path: `${SYSTEMD_DIR}/sofia-cert.timer`, content: CERT_TIMER },
            ],
            // The placeholder before the proxy starts with TLS; the CA's certificate a little later.
            afterInstall: ["systemctl daemon-reload", `${CERT_BIN} placeholder`, "systemctl enable --now sofia-cert.timer"],
        },
    ];
}
