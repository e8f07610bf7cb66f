/**
 * Pulumi entry point. Settings are read and validated before any resource is declared, so a bad
 * value fails `pulumi preview` with every problem listed and nothing half-created.
 */
import { SofiaPlatform } from "./services/platform";
import { loadSettings } from "./services/settings";

export = async () => {
    const settings = loadSettings();
    const platform = new SofiaPlatform("sofia", { settings });
    return platform.outputs;
};
