/**
 * What the deploy and preview roles may do, generated from the resource types the program
 * declares: each type's create, read, update, delete and tag calls (as the AWS provider makes
 * them), scoped to Sofia's names where AWS allows, plus the operations around them (host steps
 * through SSM, Docker through an SSM session, the roles it passes, the soak's alarm reads).
 * test/bootstrap.test.ts fails when the program declares a type that is not listed here.
 */
import { AWS_LIMITS, iamChars } from "../components/aws-limits";

/** Where a policy is used: the partition, account and region its ARNs name. */
export interface Scope {
    partition: string;
    account: string;
    region: string;
}

/** The ARN partition of a region. */
export function partitionOf(region: string): string {
    return region.startsWith("cn-") ? "aws-cn" : region.includes("-gov-") ? "aws-us-gov" : "aws";
}

type Resources = (s: Scope) => string[];

/** ARN patterns of what the program creates (its names all start with "sofia"). */
const ANY: Resources = () => ["*"];
const ROLES: Resources = (s) => [`arn:${s.partition}:iam::${s.account}:role/sofia-*`];
const PROFILES: Resources = (s) => [`arn:${s.partition}:iam::${s.account}:instance-profile/sofia-*`];
const BUCKETS: Resources = (s) => [`arn:${s.partition}:s3:::sofia-backups-*`, `arn:${s.partition}:s3:::sofia-*-synthetics-*`];
/** The synthetic checks' code and run artifacts, in their own buckets. */
const SYNTHETICS_OBJECTS: Resources = (s) => [`arn:${s.partition}:s3:::sofia-*-synthetics-*/*`];
const TOPICS: Resources = (s) => [`arn:${s.partition}:sns:${s.region}:${s.account}:sofia-*`];
const ALARMS: Resources = (s) => [`arn:${s.partition}:cloudwatch:${s.region}:${s.account}:alarm:sofia-*`];
const DASHBOARDS: Resources = (s) => [`arn:${s.partition}:cloudwatch::${s.account}:dashboard/sofia-*`];
const LOG_GROUPS: Resources = (s) => [`arn:${s.partition}:logs:${s.region}:${s.account}:log-group:/sofia/*`, `arn:${s.partition}:logs:${s.region}:${s.account}:log-group:/sofia/*:*`];
const RULES: Resources = (s) => [`arn:${s.partition}:events:${s.region}:${s.account}:rule/sofia-*`];
const DOCUMENTS: Resources = (s) => [`arn:${s.partition}:ssm:${s.region}:${s.account}:document/sofia-*`];
const WINDOWS: Resources = (s) => [`arn:${s.partition}:ssm:${s.region}:${s.account}:maintenancewindow/*`];
/** Topology ecs: the stores' passwords and the registry's credentials (names "sofia-<stack>-..."). */
const SECRETS: Resources = (s) => [`arn:${s.partition}:secretsmanager:${s.region}:${s.account}:secret:sofia-*`];

interface Grant {
    /** The calls the provider makes for this type. */
    actions: string[];
    /** What its writes may touch. Reads (Describe, Get, List) go to "*": most of them take no resource. */
    resources: Resources;
    /** Its reads stay on `resources` too (S3: listing a bucket is reading what is in it). */
    scopedReads?: boolean;
    /** A condition its writes carry (their own statement). */
    condition?: Record<string, Record<string, string | string[]>>;
}

/** Types that call no AWS API: Docker on the host, local commands, generated passwords, the engine's own. */
export const NO_AWS_CALLS = ["docker:", "command:", "random:", "pulumi:", "sofia:"] as const;

/**
 * EC2's resource-level permissions for RunInstances span the instance, its volumes, network
 * interface, security group, subnet, image and profile: scoping them is a policy only a real
 * account can prove, so EC2 calls go to "*" (each listed by name, none by wildcard).
 */
