/**
 * Pulumi entry point. Settings are read and validated before any resource is declared, so a bad
 * value fails `pulumi preview` with every problem listed and nothing half-created.
 */
import * as pulumi from "@pulumi/pulumi";
import { lastDeploy, previouslyVerified } from "./release/deploy";
import { placementProblems, previousPlacement } from "./topology/host/placement";
import { SofiaPlatform } from "./topology/host/platform";
import { SofiaEcsPlatform } from "./topology/ecs/platform";
import { ecsNetwork } from "./topology/ecs/network";
import { loadSettings, SettingsError } from "./model/settings";
import { DeclaredOutputs } from "./release/outputs";

export = async (): Promise<DeclaredOutputs> => {
    const settings = loadSettings();
    // Read before anything is declared: whether this update is a release decides its steps, and a
    // change the stack's data would not survive is refused before any resource exists to change.
    const self = lastDeploy();
    const problems = placementProblems(await previousPlacement(self), settings);
    if (problems.length) throw new SettingsError(settings.stack, problems);
    if (settings.acceptDataLoss) {
        // Left set, it would let every later update replace the data: said in every plan and update.
        pulumi.log.warn(`acceptDataLoss is set: this update may replace the data volume or the backup bucket. Unset it once done: pulumi config rm acceptDataLoss --stack ${settings.stack}`);
    }
    const previous = await previouslyVerified(self);
    if (settings.topology === "ecs") {
        // Its subnets are looked up before anything is declared: a mount target and a rule per subnet.
        const network = await ecsNetwork(settings);
        return new SofiaEcsPlatform("sofia", { settings, previous, network }).outputs;
    }
    const platform = new SofiaPlatform("sofia", { settings, previous });
    return platform.outputs;
};
