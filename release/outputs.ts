/**
 * The stack's outputs: the one contract between the program that declares them
 * (topology/host/platform.ts), promotion and rollback that read them (`pulumi stack output
 * --json`), the next update that reads its own last ones (release/deploy.ts), and the offline plan
 * that shows and compares them. Fields added later are optional to a reader: outputs of an older
 * version lack them.
 */
import * as pulumi from "@pulumi/pulumi";
import { DeployKind, DeployStepSpec } from "../model/deploy-steps";

/** What a deploy records (the `verifiedRelease` output), and what the next one compares with. */
export interface VerifiedRelease {
    /** App images: what promotion moves to prod. */
    release: Record<string, string>;
    /** Every image reference of the stack: what decides whether an update is a release (absent in outputs of older versions). */
    images?: Record<string, string>;
    /** Fingerprint of what shapes the containers (containerFingerprint): a change verifies again. */
    containers?: string;
    /** The stores' part of it (storeFingerprint): a change replaces a store, so the whole checklist runs. */
    stores?: string;
    /** When verification last passed on the host, ISO 8601 UTC. */
    verifiedAt: string | null;
    /** The commit of this repository the update ran (deployCommit): what promotion holds prod to. */
    commit?: string;
    /** The rollback this release was deployed as (settings deploy.rollbackId), if it was one. */
    rollbackId?: string;
    /** The stores' schema after this deploy, and the oldest app schema that reads it (settings deploy.schema). */
    schema?: SchemaContract;
    /** The backup the deploy took before it changed anything: the way back for the data. */
    preDeployBackup?: string;
    /** The releases this stack verified, newest first (this one included): what a rollback may go back to. */
    history?: ReleaseRecord[];
}

/** The schema contract of a release: see settings deploy.schema. */
export interface SchemaContract {
    version: number;
    oldestCompatible: number;
}

/** One verified release of a stack's history. */
export type ReleaseRecord = Omit<VerifiedRelease, "history" | "containers" | "stores" | "rollbackId">;

/** What this update does beyond the resources: the deployment checklist's steps, in order. */
export interface DeploySummary {
    kind: DeployKind;
    steps: DeployStepSpec["id"][];
    /** Image references that change, as "name: old -> new". */
    changes: string[];
}

/** Where the stack's data lives: the next update refuses a change that would replace it (topology/host/placement.ts). */
export interface Placement {
    /** The zone the settings choose (availabilityZone, or the region's first). */
    zone: string;
    subnetId: string | null;
    objectLock: boolean;
}

/** The summary sofia-restore prints last: `{"restore": {id, started, ended, seconds, result}}`. */
export interface RestoreSummary {
    id: string;
    started: string;
    ended: string;
    seconds: number;
    result: "ok" | "failed";
}

export interface StackOutputs {
    instanceId: string;
    /** The host's address (its Elastic IP where the proxy has a DNS name). */
    publicIp: string;
    /** Each client port through the front proxy, by service. */
    endpoints: Record<string, string>;
    /** The catalog's start order, stage by stage. */
    startStages: string[][];
    alarmTopics: { level2: string; level3: string };
    dashboard: string;
    /** The app images of this update (what promotion moves). */
    release: Record<string, string>;
    /** The release verified on the host, and when; null before a first verification. */
    verifiedRelease: VerifiedRelease | null;
    deploy: DeploySummary;
    /** Where the backups are: s3://bucket/stack/. */
    backups: string;
    placement: Placement;
    /** Grafana's address and its admin's user. */
    grafana?: { url: string; user: string; tunnel?: string };
    /** The admin's generated password, a secret: `pulumi stack output --show-secrets grafanaAdminPassword`. */
    grafanaAdminPassword?: string;
    /** Where Sofia runs (settings topology); absent: host. */
    topology?: "host" | "ecs";
    /** Topology ecs: the load balancer's DNS name (point the clients' name at it). */
    loadBalancer?: string;
    /** Topology ecs with a requested certificate: the DNS record ACM issues it on. */
    certificateValidation?: { name: string; type: string; value: string };
    /** The last restore.from this stack ran, once it has: its id and result ("pending" until it reports). */
    lastRestore?: RestoreSummary | { id: string; result: "pending" };
}

/** A value the program declares: it, or any part of it, may still be computing. */
export type Declared<T> = pulumi.Input<T extends (infer U)[] ? Declared<U>[] : T extends object ? { [K in keyof T]: Declared<T[K]> } : T>;

/** What the program declares. */
export type DeclaredOutputs = { [K in keyof StackOutputs]: Declared<StackOutputs[K]> };

/** What a reader of a stack's outputs may find: any field of an older version may be missing. */
export type ReadOutputs = Partial<StackOutputs>;
