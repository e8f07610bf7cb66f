/**
 * Which input changes make the engine replace a resource instead of updating it in place: the
 * providers' ForceNew properties for the types this program declares (from the Terraform schemas
 * the Pulumi AWS, Docker and Random providers are built on), plus the resource's own
 * `replaceOnChanges` option. The offline plan has no provider to ask, so the table is the provider.
 */
import { RecordedOptions } from "./offline";

/** Top-level inputs whose change replaces a resource of the type (ForceNew in the provider). */
const FORCE_NEW: Record<string, readonly string[]> = {
    "aws:ebs/volume:Volume": ["availabilityZone", "encrypted", "kmsKeyId", "snapshotId", "outpostArn"],
    // userData replaces only with userDataReplaceOnChange (not set here): otherwise a stop and start.
    "aws:ec2/instance:Instance": ["ami", "availabilityZone", "subnetId", "keyName", "privateIp", "tenancy", "placementGroup", "ebsBlockDevices", "ephemeralBlockDevices", "associatePublicIpAddress", "hostId", "networkInterfaces", "cpuOptions", "rootBlockDevice.encrypted", "rootBlockDevice.kmsKeyId", "securityGroups"],
    // A new address: the domain's A record would point nowhere. The instance it is associated with changes in place.
    "aws:ec2/eip:Eip": ["domain", "vpc", "address", "publicIpv4Pool", "customerOwnedIpv4Pool", "networkBorderGroup", "ipamPoolId"],
    "aws:ec2/volumeAttachment:VolumeAttachment": ["deviceName", "instanceId", "volumeId"],
    "aws:ec2/securityGroup:SecurityGroup": ["name", "namePrefix", "description", "vpcId"],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ["securityGroupId"],
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ["securityGroupId"],
    "aws:s3/bucket:Bucket": ["bucket", "bucketPrefix", "objectLockEnabled"],
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ["bucket"],
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ["bucket"],
    "aws:s3/bucketVersioning:BucketVersioning": ["bucket", "expectedBucketOwner"],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ["bucket", "expectedBucketOwner"],
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ["bucket", "expectedBucketOwner"],
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": ["bucket", "expectedBucketOwner"],
    "aws:s3/bucketLogging:BucketLogging": ["bucket", "expectedBucketOwner"],
    // A new script is a new key (its digest is in it): a new object, the canaries then updated in place.
    "aws:s3/bucketObjectv2:BucketObjectv2": ["bucket", "key"],
    "aws:synthetics/canary:Canary": ["name"],
    "aws:iam/role:Role": ["name", "namePrefix", "path"],
    "aws:iam/rolePolicy:RolePolicy": ["name", "namePrefix", "role"],
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["role", "policyArn"],
    "aws:iam/instanceProfile:InstanceProfile": ["name", "namePrefix", "path"],
    "aws:cloudwatch/metricAlarm:MetricAlarm": ["name"],
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": ["alarmName"],
    "aws:cloudwatch/logGroup:LogGroup": ["name", "namePrefix", "logGroupClass"],
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": ["name", "logGroupName"],
    "aws:cloudwatch/dashboard:Dashboard": ["dashboardName"],
    "aws:cloudwatch/eventRule:EventRule": ["name", "namePrefix", "eventBusName"],
    "aws:cloudwatch/eventTarget:EventTarget": ["rule", "targetId", "eventBusName"],
    "aws:scheduler/schedule:Schedule": ["name", "namePrefix", "groupName"],
    "aws:sns/topic:Topic": ["name", "namePrefix", "fifoTopic"],
    "aws:sns/topicSubscription:TopicSubscription": ["topic", "protocol", "endpoint"],
    "aws:sns/topicPolicy:TopicPolicy": ["arn"],
    "aws:s3/bucketPolicy:BucketPolicy": ["bucket"],
    "aws:ssm/document:Document": ["name"],
    "aws:ssm/association:Association": ["name", "instanceId"],
    // Every input of a window is updated in place.
    "aws:ssm/maintenanceWindow:MaintenanceWindow": [],
    "aws:ssm/maintenanceWindowTarget:MaintenanceWindowTarget": ["windowId", "resourceType"],
    "aws:ssm/maintenanceWindowTask:MaintenanceWindowTask": ["windowId", "taskType"],
    "docker:index/volume:Volume": ["name", "driver", "driverOpts", "labels"],
    "docker:index/network:Network": ["name", "driver", "internal", "ipamConfigs", "options", "labels", "ipv6", "attachable"],
    "docker:index/remoteImage:RemoteImage": ["name", "pullTriggers", "platform"],
    "command:local:Command": ["triggers"],
    // Topology ecs. A task definition is immutable: every change but its tags is a new revision.
    "aws:ecs/cluster:Cluster": ["name"],
    "aws:ecs/taskDefinition:TaskDefinition": ["family", "containerDefinitions", "cpu", "memory", "networkMode", "requiresCompatibilities", "runtimePlatform", "executionRoleArn", "taskRoleArn", "volumes", "ephemeralStorage", "pidMode", "ipcMode"],
    // A new task definition, count or load balancer is a deployment, in place.
    "aws:ecs/service:Service": ["name", "cluster", "launchType", "schedulingStrategy", "iamRole", "deploymentController"],
    "aws:appautoscaling/target:Target": ["resourceId", "scalableDimension", "serviceNamespace"],
    "aws:appautoscaling/policy:Policy": ["name", "resourceId", "scalableDimension", "serviceNamespace"],
    "aws:lb/loadBalancer:LoadBalancer": ["name", "namePrefix", "internal", "loadBalancerType"],
    "aws:lb/targetGroup:TargetGroup": ["name", "namePrefix", "port", "protocol", "protocolVersion", "targetType", "vpcId"],
    "aws:lb/listener:Listener": ["loadBalancerArn"],
    "aws:acm/certificate:Certificate": ["domainName", "subjectAlternativeNames", "validationMethod", "keyAlgorithm", "certificateAuthorityArn"],
    "aws:acm/certificateValidation:CertificateValidation": ["certificateArn", "validationRecordFqdns"],
    "aws:elasticache/subnetGroup:SubnetGroup": ["name"],
    "aws:elasticache/parameterGroup:ParameterGroup": ["name", "family", "description"],
    // A new seed (snapshotArns) is a new, seeded group: the cache's data is replaced.
    "aws:elasticache/replicationGroup:ReplicationGroup": ["replicationGroupId", "subnetGroupName", "snapshotArns", "snapshotName", "atRestEncryptionEnabled", "kmsKeyId", "port", "dataTieringEnabled", "preferredCacheClusterAzs"],
    "aws:secretsmanager/secret:Secret": ["name", "namePrefix"],
    "aws:secretsmanager/secretVersion:SecretVersion": ["secretId"],
    "aws:efs/fileSystem:FileSystem": ["creationToken", "encrypted", "kmsKeyId", "performanceMode", "availabilityZoneName"],
    "aws:efs/backupPolicy:BackupPolicy": ["fileSystemId"],
    "aws:efs/mountTarget:MountTarget": ["fileSystemId", "subnetId", "ipAddress"],
    "aws:efs/accessPoint:AccessPoint": ["fileSystemId", "posixUser", "rootDirectory"],
    "aws:servicediscovery/httpNamespace:HttpNamespace": ["name"],
    // A provider's inputs reach its resources through their own diffs.
    "pulumi:providers:docker": [],
};

