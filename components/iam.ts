/** IAM building blocks shared by components. */

/** A trust policy letting one AWS service assume the role (e.g. "ec2.amazonaws.com"). */
export function assumedBy(service: string): string {
    return JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }] });
}
