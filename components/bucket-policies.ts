/** Bucket policy statements every Sofia bucket shares. */

export const denyInsecureTransport = (bucketArn: string) => ({
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
});

/** The bucket policy: nothing over plain HTTP, and any further statements. */
export function tlsOnlyPolicy(bucketArn: string, more: object[] = []): string {
    return JSON.stringify({ Version: "2012-10-17", Statement: [denyInsecureTransport(bucketArn), ...more] });
}
