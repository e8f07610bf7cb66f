/**
 * Gates: the resources a step waits for, passed in as resources. A gate declared after what it
 * holds back (a deploy's steps around containers that must exist first) is a LateGate: a typed
 * promise of its resources, which its owner opens once, when it declares them. The engine waits
 * for a promise in `dependsOn` as for the resources themselves.
 */
import * as pulumi from "@pulumi/pulumi";

/** Resources to wait for, now or once they are declared. */
export type Gate = pulumi.Resource[] | Promise<pulumi.Resource[]>;

/** Every gate's resources as one `dependsOn`: plain when every gate is, a promise otherwise. */
export function allOf(...gates: (Gate | undefined)[]): Gate {
    const given = gates.filter((g): g is Gate => g !== undefined);
    if (given.every(Array.isArray)) return (given as pulumi.Resource[][]).flat();
    return Promise.all(given).then((lists) => lists.flat());
}

/** A gate whose resources are declared later in the program, by whoever opens it. */
export class LateGate {
    readonly resources: Promise<pulumi.Resource[]>;
    private resolve!: (resources: pulumi.Resource[]) => void;
    private reject!: (error: unknown) => void;
    private opened = false;

    /** @param name what it holds back, for the error when nobody opened it */
    constructor(readonly name: string) {
        this.resources = new Promise((resolve, reject) => ((this.resolve = resolve), (this.reject = reject)));
        // Whoever waits at the gate sees a failure; the promise itself must not count as unhandled.
        this.resources.catch(() => undefined);
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
