/**
 * Names of Sofia's own CloudWatch metrics: alarms read them, host scripts publish them (the names
 * reach the scripts through their generated configuration, never retyped there).
 */
export const METRICS_NAMESPACE = "Sofia";

/** Every Sofia metric carries the stack as this dimension. */
export const STACK_DIMENSION = "Stack";

export const BACKUP_METRICS = {
    /** 1 for a complete, verified backup; 0 for a failed one. */
    success: "BackupSuccess",
    bytes: "BackupBytes",
    duration: "BackupDurationSeconds",
    /** Hours since the newest complete backup (published every 15 minutes, and 0 after a backup). */
    age: "BackupAgeHours",
} as const;
