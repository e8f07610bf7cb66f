/** IAM building blocks shared by components. */

/** A trust policy letting one AWS service assume the role (e.g. "ec2.amazonaws.com"). */
export function assumedBy(service: string): string {
    return JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }] });
}

/** One statement of an IAM or resource policy, as policies and the offline diff read it. */
export interface PolicyStatement {
    Sid?: string;
    Effect?: string;
    Principal?: unknown;
    Action?: string | string[];
    NotAction?: string | string[];
    Resource?: string | string[];
    NotResource?: string | string[];
    Condition?: Record<string, Record<string, string | string[]>>;
}

/** The statements of a policy document given as JSON text or as an object; none when it is not one. */
export function policyStatements(policy: unknown): PolicyStatement[] {
    let doc = policy;
    if (typeof policy === "string") {
        try {
            doc = JSON.parse(policy);
        } catch {
            return [];
        }
    }
    const s = (doc as { Statement?: PolicyStatement | PolicyStatement[] } | undefined)?.Statement;
    return s === undefined ? [] : Array.isArray(s) ? s : [s];
}
