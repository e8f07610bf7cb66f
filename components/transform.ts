/**
 * Transform hooks, SST-style: a caller adjusts a component's child before it is created, without
 * the component growing an argument for every field of every child. Either fields merged over the
 * component's own arguments, or a function that edits the arguments and options in place.
 */
import * as pulumi from "@pulumi/pulumi";

export type Transform<Args> = Partial<Args> | ((args: Args, opts: pulumi.CustomResourceOptions, name: string) => void);

/** The child's name, arguments and options after the caller's transform, if any. */
export function transformed<Args extends object>(transform: Transform<Args> | undefined, name: string, args: Args, opts: pulumi.CustomResourceOptions): [string, Args, pulumi.CustomResourceOptions] {
    if (!transform) return [name, args, opts];
    if (typeof transform === "function") {
        const a = { ...args };
        const o = { ...opts };
        transform(a, o, name);
        return [name, a, o];
    }
    return [name, { ...args, ...transform }, opts];
}
