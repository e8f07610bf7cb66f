/**
 * The soak before promotion (the runbook's "Monitor metrics for 30 minutes"): a release moves to
 * prod only once staging has run it for the soak period since it was verified, with none of
 * staging's paging alarms (level 2 or 3) in ALARM at any time since.
 *
 * What CloudWatch tells: every alarm's current state and when it last changed, and its history of
 * state changes. An alarm that is OK now and has not changed since verification was OK the whole
 * time; one that changed since needs its history to tell whether it went through ALARM. Without
 * a readable history, such an alarm refuses the promotion rather than guessing.
 */
import { execFileSync } from "child_process";

export interface AlarmState {
    name: string;
    state: string;
    /** ISO 8601. */
    updatedAt: string;
}

export interface AlarmTransition {
    name: string;
    /** ISO 8601. */
    at: string;
    to: string;
}

export interface SoakInput {
    verifiedAt: string;
    now: Date;
    soakMinutes: number;
    /** The paging alarms that must stay out of ALARM. */
    alarms: string[];
    states: AlarmState[];
    /** State changes since verification, or why they could not be read. */
    history: AlarmTransition[] | { error: string };
}

export interface SoakVerdict {
    ok: boolean;
    /** Whole minutes until the soak period ends (0 once it has). */
    remainingMinutes: number;
    endsAt: string;
    /** Each alarm that stands in the way, with why. */
    problems: string[];
}

export function soakVerdict(i: SoakInput): SoakVerdict {
    const verified = Date.parse(i.verifiedAt);
    if (Number.isNaN(verified)) throw new Error(`soak: verifiedAt "${i.verifiedAt}" is not a time`);
    const ends = verified + i.soakMinutes * 60_000;
    const remainingMinutes = Math.max(0, Math.ceil((ends - i.now.getTime()) / 60_000));
    const problems: string[] = [];
    const byName = new Map(i.states.map((s) => [s.name, s]));
    for (const name of i.alarms) {
        const s = byName.get(name);
        if (!s) {
            problems.push(`${name} does not exist in CloudWatch: is staging deployed by this program?`);
            continue;
        }
        if (s.state === "ALARM") {
            problems.push(`${name} is in ALARM (since ${s.updatedAt})`);
            continue;
        }
        if (Date.parse(s.updatedAt) < verified) continue;
        if (Array.isArray(i.history)) {
            const fired = i.history.filter((t) => t.name === name && t.to === "ALARM" && Date.parse(t.at) >= verified).map((t) => t.at);
            if (fired.length) problems.push(`${name} was in ALARM at ${fired.sort().join(", ")}, after the release was verified`);
        } else {
            problems.push(`${name} changed state at ${s.updatedAt}, after the release was verified, and its history could not be read (${i.history.error}): cannot tell whether it was in ALARM`);
        }
    }
    return { ok: remainingMinutes === 0 && problems.length === 0, remainingMinutes, endsAt: new Date(ends).toISOString(), problems };
}

/** One line for people: how long is left, and what stands in the way. */
export function describeSoak(v: SoakVerdict, soakMinutes: number): string {
    const time = v.remainingMinutes > 0 ? `${v.remainingMinutes} of ${soakMinutes} minutes left (ends ${v.endsAt})` : `the ${soakMinutes} minutes are over (ended ${v.endsAt})`;
    const alarms = v.problems.length ? `; in the way: ${v.problems.join("; ")}` : "; no level 2 or 3 alarm since verification";
    return `soak in staging: ${time}${alarms}`;
}

/** A timestamp as the aws CLI prints it (ISO text, or epoch seconds from some protocol versions). */
function isoTime(v: unknown): string {
    if (typeof v === "number") return new Date(v * 1000).toISOString();
    const t = Date.parse(String(v));
    if (Number.isNaN(t)) throw new Error(`soak: "${String(v)}" from CloudWatch is not a time`);
    return new Date(t).toISOString();
}

/** Runs the aws CLI (its endpoint, region and credentials from the environment) and parses its JSON. */
function awsJson(args: string[], region: string): any {
    return JSON.parse(execFileSync("aws", [...args, "--region", region, "--output", "json"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }));
}

/** The alarms' current states and their changes since `since`, from CloudWatch. */
export function readAlarms(alarms: string[], region: string, since: string): Pick<SoakInput, "states" | "history"> {
    const states: AlarmState[] = [];
    // DescribeAlarms takes at most 100 names per call.
    for (let i = 0; i < alarms.length; i += 100) {
        const out = awsJson(["cloudwatch", "describe-alarms", "--alarm-types", "MetricAlarm", "--alarm-names", ...alarms.slice(i, i + 100)], region);
        for (const a of out.MetricAlarms ?? []) states.push({ name: a.AlarmName, state: a.StateValue, updatedAt: isoTime(a.StateUpdatedTimestamp) });
    }
    let history: SoakInput["history"];
    try {
        const out = awsJson(["cloudwatch", "describe-alarm-history", "--history-item-type", "StateUpdate", "--start-date", since], region);
        history = (out.AlarmHistoryItems ?? []).map((h: any) => ({ name: h.AlarmName, at: isoTime(h.Timestamp), to: JSON.parse(h.HistoryData ?? "{}").newState?.stateValue ?? "unknown" }));
    } catch (e) {
        const stderr = String((e as { stderr?: string }).stderr ?? e).trim().split("\n").filter(Boolean).pop() ?? "no output";
        history = { error: `describe-alarm-history failed: ${stderr.slice(0, 200)}` };
    }
    return { states, history };
}
