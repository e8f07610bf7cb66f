/**
 * A test double of CloudWatch Logs' space-delimited filter matching (the AWS control plane cannot
 * run here, and moto's matcher only looks for terms), for the subset model/log-formats.ts
 * writes: `[name, name = "v" || name = "v*", ...]`. As CloudWatch documents it: a log line is
 * split at spaces, text inside `[...]` or `"..."` is one field without its brackets or quotes, the
 * pattern's fields match by position, `...` stands for any number of fields, and values compare
 * case-sensitively with `*` as a wildcard. And JSON patterns of one top-level property,
 * `{ $.name = "v" || $.name = "v" }`: the line must be a JSON object whose property equals one of
 * the values exactly (a line that is not JSON never matches). Anything outside the subset throws,
 * so a pattern the double does not understand cannot pass by accident.
 */

/** A log line's fields as CloudWatch splits them. */
export function logFields(line: string): string[] {
    const fields: string[] = [];
    let i = 0;
    while (i < line.length) {
        if (line[i] === " ") {
            i++;
            continue;
        }
        const close = line[i] === "[" ? "]" : line[i] === '"' ? '"' : undefined;
        if (close) {
            const end = line.indexOf(close, i + 1);
            const stop = end < 0 ? line.length : end;
            fields.push(line.slice(i + 1, stop));
            i = stop + 1;
        } else {
            const end = line.indexOf(" ", i);
            const stop = end < 0 ? line.length : end;
            fields.push(line.slice(i, stop));
            i = stop;
        }
    }
    return fields;
}

type Field = { any: true } | { name: string; values?: string[] };

function parse(pattern: string): Field[] {
    const m = /^\[(.*)\]$/.exec(pattern.trim());
    if (!m) throw new Error(`filter-pattern double: only space-delimited patterns [..] are understood, not ${pattern}`);
    return m[1].split(",").map((raw) => {
        const f = raw.trim();
        if (f === "...") return { any: true };
        if (/^\w+$/.test(f)) return { name: f };
        const alternatives = f.split("||").map((a) => /^(\w+)\s*=\s*"([^"]*)"$/.exec(a.trim()));
        if (alternatives.some((a) => !a) || new Set(alternatives.map((a) => a![1])).size !== 1) throw new Error(`filter-pattern double: cannot read field "${f}"`);
        return { name: alternatives[0]![1], values: alternatives.map((a) => a![2]) };
    });
}

const like = (want: string, got: string) => new RegExp(`^${want.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(got);

function matchFrom(fields: Field[], values: string[]): boolean {
    if (fields.length === 0) return values.length === 0;
    const [f, ...rest] = fields;
    if ("any" in f) {
        for (let skip = 0; skip <= values.length; skip++) if (matchFrom(rest, values.slice(skip))) return true;
        return false;
    }
    if (values.length === 0) return false;
    if (f.values && !f.values.some((v) => like(v, values[0]))) return false;
    return matchFrom(rest, values.slice(1));
}

/** `{ $.p = "a" || $.p = "b" }`: the property and its values, or undefined for any other pattern. */
function parseJson(pattern: string): { property: string; values: string[] } | undefined {
    const m = /^\{(.*)\}$/.exec(pattern.trim());
    if (!m) return undefined;
    const alternatives = m[1].split("||").map((a) => /^\$\.(\w+)\s*=\s*"([^"*]*)"$/.exec(a.trim()));
    if (alternatives.some((a) => !a) || new Set(alternatives.map((a) => a![1])).size !== 1) throw new Error(`filter-pattern double: cannot read JSON pattern ${pattern}`);
    return { property: alternatives[0]![1], values: alternatives.map((a) => a![2]) };
}

/** Whether CloudWatch would count this log line for the pattern. */
export function filterMatches(pattern: string, line: string): boolean {
    const json = parseJson(pattern);
    if (!json) return matchFrom(parse(pattern), logFields(line));
    let event: unknown;
    try {
        event = JSON.parse(line);
    } catch {
        return false;
    }
    const value = event !== null && typeof event === "object" ? (event as Record<string, unknown>)[json.property] : undefined;
    return typeof value === "string" && json.values.includes(value);
}
