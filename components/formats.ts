import { Address4, Address6 } from "ip-address";
import { CronExpressionParser } from "cron-parser";

/**
 * Pure checks of the string formats AWS and Docker accept. Each returns `undefined` when the
 * value is fine, or a sentence saying what is allowed; callers attach the key that held it.
 */

const CRON_FIELDS = ["minutes", "hours", "day-of-month", "month", "day-of-week", "year"] as const;
const MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC";
const DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT";

/** Numeric range per cron field, and the names AWS accepts in place of numbers. */
const CRON_RANGES: Record<(typeof CRON_FIELDS)[number], { min: number; max: number; names?: string }> = {
    minutes: { min: 0, max: 59 },
    hours: { min: 0, max: 23 },
    "day-of-month": { min: 1, max: 31 },
    month: { min: 1, max: 12, names: MONTHS },
    "day-of-week": { min: 1, max: 7, names: DAYS },
    year: { min: 1970, max: 2199 },
};

function cronFieldProblem(field: (typeof CRON_FIELDS)[number], value: string): string | undefined {
    const { min, max, names } = CRON_RANGES[field];
    const atom = names ? `(\\d+|${names})` : "\\d+";
    const item = new RegExp(`^(\\*|${atom}(-${atom})?)(/\\d+)?$`);
    if (value === "?") {
        return field === "day-of-month" || field === "day-of-week" ? undefined : `"?" is only allowed in day-of-month or day-of-week`;
    }
    if (field === "day-of-month" && /^(L|W|\d{1,2}W|LW)$/.test(value)) return undefined;
    if (field === "day-of-week" && new RegExp(`^(${atom})(#[1-5]|L)$`).test(value)) {
        const n = value.replace(/(#[1-5]|L)$/, "");
        return /^\d+$/.test(n) && (Number(n) < min || Number(n) > max) ? `${field} ${n} is outside ${min}-${max}` : undefined;
    }
    for (const part of value.split(",")) {
        if (!item.test(part)) return `${field} "${part}" is not a value, range, list or step`;
        for (const num of part.match(/\d+/g) ?? []) {
            const isStep = part.includes(`/${num}`) && part.endsWith(num);
            if (!isStep && (Number(num) < min || Number(num) > max)) return `${field} ${num} is outside ${min}-${max}`;
        }
    }
    return undefined;
}

/**
 * An EventBridge/SSM schedule: `cron(m h dom mon dow year)` with exactly one of day-of-month and
 * day-of-week set to `?`, or `rate(N unit)`. Times are UTC.
 */
export function scheduleProblem(expr: string): string | undefined {
    const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expr);
    if (rate) {
        const n = Number(rate[1]);
        const singular = !rate[2].endsWith("s");
        if (n < 1) return "a rate must be at least 1";
        return singular === (n === 1) ? undefined : `use "${rate[2]}" only with ${singular ? "1" : "values above 1"}`;
    }
    const cron = /^cron\((.*)\)$/.exec(expr);
    if (!cron) return 'expected "cron(minutes hours day-of-month month day-of-week year)" or "rate(N unit)"';
    const fields = cron[1].trim().split(/\s+/);
    if (fields.length !== 6) return `a cron expression has 6 fields (${CRON_FIELDS.join(" ")}), got ${fields.length}`;
    const [, , dom, , dow] = fields;
    if ((dom === "?") === (dow === "?")) return 'exactly one of day-of-month and day-of-week must be "?"';
    for (let i = 0; i < 6; i++) {
        const problem = cronFieldProblem(CRON_FIELDS[i], fields[i]);
        if (problem) return problem;
    }
    return undefined;
}

/** The years an AWS cron year field allows ("*", "2027", "2026-2028", "2026/2", lists), within AWS's 1970-2199. */
function yearsOf(field: string): (year: number) => boolean {
    if (field === "*" || field === "?") return () => true;
    const parts = field.split(",").map((part) => {
        const [range, step] = part.split("/");
        const [lo, hi] = range === "*" ? [1970, 2199] : range.includes("-") ? range.split("-").map(Number) : [Number(range), step ? 2199 : Number(range)];
        const by = step ? Number(step) : 1;
        return (y: number) => y >= lo && y <= hi && (y - lo) % by === 0;
    });
    return (y) => parts.some((p) => p(y));
}

/**
 * Undefined when a valid schedule fires at some time after `now`; else why it never will (a day
 * no month has, like February 30th; only years already past). Rates always fire. Checked with the
 * maintained cron-parser: AWS's fields are mapped to its own (AWS counts weekdays 1-7 from Sunday,
 * cron-parser 0-6; a "W" day fires near that day, so it fires when that day exists).
 */
export function scheduleNeverFires(expr: string, now: Date): string | undefined {
    const f = cronFields(expr);
    if (!f) return undefined;
    // Only the weekdays themselves are renumbered: not the "#n" of an nth weekday, nor a step.
    const day = (t?: string) => (t && /^[1-7]$/.test(t) ? String(Number(t) - 1) : (t ?? ""));
    const dow = f.dayOfWeek
        .split(",")
        .map((part) => part.replace(/^(\w+)(?:-(\w+))?((?:#\d|L)?(?:\/\d+)?)$/, (_m, a: string, b: string | undefined, rest: string) => `${day(a)}${b ? `-${day(b)}` : ""}${rest}`))
        .join(",");
    const dom = f.dayOfMonth.replace(/W$/, "").replace(/^LW$/, "L") || "L";
    let it;
    try {
        it = CronExpressionParser.parse(`0 ${f.minute} ${f.hour} ${dom} ${f.month} ${dow}`, { currentDate: now, tz: "UTC" });
    } catch (e) {
        return `it never fires: ${(e as Error).message.replace(/^Invalid explicit day of month definition$/, "no month has that day")}`;
    }
    const allowed = yearsOf(f.year);
    // Enough fire times to cross every allowed year of a sparse schedule (one a year, for the 200 years AWS allows).
    for (let i = 0; i < 2000; i++) {
        let next: Date;
        try {
            next = it.next().toDate();
        } catch {
            break;
        }
        if (next.getUTCFullYear() > 2199) break;
        if (allowed(next.getUTCFullYear())) return undefined;
    }
    return `it never fires after ${now.toISOString().slice(0, 10)} (no time matches every field in a year it allows)`;
}

/**
 * A container image reference that names one build: `[registry/]repo:tag`, `repo@sha256:…` or
 * both. No implicit or `latest` tag, so that a release is reproducible.
 */
export function imageRefProblem(ref: string): string | undefined {
    const m = /^((?:[a-z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$/.exec(ref);
    if (!m) return 'expected an image reference like "ghcr.io/org/app:1.2.3" or "org/app@sha256:<64 hex>"';
    const [, , tag, digest] = m;
    if (!tag && !digest) return "name a tag or a digest; an untagged image means whatever :latest is today";
    if (tag === "latest" && !digest) return '":latest" is not a release; pin a version tag or a digest';
    return undefined;
}

/**
 * The registry an image reference pulls from, as Docker reads it: a first path component with a
 * dot or a port (or "localhost") names the registry; anything else is Docker Hub.
 */
export function registryOf(ref: string): string {
    const first = ref.split("/")[0];
    if (ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")) {
        return ["index.docker.io", "registry-1.docker.io"].includes(first) ? "docker.io" : first;
    }
    return "docker.io";
}

/** True when an image reference is pinned by content digest. */
export function isPinnedByDigest(ref: string): boolean {
    return /@sha256:[a-f0-9]{64}$/.test(ref);
}

/** An EC2 instance type such as `t3.large` or `m7g.xlarge`. */
export function instanceTypeProblem(value: string): string | undefined {
    return /^[a-z][a-z0-9-]*\.(nano|micro|small|medium|large|metal|\d*xlarge|metal-\d+xl)$/.test(value)
        ? undefined
        : 'expected an EC2 instance type like "t3.large"';
}

/** A CIDR block read by a maintained parser: its network address, prefix and family; undefined if none. */
export function parseCidr(cidr: string): { network: string; prefix: number; v6: boolean; hostBits: boolean } | undefined {
    // A prefix as AWS writes it (no leading zeros), and no IPv6 zone id (fe80::1%eth0).
    if (!/\/(0|[1-9]\d{0,2})$/.test(cidr) || cidr.includes("%")) return undefined;
    const v6 = cidr.includes(":");
    if (!(v6 ? Address6.isValid(cidr) : Address4.isValid(cidr))) return undefined;
    const a = v6 ? new Address6(cidr) : new Address4(cidr);
    const network = a.startAddress().correctForm();
    return { network, prefix: a.subnetMask, v6, hostBits: network !== a.correctForm() };
}

/** True when a CIDR block is the whole IPv4 or IPv6 internet (whatever address is written before /0). */
export function isWorldCidr(cidr: string): boolean {
    return parseCidr(cidr)?.prefix === 0;
}

/** Blocks that are never routed on the internet: private, shared (carrier NAT), loopback, link-local, unique-local. */
const NOT_INTERNET = {
    v4: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"].map((c) => new Address4(c)),
    v6: ["fc00::/7", "fe80::/10", "::1/128"].map((c) => new Address6(c)),
};

/**
 * True when a block holds any address of the internet: a client there reaches the host across it,
 * so what it sends and receives must be encrypted. A block inside the private ranges does not.
 */
export function reachesInternet(cidr: string): boolean {
    const c = parseCidr(cidr);
    if (!c) return false;
    return c.v6 ? !NOT_INTERNET.v6.some((n) => new Address6(cidr).isInSubnet(n)) : !NOT_INTERNET.v4.some((n) => new Address4(cidr).isInSubnet(n));
}

/**
 * The widest block that may name trusted admin hosts: a /16 (65,536 addresses) or an IPv6 /48 (a
 * site). Anything wider is the internet in pieces (0.0.0.0/1 and 128.0.0.0/1 are all of it).
 */
export const ADMIN_MIN_PREFIX = { v4: 16, v6: 48 } as const;

/** True when a block is wider than any admin range may be. */
export function isTooWideForAdmin(cidr: string): boolean {
    const c = parseCidr(cidr);
    return !!c && c.prefix < (c.v6 ? ADMIN_MIN_PREFIX.v6 : ADMIN_MIN_PREFIX.v4);
}

/** What is wrong with a CIDR block as written: not one, or host bits after the prefix (10.0.0.5/0). */
export function cidrProblem(cidr: string): string | undefined {
    const c = parseCidr(cidr);
    if (!c) return "expected an IPv4 or IPv6 CIDR block such as 203.0.113.0/24";
    if (c.hostBits) return `host bits are set after the /${c.prefix}: the block is ${c.network}/${c.prefix}; for one host write ${cidr.split("/")[0]}/${c.v6 ? 128 : 32}`;
    // ::ffff:0:0/96 is every IPv4 address written as IPv6: a way round the IPv4 checks.
    if (c.v6 && new Address6(cidr).isInSubnet(new Address6("::ffff:0:0/96"))) return "an IPv4-mapped IPv6 block (::ffff:a.b.c.d): write the IPv4 block itself";
    return undefined;
}

// Words secrets go by, whole or as a part between underscores: DB_PASSWD, SMTP_PASS, REDIS_AUTH.
const SECRET_NAME = /(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|CREDENTIAL|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|(SIGNING|ENCRYPTION|SESSION|MASTER)_?KEY|(^|_)(PASS|PWD|AUTH)(_|$))/i;

/**
 * An env var name that would carry a secret in plain text. `…_FILE` names carry a path to a
 * secret file, which is how Sofia passes secrets, so they do not count.
 */
export function looksLikeSecretName(name: string): boolean {
    return SECRET_NAME.test(name) && !/_FILE$/i.test(name);
}

/** The values that occur more than once in a list, each once. */
export function repeated<T>(xs: readonly T[]): T[] {
    return [...new Set(xs.filter((x, i) => xs.indexOf(x) !== i))];
}

/** The six fields of an AWS `cron(...)` expression, or undefined for anything else. */
export function cronFields(expr: string): { minute: string; hour: string; dayOfMonth: string; month: string; dayOfWeek: string; year: string } | undefined {
    const f = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$/.exec(expr);
    return f ? { minute: f[1], hour: f[2], dayOfMonth: f[3], month: f[4], dayOfWeek: f[5], year: f[6] } : undefined;
}
