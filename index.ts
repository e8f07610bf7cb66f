/**
 * Pulumi entry point. Settings are read and validated before any resource is declared, so a bad
 * value fails `pulumi preview` with every problem listed and nothing half-created.
 */
import { previouslyVerified } from "./services/deploy";
import { SofiaPlatform } from "./services/platform";
import { loadSettings } from "./services/settings";

export = async () => {
    const settings = loadSettings();
    // Read before anything is declared: whether this update is a release decides its steps.
    const previous = await previouslyVerified();
    const platform = new SofiaPlatform("sofia", { settings, previous });
    return platform.outputs;
};
