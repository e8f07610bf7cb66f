/** The first-Sunday rule, on its own so that the settings schema can use it without a cycle. */
import { cronFields } from "../components/formats";

interface MaintenanceTimes {
    weeklySchedule: string;
    monthlySchedule: string;
    durationHours: number;
}

/** The hour a "cron(m h ...)" schedule starts at, and its day-of-week field. */
function startOf(expr: string): { hour: number; minute: number; dow: string } | undefined {
    const f = cronFields(expr);
    // Only a window with one fixed start time can be compared.
    return f && /^\d+$/.test(f.minute) && /^\d+$/.test(f.hour) ? { minute: Number(f.minute), hour: Number(f.hour), dow: f.dayOfWeek } : undefined;
}

/**
 * The first-Sunday rule: when the monthly window falls on a day the weekly one also runs, it must
 * start after the weekly window ends. Returns a problem sentence, or undefined.
 */
export function windowsOverlap(m: MaintenanceTimes): string | undefined {
    const weekly = startOf(m.weeklySchedule);
    const monthly = startOf(m.monthlySchedule);
    if (!weekly || !monthly) return undefined;
    if (monthly.dow.replace(/#\d|L$/, "") !== weekly.dow) return undefined;
    const weeklyStart = weekly.hour * 60 + weekly.minute;
    const weeklyEnd = weeklyStart + m.durationHours * 60;
    const monthlyStart = monthly.hour * 60 + monthly.minute;
    const monthlyEnd = monthlyStart + m.durationHours * 60;
    if (monthlyStart < weeklyEnd && weeklyStart < monthlyEnd) {
        const hhmm = (min: number) => `${String(Math.floor(min / 60) % 24).padStart(2, "0")}:${String(min % 60).padStart(2, "0")}`;
        return `it overlaps the weekly window (${hhmm(weeklyStart)}-${hhmm(weeklyEnd)} UTC) on the days both run; start it at ${hhmm(weeklyEnd)} or later`;
    }
    return undefined;
}

