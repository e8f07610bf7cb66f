/**
 * The front proxy's nginx.conf and maintenance pages, from the catalog: one server per client
 * port, forwarding to its service on Sofia's private network. Clients get HTTP 503 with a
 * Retry-After hint, JSON or HTML as they accept, instead of refused connections:
 *   - while the maintenance flag file exists (a deploy raises it: sofia-maintenance page on), and
 *   - whenever the service cannot be reached (it is being replaced, or down).
 * The same renderer produces the test configuration that a real nginx checks (`nginx -t`) and
 * serves in test/proxy.test.ts, with loopback ports and a temporary directory instead.
 */
import { CatalogEntry, clientPorts, proxyEntry } from "../../model/catalog";
import { Settings } from "../../model/settings";
import { containerName } from "./store-config";
import { TLS_HOST_DIR, ACME_WEBROOT_HOST_DIR, ACME_STATE_DIR } from "./layout";

export const MAINTENANCE_PAGE_DIR = "/run/sofia-maintenance";
export const MAINTENANCE_FLAG = "on";
/** Inside the proxy container. */
export const PROXY_CONF_PATH = "/etc/nginx/nginx.conf";
export const PROXY_PAGES_DIR = "/etc/nginx/sofia";
export const PROXY_TLS_CERT = "/etc/nginx/tls/cert.pem";
export const PROXY_TLS_KEY = "/run/secrets/proxy-tls-key.pem";
/**
 * A certificate from an ACME CA (proxy.acme) lives on the host, never in Pulumi state: host/sofia-cert.sh
 * installs each one in a directory of its own under `hostTlsDir` and points the `live` symlink at it,
 * which the proxy sees under `tlsDir`; the CA's HTTP-01 challenge files are served from `webroot`.
 */
export const ACME = {
    httpPort: 80,
    hostTlsDir: TLS_HOST_DIR,
    hostWebroot: ACME_WEBROOT_HOST_DIR,
    hostStateDir: ACME_STATE_DIR,
    tlsDir: "/etc/nginx/tls",
    webroot: "/var/www/acme",
    live: "live",
} as const;
/** Docker's embedded DNS: upstreams are resolved per request, so a replaced container is found again. */
const DOCKER_DNS = "127.0.0.11";

export interface ProxyRoute {
    /** The service behind it (for the page and the log). */
    service: string;
    /** Port the proxy listens on for clients. */
    listen: number;
    /** host:port of the service. */
    upstream: string;
}

export interface ProxyConfigOptions {
    routes: ProxyRoute[];
    /** The proxy's health listener (loopback inside its container). */
    healthPort: number;
    /** Seconds clients are told to wait (Retry-After). */
    retryAfterSeconds: number;
    /** Directory where the maintenance flag file appears. */
    flagDir: string;
    /** Directory holding the maintenance pages (503.json, 503.html). */
    pagesDir: string;
    /** nginx's temporary files (request bodies, proxy buffers). */
    stateDir: string;
    /** Serve TLS on every client port with this certificate and key file. */
    tls?: { certificate: string; key: string };
    /** Answer an ACME CA's HTTP-01 challenges on this port from this directory (nothing else is served there). */
    acmeChallenge?: { port: number; webroot: string };
}

/** Routes from the catalog: every "clients" port of every service, to that service by name. */
export function proxyRoutes(catalog: readonly CatalogEntry[]): ProxyRoute[] {
    return clientPorts(catalog).map(({ service, port }) => ({ service, listen: port.port, upstream: `${containerName({ name: service })}:${port.port}` }));
}

/** The proxy's health port, from its catalog entry. */
export function proxyHealthPort(catalog: readonly CatalogEntry[]): number {
    const port = proxyEntry(catalog).ports.find((p) => p.name === "health");
    if (!port) throw new Error("catalog: the proxy needs a health port");
    return port.port;
}

/** The stack's certificate and its secret key, when both are set (settings refuse one alone). */
export function proxyTls(s: Pick<Settings, "proxy" | "secrets">) {
    const { tlsCertificate } = s.proxy;
    const key = s.secrets.proxyTlsKey;
    return tlsCertificate && key ? { certificate: tlsCertificate, key } : undefined;
}

/** How the stack's proxy gets its certificate: from settings, from an ACME CA, or none (plain HTTP). */
export function proxyTlsSource(s: Pick<Settings, "proxy">): "settings" | "acme" | undefined {
    return s.proxy.tlsCertificate ? "settings" : s.proxy.acme ? "acme" : undefined;
}

/** The proxy of a stack, as it runs in its container. */
export function stackProxyOptions(catalog: readonly CatalogEntry[], s: Pick<Settings, "deploy" | "proxy" | "secrets">): ProxyConfigOptions {
    const source = proxyTlsSource(s);
    const live = `${ACME.tlsDir}/${ACME.live}`;
    return {
        routes: proxyRoutes(catalog),
        healthPort: proxyHealthPort(catalog),
        retryAfterSeconds: s.deploy.retryAfterSeconds,
        flagDir: MAINTENANCE_PAGE_DIR,
        pagesDir: PROXY_PAGES_DIR,
        stateDir: "/var/cache/nginx",
        tls: source === "settings" ? { certificate: PROXY_TLS_CERT, key: PROXY_TLS_KEY } : source === "acme" ? { certificate: `${live}/cert.pem`, key: `${live}/key.pem` } : undefined,
        acmeChallenge: source === "acme" ? { port: ACME.httpPort, webroot: ACME.webroot } : undefined,
    };
}

