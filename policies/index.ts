/** The pack `pulumi preview --policy-pack policies` loads. The rules live in rules.ts. */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./rules";

new PolicyPack("sofia", { policies });