/** Docker containers are the other way round: every input replaces them except these few. */
const CONTAINER_TYPE = "docker:index/container:Container";
const CONTAINER_IN_PLACE = new Set([
    // What `docker update` can change on a running container (the provider's Update).
    "restart", "maxRetryCount", "cpuShares", "memory", "cpuSet", "memorySwap",
    // The provider's own behaviour, not the container's.
    "mustRun", "wait", "waitTimeout", "destroyGraceSeconds", "containerReadRefreshTimeoutMilliseconds", "attach", "logs", "rm", "start", "removeVolumes",
]);

/** Every random password, string or id input is ForceNew: a change is a new value. */
const ALL_FORCE_NEW = new Set(["random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString", "random:index/randomId:RandomId"]);

/** Whether a resource's ignoreChanges option covers a changed input path. */
export function ignored(options: RecordedOptions, path: string): boolean {
    return (options.ignoreChanges ?? []).some((i) => covers(i, path));
}

function covers(rule: string, changed: string): boolean {
    return rule === "*" || changed === rule || changed.startsWith(`${rule}.`) || changed.startsWith(`${rule}[`);
}

/**
 * The changed input paths (dotted, `a.b[0].c`) that make the engine replace the resource; empty
 * when the change is an update in place.
 */
export function replacementCauses(type: string, changedPaths: readonly string[], options: RecordedOptions = {}): string[] {
    const rules = [...(FORCE_NEW[type] ?? []), ...(options.replaceOnChanges ?? [])];
    // A change the resource ignores is no change to the engine.
    return changedPaths.filter((p) => !ignored(options, p)).filter((p) => {
        if (ALL_FORCE_NEW.has(type)) return true;
        if (type === CONTAINER_TYPE) return !CONTAINER_IN_PLACE.has(p.split(/[.[]/)[0]) || rules.some((r) => covers(r, p));
        return rules.some((r) => covers(r, p));
    });
}

/** Types the table knows (a test checks that every type the program declares is among them). */
export function knownReplacementTypes(): string[] {
    return [...Object.keys(FORCE_NEW), CONTAINER_TYPE, ...ALL_FORCE_NEW];
}
