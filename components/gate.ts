/**
 * Gates: the resources a step waits for, passed in as resources. A gate declared after what it
 * holds back (a deploy's steps around containers that must exist first) is a LateGate: a promise
 * of its resources, which its owner opens once, when it declares them.
 *
 * A gate is always a plain list; a late gate's promise is one entry of it. The SDK resolves a
 * promise inside `dependsOn` and flattens what it gives (runtime/dependsOn.js,
 * gatherExplicitDependencies). A promise as the whole `dependsOn` would instead go through
 * mergeOptions' `output()`, whose unknown-value check walks the resource's object graph, which
 * reaches every resource of the program: once per resource, that made the host plan quadratic
 * (about 3 million visits for the paging composites alone).
 */
import * as pulumi from "@pulumi/pulumi";

/** Resources to wait for: resources, and promises of resources declared later. */
export type Gate = pulumi.Input<pulumi.Resource>[];

/** Every gate's resources as one `dependsOn`, always a plain list. */
export function allOf(...gates: (Gate | undefined)[]): Gate {
    return gates.filter((g): g is Gate => g !== undefined).flat();
}

/** A gate whose resources are declared later in the program, by whoever opens it. */
export class LateGate {
    /** Its resources, once opened. */
    readonly promised: Promise<pulumi.Resource[]>;
    /** The gate, as `dependsOn` takes it. */
    readonly resources: Gate;
    private resolve!: (resources: pulumi.Resource[]) => void;
    private reject!: (error: unknown) => void;
    private opened = false;

    /** @param name what it holds back, for the error when nobody opened it */
    constructor(readonly name: string) {
        this.promised = new Promise((resolve, reject) => ((this.resolve = resolve), (this.reject = reject)));
        // Whoever waits at the gate sees a failure; the promise itself must not count as unhandled.
        this.promised.catch(() => undefined);
        // The SDK flattens a promise of a list inside `dependsOn` (see above); its type says one resource.
        this.resources = [this.promised as unknown as Promise<pulumi.Resource>];
    }

    /** Declares its resources; once only. */
    open(resources: pulumi.Resource[]): void {
        if (this.opened) throw new Error(`gate "${this.name}" was opened twice`);
        this.opened = true;
        this.resolve(resources);
    }

    /**
     * Declares what opens the gates. Should it throw, or leave a gate closed, every closed gate
     * fails with that error: a gate nobody opens would hold its resources back forever, and the
     * update would hang with its error lost.
     */
    static declaring<T>(gates: LateGate[], declare: () => T): T {
        try {
            const result = declare();
            const closed = gates.filter((g) => !g.opened).map((g) => g.name);
            if (closed.length) throw new Error(`gates never opened: ${closed.join(", ")}; whatever waits on them would never be created`);
            return result;
        } catch (error) {
            for (const g of gates.filter((g) => !g.opened)) {
                g.opened = true;
                g.reject(error);
            }
            throw error;
        }
    }
}
