/**
 * One way for every `npm run` command to read its arguments: `--help` prints the usage (exit 0);
 * an unknown or malformed option is one line naming it with the usage's first line (exit 2).
 */
import { parseArgs, ParseArgsConfig } from "util";

/** Exit status of a command given options it does not take (as getopt-style tools do). */
export const USAGE_EXIT = 2;

export type Parsed = { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };

/** The parsed arguments, or the exit status when the command has nothing more to do. */
export function readArgs(command: string, usage: string, argv: string[], options: NonNullable<ParseArgsConfig["options"]>, allowPositionals = false, print = { out: console.log, err: console.error }): Parsed | number {
    let parsed;
    try {
        parsed = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h", default: false } }, strict: true, allowPositionals });
    } catch (e) {
        print.err(`${command}: ${(e as Error).message.split("\n")[0]} (${usage.split("\n")[0]})`);
        return USAGE_EXIT;
    }
    if (parsed.values.help) {
        print.out(usage);
        return 0;
    }
    return parsed as Parsed;
}
