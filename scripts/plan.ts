import { main } from "./plan-cli";

main(process.argv.slice(2), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }).then(
    (code) => {
        process.exitCode = code;
    },
    (e) => {
        process.stderr.write(`${e?.stack ?? e}\n`);
        process.exitCode = 1;
    },
);
