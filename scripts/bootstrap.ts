import { main } from "../bootstrap/cli";

process.exitCode = main(process.argv.slice(2));