export function proxyConfig(o: ProxyConfigOptions): string {
    if (o.routes.length === 0) throw new Error("proxy: no client ports to serve");
    const listen = (port: number) => (o.tls ? `${port} ssl` : String(port));
    const tls = o.tls
        ? [
              `        ssl_certificate ${o.tls.certificate};`,
              `        ssl_certificate_key ${o.tls.key};`,
              "        ssl_protocols TLSv1.2 TLSv1.3;",
              "        ssl_session_cache shared:sofia_tls:10m;",
          ]
        : [];
    const servers = o.routes.map((r) =>
        [
            `    # ${r.service}`,
            "    server {",
            `        listen ${listen(r.listen)};`,
            ...tls,
            // nginx's own 502/504 (the service is gone or hangs) become the maintenance answer.
            "        error_page 502 503 504 =503 $sofia_maintenance_page;",
            "        location / {",
            `            if (-f ${o.flagDir}/${MAINTENANCE_FLAG}) { return 503; }`,
            `            set $sofia_upstream http://${r.upstream};`,
            "            proxy_pass $sofia_upstream;",
            "            proxy_http_version 1.1;",
            // Websockets pass through (the UI's live updates).
            "            proxy_set_header Upgrade $http_upgrade;",
            "            proxy_set_header Connection $sofia_connection;",
            "            proxy_set_header Host $host;",
            "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "            proxy_set_header X-Forwarded-Proto $scheme;",
            "            proxy_connect_timeout 3s;",
            "        }",
            "        location /_sofia_maintenance/ {",
            "            internal;",
            `            alias ${o.pagesDir}/;`,
            `            add_header Retry-After ${o.retryAfterSeconds} always;`,
            '            add_header Cache-Control "no-store" always;',
            "        }",
            "    }",
        ].join("\n"),
    );
    // The CA fetches /.well-known/acme-challenge/<token> over plain HTTP; nothing else is answered there.
    const challenge = o.acmeChallenge
        ? [
              "    # ACME HTTP-01 challenges (host/sofia-cert.sh writes them); nothing else",
              "    server {",
              `        listen ${o.acmeChallenge.port};`,
              "        location /.well-known/acme-challenge/ {",
              `            root ${o.acmeChallenge.webroot};`,
              "            default_type text/plain;",
              "        }",
              "        location / { return 404; }",
              "    }",
          ]
        : [];
    return [
        // The file this came from before the code moved (now topology/host/proxy-config.ts): the
        // line is kept as it was, since any change to this file replaces the proxy container.
        "# Generated by sofia-infra (services/proxy-config.ts) from the service catalog; do not edit.",
        "worker_processes 1;",
        "error_log /dev/stderr warn;",
        "events { worker_connections 1024; }",
        "http {",
        "    types { application/json json; text/html html; }",
        "    default_type application/octet-stream;",
        "    access_log /dev/stdout;",
        "    server_tokens off;",
        `    resolver ${DOCKER_DNS} valid=10s ipv6=off;`,
        `    client_body_temp_path ${o.stateDir}/body;`,
        `    proxy_temp_path ${o.stateDir}/proxy;`,
        `    fastcgi_temp_path ${o.stateDir}/fastcgi;`,
        `    uwsgi_temp_path ${o.stateDir}/uwsgi;`,
        `    scgi_temp_path ${o.stateDir}/scgi;`,
        "    map $http_accept $sofia_maintenance_page {",
        "        default /_sofia_maintenance/503.json;",
        '        "~*text/html" /_sofia_maintenance/503.html;',
        "    }",
        "    map $http_upgrade $sofia_connection {",
        "        default upgrade;",
        "        '' '';",
        "    }",
        "    server {",
        `        listen 127.0.0.1:${o.healthPort};`,
        "        location = /healthz { return 200 'ok'; }",
        "    }",
        ...servers,
        ...challenge,
        "}",
        "",
    ].join("\n");
}

/** The maintenance answers, by file name under the pages directory. */
export function maintenancePages(retryAfterSeconds: number): Record<string, string> {
    return {
        "503.json": JSON.stringify({ status: "maintenance", message: "Sofia is being updated; please retry shortly.", retryAfterSeconds }) + "\n",
        "503.html": [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8"><title>Sofia: maintenance</title>',
            `<meta http-equiv="refresh" content="${retryAfterSeconds}"></head>`,
            `<body><h1>Sofia is being updated</h1><p>Please retry in about ${retryAfterSeconds} seconds; this page reloads by itself.</p></body></html>`,
            "",
        ].join("\n"),
    };
}
