/** Bucket policy statements every Sofia bucket shares. */

export const denyInsecureTransport = (bucketArn: string) => ({
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
});

/** The bucket policy: nothing over plain HTTP. */
export function tlsOnlyPolicy(bucketArn: string): string {
    return JSON.stringify({ Version: "2012-10-17", Statement: [denyInsecureTransport(bucketArn)] });
}
