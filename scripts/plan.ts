import { main } from "./plan-cli";

// `npm run plan | head`: the reader has what it wanted and left; that is no failure.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
});

main(process.argv.slice(2), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }).then(
    (code) => {
        process.exitCode = code;
    },
    (e) => {
        process.stderr.write(`${e?.stack ?? e}\n`);
        process.exitCode = 1;
    },
);