export const TYPE_GRANTS: Record<string, Grant> = {
    "aws:ec2/instance:Instance": {
        actions: [
            "ec2:RunInstances", "ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances", "ec2:DescribeInstances", "ec2:DescribeInstanceAttribute",
            "ec2:DescribeInstanceTypes", "ec2:DescribeInstanceCreditSpecifications", "ec2:ModifyInstanceCreditSpecification", "ec2:ModifyInstanceAttribute",
            "ec2:ModifyInstanceMetadataOptions", "ec2:MonitorInstances", "ec2:UnmonitorInstances", "ec2:DescribeVolumes", "ec2:DescribeNetworkInterfaces",
            "ec2:AssociateIamInstanceProfile", "ec2:ReplaceIamInstanceProfileAssociation", "ec2:DescribeIamInstanceProfileAssociations", "ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeTags",
        ],
        resources: ANY,
    },
    // The host's Elastic IP (proxy.acme): allocated, associated with the instance, moved to a replacement.
    "aws:ec2/eip:Eip": {
        actions: ["ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:AssociateAddress", "ec2:DisassociateAddress", "ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute", "ec2:DescribeInstances", "ec2:CreateTags", "ec2:DeleteTags"],
        resources: ANY,
    },
    "aws:ebs/volume:Volume": { actions: ["ec2:CreateVolume", "ec2:DeleteVolume", "ec2:ModifyVolume", "ec2:DescribeVolumes", "ec2:DescribeVolumesModifications", "ec2:CreateTags", "ec2:DeleteTags"], resources: ANY },
    "aws:ec2/volumeAttachment:VolumeAttachment": { actions: ["ec2:AttachVolume", "ec2:DetachVolume", "ec2:DescribeVolumes", "ec2:StopInstances", "ec2:StartInstances", "ec2:DescribeInstances"], resources: ANY },
    "aws:ec2/securityGroup:SecurityGroup": {
        actions: ["ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules", "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:DescribeNetworkInterfaces", "ec2:CreateTags", "ec2:DeleteTags"],
        resources: ANY,
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
        actions: ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:ModifySecurityGroupRules", "ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:DescribeSecurityGroupRules", "ec2:CreateTags", "ec2:DeleteTags"],
        resources: ANY,
    },
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {
        actions: ["ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress", "ec2:ModifySecurityGroupRules", "ec2:UpdateSecurityGroupRuleDescriptionsEgress", "ec2:DescribeSecurityGroupRules", "ec2:CreateTags", "ec2:DeleteTags"],
        resources: ANY,
    },
    "aws:iam/role:Role": {
        actions: ["iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole"],
        resources: ROLES,
    },
    "aws:iam/rolePolicy:RolePolicy": { actions: ["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"], resources: ROLES },
    "aws:iam/instanceProfile:InstanceProfile": {
        actions: ["iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:GetInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile", "iam:UntagInstanceProfile"],
        resources: (s) => [...PROFILES(s), ...ROLES(s)],
    },
    "aws:s3/bucket:Bucket": {
        actions: [
            "s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite", "s3:GetBucketVersioning", "s3:GetAccelerateConfiguration",
            "s3:GetBucketRequestPayment", "s3:GetBucketLogging", "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration", "s3:GetEncryptionConfiguration",
            "s3:GetBucketObjectLockConfiguration", "s3:GetBucketTagging", "s3:PutBucketTagging", "s3:GetBucketPolicy", "s3:GetBucketLocation", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning",
        ],
        resources: BUCKETS,
        scopedReads: true,
    },
    "aws:s3/bucketVersioning:BucketVersioning": { actions: ["s3:PutBucketVersioning", "s3:GetBucketVersioning"], resources: BUCKETS, scopedReads: true },
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": { actions: ["s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"], resources: BUCKETS, scopedReads: true },
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": { actions: ["s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"], resources: BUCKETS, scopedReads: true },
    "aws:s3/bucketPolicy:BucketPolicy": { actions: ["s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"], resources: BUCKETS, scopedReads: true },
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": { actions: ["s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"], resources: BUCKETS, scopedReads: true },
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": { actions: ["s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls"], resources: BUCKETS, scopedReads: true },
    // Server access logging of the backup bucket into its log bucket (both named sofia-backups-*).
    "aws:s3/bucketLogging:BucketLogging": { actions: ["s3:PutBucketLogging", "s3:GetBucketLogging"], resources: BUCKETS, scopedReads: true },
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": { actions: ["s3:PutBucketObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"], resources: BUCKETS, scopedReads: true },
    "aws:sns/topic:Topic": { actions: ["sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource", "sns:ListTagsForResource"], resources: TOPICS },
    "aws:sns/topicPolicy:TopicPolicy": { actions: ["sns:SetTopicAttributes", "sns:GetTopicAttributes"], resources: TOPICS },
    "aws:sns/topicSubscription:TopicSubscription": { actions: ["sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:ListSubscriptionsByTopic"], resources: TOPICS },
    "aws:cloudwatch/metricAlarm:MetricAlarm": { actions: ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:TagResource", "cloudwatch:UntagResource", "cloudwatch:ListTagsForResource"], resources: ALARMS },
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": { actions: ["cloudwatch:PutCompositeAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:TagResource", "cloudwatch:UntagResource", "cloudwatch:ListTagsForResource"], resources: ALARMS },
    "aws:cloudwatch/dashboard:Dashboard": { actions: ["cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"], resources: DASHBOARDS },
    "aws:cloudwatch/logGroup:LogGroup": {
        actions: ["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:DescribeLogGroups", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource"],
        resources: LOG_GROUPS,
    },
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": { actions: ["logs:PutMetricFilter", "logs:DeleteMetricFilter", "logs:DescribeMetricFilters"], resources: LOG_GROUPS },
    "aws:cloudwatch/eventRule:EventRule": { actions: ["events:PutRule", "events:DeleteRule", "events:DescribeRule", "events:ListTargetsByRule", "events:TagResource", "events:UntagResource", "events:ListTagsForResource"], resources: RULES },
    "aws:cloudwatch/eventTarget:EventTarget": { actions: ["events:PutTargets", "events:RemoveTargets", "events:ListTargetsByRule"], resources: RULES },
    "aws:s3/bucketObjectv2:BucketObjectv2": {
        actions: ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObjectTagging", "s3:PutObjectTagging", "s3:GetObjectAttributes"],
        resources: SYNTHETICS_OBJECTS,
        scopedReads: true,
    },
    // Synthetics runs each canary as a Lambda function (cwsyn-<canary>-<id>) and a layer it creates
    // with the caller's own permissions, from the code object it reads.
    "aws:synthetics/canary:Canary": {
        actions: [
            "synthetics:CreateCanary", "synthetics:UpdateCanary", "synthetics:DeleteCanary", "synthetics:GetCanary", "synthetics:DescribeCanaries", "synthetics:StartCanary", "synthetics:StopCanary",
            "synthetics:TagResource", "synthetics:UntagResource", "synthetics:ListTagsForResource",
            "lambda:CreateFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:DeleteFunction", "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:AddPermission", "lambda:PublishVersion",
            "lambda:PublishLayerVersion", "lambda:GetLayerVersion", "lambda:GetLayerVersionByArn", "lambda:DeleteLayerVersion", "lambda:ListLayerVersions", "lambda:TagResource", "lambda:ListTags",
        ],
        resources: (s) => [
            `arn:${s.partition}:synthetics:${s.region}:${s.account}:canary:sofia-*`,
            `arn:${s.partition}:lambda:${s.region}:${s.account}:function:cwsyn-sofia-*`,
            `arn:${s.partition}:lambda:${s.region}:${s.account}:layer:cwsyn-sofia-*`,
            `arn:${s.partition}:lambda:${s.region}:${s.account}:layer:cwsyn-sofia-*:*`,
        ],
    },
    "aws:ssm/document:Document": {
        actions: ["ssm:CreateDocument", "ssm:UpdateDocument", "ssm:UpdateDocumentDefaultVersion", "ssm:DeleteDocument", "ssm:DescribeDocument", "ssm:GetDocument", "ssm:ListDocumentVersions", "ssm:DescribeDocumentPermission", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"],
        resources: DOCUMENTS,
    },
    // An association names a document and instances; its own ARN is an id known only once created.
    "aws:ssm/association:Association": {
        actions: ["ssm:CreateAssociation", "ssm:UpdateAssociation", "ssm:DeleteAssociation", "ssm:DescribeAssociation", "ssm:ListAssociations", "ssm:DescribeAssociationExecutions", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"],
        resources: ANY,
    },
    "aws:scheduler/schedule:Schedule": {
        actions: ["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"],
        resources: (s) => [`arn:${s.partition}:scheduler:${s.region}:${s.account}:schedule/default/sofia-*`],
    },
    "aws:ssm/maintenanceWindow:MaintenanceWindow": {
        actions: ["ssm:CreateMaintenanceWindow", "ssm:UpdateMaintenanceWindow", "ssm:DeleteMaintenanceWindow", "ssm:GetMaintenanceWindow", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"],
        resources: WINDOWS,
    },
    "aws:ssm/maintenanceWindowTarget:MaintenanceWindowTarget": {
        actions: ["ssm:RegisterTargetWithMaintenanceWindow", "ssm:UpdateMaintenanceWindowTarget", "ssm:DeregisterTargetFromMaintenanceWindow", "ssm:DescribeMaintenanceWindowTargets"],
        resources: WINDOWS,
    },
    "aws:ssm/maintenanceWindowTask:MaintenanceWindowTask": {
        actions: ["ssm:RegisterTaskWithMaintenanceWindow", "ssm:UpdateMaintenanceWindowTask", "ssm:DeregisterTaskFromMaintenanceWindow", "ssm:GetMaintenanceWindowTask", "ssm:DescribeMaintenanceWindowTasks"],
        resources: WINDOWS,
    },
    // --- Topology ecs ---------------------------------------------------------------------------
    "aws:ecs/cluster:Cluster": { actions: ["ecs:CreateCluster", "ecs:DeleteCluster", "ecs:DescribeClusters", "ecs:UpdateCluster", "ecs:UpdateClusterSettings", "ecs:TagResource", "ecs:UntagResource", "ecs:ListTagsForResource"], resources: ANY },
    "aws:ecs/taskDefinition:TaskDefinition": { actions: ["ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:DeleteTaskDefinitions", "ecs:TagResource", "ecs:UntagResource", "ecs:ListTagsForResource"], resources: ANY },
    "aws:ecs/service:Service": { actions: ["ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:DescribeServices", "ecs:TagResource", "ecs:UntagResource", "ecs:ListTagsForResource"], resources: ANY },
    "aws:appautoscaling/target:Target": {
        actions: ["application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget", "application-autoscaling:DescribeScalableTargets", "application-autoscaling:TagResource", "application-autoscaling:UntagResource", "application-autoscaling:ListTagsForResource"],
        resources: ANY,
    },
    "aws:appautoscaling/policy:Policy": { actions: ["application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy", "application-autoscaling:DescribeScalingPolicies"], resources: ANY },
    "aws:lb/loadBalancer:LoadBalancer": {
        actions: ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes", "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DescribeTags"],
        resources: ANY,
    },
    "aws:lb/targetGroup:TargetGroup": {
        actions: ["elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DescribeTags"],
        resources: ANY,
    },
    "aws:lb/listener:Listener": {
        actions: ["elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener", "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:ModifyListener", "elasticloadbalancing:DescribeListenerAttributes", "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DescribeTags"],
        resources: ANY,
    },
    "aws:acm/certificate:Certificate": { actions: ["acm:RequestCertificate", "acm:DeleteCertificate", "acm:DescribeCertificate", "acm:ListTagsForCertificate", "acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"], resources: ANY },
    "aws:acm/certificateValidation:CertificateValidation": { actions: ["acm:DescribeCertificate"], resources: ANY },
    "aws:elasticache/subnetGroup:SubnetGroup": {
        actions: ["elasticache:CreateCacheSubnetGroup", "elasticache:DeleteCacheSubnetGroup", "elasticache:DescribeCacheSubnetGroups", "elasticache:ModifyCacheSubnetGroup", "elasticache:AddTagsToResource", "elasticache:RemoveTagsFromResource", "elasticache:ListTagsForResource"],
        resources: ANY,
    },
    "aws:elasticache/parameterGroup:ParameterGroup": {
        actions: ["elasticache:CreateCacheParameterGroup", "elasticache:DeleteCacheParameterGroup", "elasticache:DescribeCacheParameterGroups", "elasticache:DescribeCacheParameters", "elasticache:ModifyCacheParameterGroup", "elasticache:ResetCacheParameterGroup", "elasticache:AddTagsToResource", "elasticache:RemoveTagsFromResource", "elasticache:ListTagsForResource"],
        resources: ANY,
    },
    "aws:elasticache/replicationGroup:ReplicationGroup": {
        actions: [
            "elasticache:CreateReplicationGroup", "elasticache:DeleteReplicationGroup", "elasticache:DescribeReplicationGroups", "elasticache:ModifyReplicationGroup", "elasticache:DescribeCacheClusters",
            "elasticache:IncreaseReplicaCount", "elasticache:DecreaseReplicaCount", "elasticache:CreateSnapshot", "elasticache:DescribeSnapshots", "elasticache:AddTagsToResource", "elasticache:RemoveTagsFromResource", "elasticache:ListTagsForResource",
            // Its engine log into CloudWatch Logs: a vended-log delivery, made with the caller's permissions.
            "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
        ],
        resources: ANY,
    },
    "aws:secretsmanager/secret:Secret": { actions: ["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:UpdateSecret", "secretsmanager:TagResource", "secretsmanager:UntagResource"], resources: SECRETS },
    "aws:secretsmanager/secretVersion:SecretVersion": { actions: ["secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:ListSecretVersionIds", "secretsmanager:UpdateSecretVersionStage"], resources: SECRETS },
    "aws:efs/fileSystem:FileSystem": {
        actions: ["elasticfilesystem:CreateFileSystem", "elasticfilesystem:DeleteFileSystem", "elasticfilesystem:DescribeFileSystems", "elasticfilesystem:UpdateFileSystem", "elasticfilesystem:DescribeLifecycleConfiguration", "elasticfilesystem:PutLifecycleConfiguration", "elasticfilesystem:DescribeFileSystemPolicy", "elasticfilesystem:TagResource", "elasticfilesystem:UntagResource", "elasticfilesystem:ListTagsForResource"],
        resources: ANY,
    },
    "aws:efs/backupPolicy:BackupPolicy": { actions: ["elasticfilesystem:PutBackupPolicy", "elasticfilesystem:DescribeBackupPolicy"], resources: ANY },
    "aws:efs/mountTarget:MountTarget": {
        actions: ["elasticfilesystem:CreateMountTarget", "elasticfilesystem:DeleteMountTarget", "elasticfilesystem:DescribeMountTargets", "elasticfilesystem:DescribeMountTargetSecurityGroups", "elasticfilesystem:ModifyMountTargetSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeNetworkInterfaces", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"],
        resources: ANY,
    },
    "aws:efs/accessPoint:AccessPoint": { actions: ["elasticfilesystem:CreateAccessPoint", "elasticfilesystem:DeleteAccessPoint", "elasticfilesystem:DescribeAccessPoints", "elasticfilesystem:TagResource", "elasticfilesystem:UntagResource"], resources: ANY },
    "aws:servicediscovery/httpNamespace:HttpNamespace": {
        actions: ["servicediscovery:CreateHttpNamespace", "servicediscovery:DeleteNamespace", "servicediscovery:GetNamespace", "servicediscovery:GetOperation", "servicediscovery:UpdateHttpNamespace", "servicediscovery:TagResource", "servicediscovery:UntagResource", "servicediscovery:ListTagsForResource"],
        resources: ANY,
    },
};

interface Operation extends Grant {
    sid: string;
    /** Why the deploy role needs it. */
    why: string;
}

/** What a deploy does besides declaring resources. */
export const OPERATIONS: Operation[] = [
    {
        sid: "ProgramLookups",
        why: "the program's own lookups: the AMI, the subnet, the zones",
        actions: ["ec2:DescribeImages", "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:DescribeAvailabilityZones", "ec2:DescribeRegions", "sts:GetCallerIdentity"],
        resources: ANY,
    },
    {
        sid: "RunHostSteps",
        why: "scripts/ssm-run.sh: the deploy checklist, tuning and restores run on the host through SSM Run Command",
        actions: ["ssm:SendCommand"],
        resources: (s) => [`arn:${s.partition}:ec2:${s.region}:${s.account}:instance/*`, `arn:${s.partition}:ssm:${s.region}::document/AWS-RunShellScript`],
    },
    {
        sid: "FollowHostSteps",
        why: "scripts/ssm-run.sh waits for its command, reads its output, and cancels it when it gives up",
        actions: ["ssm:GetCommandInvocation", "ssm:ListCommandInvocations", "ssm:ListCommands", "ssm:CancelCommand", "ssm:DescribeInstanceInformation"],
        resources: ANY,
    },
    {
        sid: "DockerOverSsm",
        why: "the Docker provider reaches the host by SSH inside an SSM session (AWS-StartSSHSession)",
        actions: ["ssm:StartSession"],
        resources: (s) => [`arn:${s.partition}:ec2:${s.region}:${s.account}:instance/*`, `arn:${s.partition}:ssm:${s.region}::document/AWS-StartSSHSession`],
    },
    {
        sid: "EndOwnSessions",
        why: "the SSH sessions it opened, and only those",
        actions: ["ssm:TerminateSession", "ssm:ResumeSession"],
        resources: (s) => [`arn:${s.partition}:ssm:*:${s.account}:session/\${aws:userid}-*`],
    },
    {
        sid: "PassHostAndWindowRoles",
        why: "the host's instance profile (to EC2), the maintenance windows' service role (to SSM), the Redis schedule's role (to EventBridge Scheduler), the canaries' role (to Lambda, which Synthetics runs them on), the ECS tasks' roles (to ECS)",
        actions: ["iam:PassRole"],
        resources: ROLES,
        condition: { StringEquals: { "iam:PassedToService": ["ec2.amazonaws.com", "ssm.amazonaws.com", "scheduler.amazonaws.com", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com"] } },
    },
    {
        sid: "EcsDeploySteps",
        why: "topology ecs: the migration's one-off task (scripts/ecs-run-task.sh), the writers recorded, held, given back or rolled back and the apps with files restarted (ecs-scale.sh), the rollout check, Redis' pre-deploy snapshot (ecs-cache-snapshot.sh), the canaries' runs after the rollout (canary-wait.sh)",
        actions: ["ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks", "ecs:ListTasks", "ecs:DescribeServices", "ecs:UpdateService", "elasticache:CreateSnapshot", "elasticache:DescribeSnapshots", "elasticache:DeleteSnapshot", "synthetics:GetCanaryRuns"],
        resources: ANY,
    },
    {
        sid: "EcsServiceLinkedRoles",
        why: "topology ecs: ECS, the load balancer, ElastiCache, autoscaling and EFS each act through their service-linked role, made on first use in an account",
        actions: ["iam:CreateServiceLinkedRole"],
        resources: (s) => [`arn:${s.partition}:iam::${s.account}:role/aws-service-role/*`],
        condition: { StringEquals: { "iam:AWSServiceName": ["ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com", "elasticache.amazonaws.com", "ecs.application-autoscaling.amazonaws.com", "elasticfilesystem.amazonaws.com"] } },
    },
    {
        sid: "AlarmEc2Actions",
        why: "the level 1 alarms' EC2 recover and reboot actions need CloudWatch's service-linked role, made on first use",
        actions: ["iam:CreateServiceLinkedRole"],
        resources: (s) => [`arn:${s.partition}:iam::${s.account}:role/aws-service-role/events.amazonaws.com/AWSServiceRoleForCloudWatchEvents*`],
        condition: { StringLike: { "iam:AWSServiceName": "events.amazonaws.com" } },
    },
    {
        sid: "SoakReadsAlarms",
        why: "promotion reads staging's alarms and their history (the soak)",
        actions: ["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"],
        resources: ANY,
    },
];

/** True for calls that only read. */
export function isRead(action: string): boolean {
    return /^[a-z0-9-]+:(Describe|Get|List)/.test(action);
}

/** The types of a plan that AWS permissions must cover, and those this table does not know. */
export function uncovered(types: Iterable<string>): string[] {
    return [...new Set(types)].filter((t) => !NO_AWS_CALLS.some((p) => t.startsWith(p)) && !(t in TYPE_GRANTS)).sort();
}

interface Statement {
    Sid: string;
    Effect: "Allow";
    Action: string[];
    Resource: string[];
    Condition?: Grant["condition"];
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

/** Reads and writes of these types, each set by the resources it may touch. */
function byScope(types: Iterable<string>, scope: Scope): { reads: Map<string, Set<string>>; writes: Map<string, Set<string>> } {
    const unknown = uncovered(types);
    if (unknown.length) throw new Error(`bootstrap: no permissions are listed for ${unknown.join(", ")}; add them to bootstrap/permissions.ts`);
    const reads = new Map<string, Set<string>>();
    const writes = new Map<string, Set<string>>();
    const add = (m: Map<string, Set<string>>, resources: string[], actions: string[], condition?: Grant["condition"]) => {
        const key = JSON.stringify({ resources, condition });
        m.set(key, new Set([...(m.get(key) ?? []), ...actions]));
    };
    for (const t of [...new Set(types)].filter((x) => x in TYPE_GRANTS)) {
        const g = TYPE_GRANTS[t];
        add(reads, g.scopedReads ? g.resources(scope) : ["*"], g.actions.filter(isRead));
        add(writes, g.resources(scope), g.actions.filter((a) => !isRead(a)), g.condition);
    }
    return { reads, writes };
}

function statementsOf(prefix: string, m: Map<string, Set<string>>): Statement[] {
    return [...m]
        .filter(([, a]) => a.size)
        .map(([key, a], i) => {
            const { resources, condition } = JSON.parse(key) as { resources: string[]; condition?: Grant["condition"] };
            return { Sid: `${prefix}${i + 1}`, Effect: "Allow" as const, Action: sorted(a), Resource: resources, ...(condition ? { Condition: condition } : {}) };
        });
}

/** The deploy role's statements for these types: their reads and writes, then the operations around them. */
export function deployStatements(types: Iterable<string>, scope: Scope): Statement[] {
    const { reads, writes } = byScope(types, scope);
    return [
        ...statementsOf("ReadWhatItDeclares", reads),
        ...statementsOf("WriteWhatItDeclares", writes),
        ...OPERATIONS.map((o) => ({ Sid: o.sid, Effect: "Allow" as const, Action: o.actions, Resource: o.resources(scope), ...(o.condition ? { Condition: o.condition } : {}) })),
    ];
}

/** The preview role (pull requests): the same reads, and the lookups the program makes; nothing that writes. */
export function previewStatements(types: Iterable<string>, scope: Scope): Statement[] {
    const { reads } = byScope(types, scope);
    const lookups = OPERATIONS.filter((o) => o.sid === "ProgramLookups" || o.sid === "SoakReadsAlarms");
    return [...statementsOf("ReadWhatItDeclares", reads), ...lookups.map((o) => ({ Sid: o.sid, Effect: "Allow" as const, Action: o.actions.filter(isRead), Resource: o.resources(scope) }))];
}

/**
 * Statements packed into as few managed policies as fit IAM's 6,144 characters each (without
 * white space); more than a role may attach is refused here, not by IAM half-way.
 */
export function asManagedPolicies(statements: Statement[]): string[] {
    const { max } = AWS_LIMITS.managedPolicyChars;
    const docs: Statement[][] = [];
    const size = (ss: Statement[]) => iamChars(JSON.stringify({ Version: "2012-10-17", Statement: ss }));
    for (const s of statements) {
        if (size([s]) > max) throw new Error(`bootstrap: statement ${s.Sid} alone is ${size([s])} characters, over IAM's ${max}`);
        const last = docs[docs.length - 1];
        if (last && size([...last, s]) <= max) last.push(s);
        else docs.push([s]);
    }
    const { max: attachable } = AWS_LIMITS.managedPoliciesPerRole;
    if (docs.length > attachable) throw new Error(`bootstrap: the permissions need ${docs.length} managed policies, more than the ${attachable} a role may attach`);
    return docs.map((ss) => JSON.stringify({ Version: "2012-10-17", Statement: ss }));
}
