/**
 * The runbook's "Maintenance Windows" and the machine-doable checklist items, as data: which
 * windows, when, and their tasks in order. components/maintenance-window.ts makes them SSM
 * maintenance windows; the README's maintenance table is generated from the same data.
 *
 * The weekly and the monthly window share the first Sunday: the monthly one starts when the weekly
 * one ends (04:00 UTC by default), so they never run into each other; settings that would make
 * them overlap are refused.
 */
import * as fs from "fs";
import { HostFilesPart } from "../../components/host-files";
import { hostScript } from "../../components/project-root";
import { SCHEDULED_BACKUP_WAIT_SECONDS } from "./backups";
import { Settings } from "../../model/settings";
import { BACKUP_BIN, CAPACITY_BIN, MAINTENANCE_BIN, RESTORE_BIN, SERVICES_BIN } from "./layout";
import { hostEnvFile } from "./services-files";

export { windowsOverlap } from "../../model/maintenance-rules";

export interface MaintenanceTask {
    id: string;
    /** One line for the plan and the README. */
    title: string;
    /** Shell commands run on the host (AWS-RunShellScript). */
    run: { commands: string[] };
    /** How long SSM lets it run before it stops it (AWS-RunShellScript's own default is one hour). */
    timeoutMinutes: number;
}

export interface MaintenanceWindowSpec {
    id: "weekly" | "monthly";
    title: string;
    schedule: string;
    durationHours: number;
    cutoffHours: number;
    /** In order: each task's priority is its position, so they run one after another. */
    tasks: MaintenanceTask[];
}

export function maintenancePlan(s: Settings): MaintenanceWindowSpec[] {
    const minutes = s.maintenance.durationHours * 60;
    // Work on the whole dataset (verifying, restoring, backing up) may take as long as a restore
    // may (the recovery-time objective) and as long again waiting for the host lock.
    const dataMinutes = 2 * s.alarms.recoveryTimeMinutes;
    // Each window owns its signal: a deploy or restore inside it keeps its own, and ending one ends only that one.
    const signalOn = (window: string): MaintenanceTask => ({ id: "signal-on", title: "Raise the maintenance signal: pages are suppressed", run: { commands: [`${MAINTENANCE_BIN} signal on ${minutes} window-${window}`] }, timeoutMinutes: 5 });
    const signalOff = (window: string): MaintenanceTask => ({ id: "signal-off", title: "Clear the window's maintenance signal (it also lapses at the window's end)", run: { commands: [`${MAINTENANCE_BIN} signal off window-${window}`] }, timeoutMinutes: 5 });
    return [
        {
            id: "weekly",
            title: "Weekly care (runbook: Sunday 02:00-04:00 UTC)",
            schedule: s.maintenance.weeklySchedule,
            durationHours: s.maintenance.durationHours,
            cutoffHours: s.maintenance.cutoffHours,
            tasks: [
                signalOn("weekly"),
                { id: "questdb-retention", title: `QuestDB retention (${s.questdb.retentionDays} days) and VACUUM TABLE`, run: { commands: [`${SERVICES_BIN} tune`] }, timeoutMinutes: 60 },
                { id: "tidy", title: "Prune old logs and Docker leftovers on the host", run: { commands: [`${MAINTENANCE_BIN} tidy`] }, timeoutMinutes: 30 },
                { id: "verify-backup", title: "Verify the latest backup: every object against its manifest, redis-check-rdb", run: { commands: [`${RESTORE_BIN} --verify-only latest`] }, timeoutMinutes: dataMinutes },
                {
                    id: "patch",
                    title: "Security updates under the host lock, after any running operation; a reboot only through SSM (exit 194)",
                    run: { commands: [`${SERVICES_BIN} patch`] },
                    // The host lock's wait (30 minutes) and the updates.
                    timeoutMinutes: 90,
                },
                { id: "after-patch", title: "Services back in catalog order and healthy", run: { commands: [`${SERVICES_BIN} start`, `${SERVICES_BIN} verify`] }, timeoutMinutes: 60 },
                signalOff("weekly"),
            ],
        },
        {
            id: "monthly",
            title: "Monthly, first Sunday, after the weekly window",
            schedule: s.maintenance.monthlySchedule,
            durationHours: s.maintenance.durationHours,
            cutoffHours: s.maintenance.cutoffHours,
            tasks: [
                signalOn("monthly"),
                { id: "full-restart", title: "Full restart: stop in reverse order, start in catalog order, verify every /health", run: { commands: [`${SERVICES_BIN} restart`, `${SERVICES_BIN} verify`] }, timeoutMinutes: 60 },
                { id: "dr-test", title: "Disaster-recovery test: restore the latest backup into scratch space, verify, time it", run: { commands: [`${RESTORE_BIN} --scratch latest`] }, timeoutMinutes: dataMinutes },
                { id: "backup-after", title: "A fresh backup after the restart", run: { commands: [`${BACKUP_BIN} run --wait ${SCHEDULED_BACKUP_WAIT_SECONDS}`] }, timeoutMinutes: dataMinutes },
                {
                    id: "capacity-report",
                    title: "Capacity report: 90 days of growth against each alarm's limit, months left, what to do (in the backup bucket)",
                    run: { commands: [`${CAPACITY_BIN} report`] },
                    timeoutMinutes: 15,
                },
                signalOff("monthly"),
            ],
        },
    ];
}

/** The maintenance helper on the host. */
export function maintenanceHostFiles(): HostFilesPart {
    return { name: "maintenance", files: [hostEnvFile(), { path: MAINTENANCE_BIN, content: fs.readFileSync(hostScript("sofia-maintenance.sh"), "utf8"), mode: "0755" }], afterInstall: [] };
}

/** The README's maintenance table, generated from the plan (checked by a test). */
export function maintenanceTable(s: Settings): string {
    const rows = maintenancePlan(s).flatMap((w) => [
        `| **${w.id}** \`${w.schedule}\`, ${w.durationHours} h (no new task in the last ${w.cutoffHours} h) | ${w.title} |`,
        ...w.tasks.map((t, i) => `| ${i + 1}. \`${t.id}\` | ${t.title} (stopped after ${t.timeoutMinutes} min) |`),
    ]);
    return ["| window / task | what |", "| --- | --- |", ...rows].join("\n");
}
