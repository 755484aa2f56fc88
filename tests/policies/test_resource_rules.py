"""Every resource rule: a compliant case (no violation) and a violating case (a message naming the problem)."""

from typing import Any

import pytest
from policy_support import POLICIES, check
from pulumi_policy import ResourceValidationPolicy

RDS = "aws:rds/instance:Instance"
PG = "aws:rds/parameterGroup:ParameterGroup"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_USER = "aws:elasticache/user:User"
EKS = "eks:index:Cluster"
AWS_EKS = "aws:eks/cluster:Cluster"
MNG = "eks:index:ManagedNodeGroup"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
KEY = "aws:kms/key:Key"
KMS_ARN = "arn:aws:kms:us-west-2:123456789012:key/1234"

RDS_OK: dict[str, Any] = {
    "engine": "postgres", "storageEncrypted": True, "kmsKeyId": KMS_ARN, "publiclyAccessible": False,
    "multiAz": True, "backupRetentionPeriod": 30.0, "deletionProtection": True, "skipFinalSnapshot": False,
    "performanceInsightsEnabled": True, "performanceInsightsKmsKeyId": KMS_ARN,
    "enabledCloudwatchLogsExports": ["postgresql", "upgrade", "iam-db-auth-error"], "monitoringInterval": 60.0,
    "monitoringRoleArn": "arn:aws:iam::123456789012:role/rds-monitoring", "parameterGroupName": "envstack-prod-pg",
    "iamDatabaseAuthenticationEnabled": True, "autoMinorVersionUpgrade": True,
}
PG_OK = {"family": "postgres16", "parameters": [{"name": "log_min_duration_statement", "value": "500"}]}
REDIS_OK: dict[str, Any] = {
    "atRestEncryptionEnabled": True, "kmsKeyId": KMS_ARN, "transitEncryptionEnabled": True, "userGroupIds": ["users"],
    "automaticFailoverEnabled": True, "multiAzEnabled": True, "numCacheClusters": 2.0, "snapshotRetentionLimit": 7.0,
}
LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
EKS_OK: dict[str, Any] = {
    "endpointPrivateAccess": True, "endpointPublicAccess": False, "encryptionConfigKeyArn": KMS_ARN,
    "enabledClusterLogTypes": LOGS, "version": "1.34", "skipDefaultNodeGroup": True,
}
AWS_EKS_OK: dict[str, Any] = {
    "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"],
                  "subnetIds": ["subnet-1", "subnet-2"]},
    "encryptionConfig": {"provider": {"keyArn": KMS_ARN}, "resources": ["secrets"]},
    "enabledClusterLogTypes": LOGS, "version": "1.34",
}
# What pulumi-eks creates for authenticationMode API once envstack's transform has turned the creator's entry off.
AWS_EKS_API: dict[str, Any] = {**AWS_EKS_OK, "accessConfig": {"authenticationMode": "API",
                                                              "bootstrapClusterCreatorAdminPermissions": False}}
LT_OK: dict[str, Any] = {
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0, "httpEndpoint": "enabled"},
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeType": "gp3"}}],
}
MNG_OK: dict[str, Any] = {"launchTemplate": {"id": "lt-123", "version": "1"}, "instanceTypes": ["m6i.large"]}
LB_OK: dict[str, Any] = {
    "loadBalancerType": "application", "internal": False, "enableDeletionProtection": True,
    "accessLogs": {"bucket": "envstack-prod-alb-logs", "enabled": True}, "dropInvalidHeaderFields": True,
    "desyncMitigationMode": "defensive", "subnets": ["subnet-a", "subnet-b"],
}
HTTP_OK = {"protocol": "HTTP", "port": 80.0,
           "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443",
                                                                "statusCode": "HTTP_301"}}]}
HTTPS_OK = {"protocol": "HTTPS", "port": 443.0, "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "certificateArn": "arn:aws:acm:us-west-2:123456789012:certificate/1",
            "defaultActions": [{"type": "forward", "targetGroupArn": "arn:tg"}]}
SG_OK = {"description": "ALB ingress", "ingress": [
    {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"], "description": "HTTPS"}],
    "egress": [{"protocol": "tcp", "fromPort": 8080.0, "toPort": 8080.0, "cidrBlocks": ["10.0.0.0/16"],
                "description": "to targets"}]}
POLICY_OK = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:List*", '
             '"ec2:Describe*"], "Resource": "*"}, {"Effect": "Deny", "Action": "*", "Resource": "*", '
             '"Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}')
TOPIC_POLICY_OK = ('{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", '
                   '"Condition": {"StringEquals": {"aws:SourceOwner": "123456789012"}}}]}')
PASS_ROLE_OK = ('{"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", '
                '"Resource": "arn:aws:iam::123456789012:role/envstack-app"}]}')
WILDCARD_IN_ACCOUNT = ('{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, '
                       '"Action": "kms:*", "Resource": "*"}, {"Effect": "Allow", "Principal": {"AWS": "*"}, '
                       '"Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*", '
                       '"Condition": {"StringEquals": {"kms:CallerAccount": "123456789012"}}}]}')
IN_ORGANISATION = WILDCARD_IN_ACCOUNT.replace("kms:CallerAccount", "aws:PrincipalOrgID")
TRUST_OK = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": '
            '"pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}')
LOCKOUT = ('{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, '
           '"Action": ["kms:Describe*", "kms:Get*"], "Resource": "*"}]}')
KEY_POLICY_OK = ('{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, '
                 '"Action": "kms:*", "Resource": "*"}, {"Effect": "Allow", "Principal": {"Service": '
                 '"logs.amazonaws.com"}, "Action": "kms:Encrypt*", "Resource": "*"}]}')

# rule, type, compliant props, changes that make it violate (None removes a key), expected fragment.
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    ("rds-storage-encrypted", RDS, RDS_OK, {"storageEncrypted": False}, "storageEncrypted"),
    ("rds-storage-encrypted", RDS, RDS_OK, {"kmsKeyId": None}, "kmsKeyId"),
    ("rds-no-public-access", RDS, RDS_OK, {"publiclyAccessible": True}, "publiclyAccessible"),
    ("rds-multi-az", RDS, RDS_OK, {"multiAz": False}, "multiAz"),
    ("rds-backup-retention", RDS, RDS_OK, {"backupRetentionPeriod": 7.0}, "backupRetentionPeriod is 7 days"),
    ("rds-backup-retention", RDS, RDS_OK, {"backupRetentionPeriod": None}, "at least 30"),
    ("rds-deletion-protection", RDS, RDS_OK, {"deletionProtection": False}, "deletionProtection"),
    ("rds-deletion-protection", RDS, RDS_OK, {"skipFinalSnapshot": True}, "final snapshot"),
    ("rds-performance-insights", RDS, RDS_OK, {"performanceInsightsEnabled": None}, "performanceInsightsEnabled"),
    ("rds-performance-insights", RDS, RDS_OK, {"performanceInsightsKmsKeyId": None}, "performanceInsightsKmsKeyId"),
    ("rds-log-exports", RDS, RDS_OK, {"enabledCloudwatchLogsExports": ["postgresql"]}, "lacks upgrade"),
    # where RDS reports failed IAM logins, the way every workload logs in
    ("rds-log-exports", RDS, RDS_OK, {"enabledCloudwatchLogsExports": ["postgresql", "upgrade"]},
     "lacks iam-db-auth-error"),
    ("rds-enhanced-monitoring", RDS, RDS_OK, {"monitoringInterval": 0.0}, "monitoringInterval is 0"),
    ("rds-enhanced-monitoring", RDS, RDS_OK, {"monitoringRoleArn": None}, "monitoringRoleArn"),
    ("rds-force-ssl", RDS, RDS_OK, {"parameterGroupName": "default.postgres16"}, "default parameter group"),
    ("rds-force-ssl", PG, PG_OK, {"parameters": [{"name": "rds.force_ssl", "value": "0"}]}, "rds.force_ssl is 0"),
    # Before PostgreSQL 15 the default is 0: the group must say 1.
    ("rds-force-ssl", PG, PG_OK, {"family": "postgres14"}, "rds.force_ssl is not set (its default on postgres14 is 0)"),
    ("rds-query-logging", PG, PG_OK, {"parameters": [{"name": "rds.force_ssl", "value": "1"}]},
     "log_min_duration_statement is -1"),
    ("rds-iam-auth", RDS, RDS_OK, {"iamDatabaseAuthenticationEnabled": None}, "iamDatabaseAuthenticationEnabled"),
    ("rds-auto-minor-upgrade", RDS, RDS_OK, {"autoMinorVersionUpgrade": False}, "autoMinorVersionUpgrade"),
    ("rds-storage-autoscaling-headroom", RDS, {**RDS_OK, "allocatedStorage": 100.0, "maxAllocatedStorage": 110.0},
     {"maxAllocatedStorage": 105.0}, "less than 10% above allocatedStorage 100 GB"),
    ("rds-storage-autoscaling-headroom", RDS, {**RDS_OK, "allocatedStorage": 100.0, "maxAllocatedStorage": 0.0},
     {"maxAllocatedStorage": 100.0}, "maxAllocatedStorage 100 GB"),
    ("redis-at-rest-encryption", REDIS, REDIS_OK, {"atRestEncryptionEnabled": False}, "atRestEncryptionEnabled"),
    ("redis-at-rest-encryption", REDIS, REDIS_OK, {"kmsKeyId": None}, "kmsKeyId"),
    ("redis-in-transit-encryption", REDIS, REDIS_OK, {"transitEncryptionEnabled": False}, "transitEncryptionEnabled"),
    ("redis-in-transit-encryption", REDIS, REDIS_OK, {"userGroupIds": None}, "no userGroupIds (RBAC users"),
    ("redis-in-transit-encryption", REDIS, {**REDIS_OK, "userGroupIds": None, "authToken": "[secret]"},
     {"authToken": None}, "nor authToken"),
    ("cache-iam-user-name", CACHE_USER,
     {"userId": "envstack-prod-app", "userName": "envstack-prod-app", "authenticationMode": {"type": "iam"}},
     {"userName": "app"}, "user name and the user id of an IAM user"),
    ("cache-iam-user-name", CACHE_USER,  # a password or switched-off user may have another name ("default")
     {"userId": "envstack-prod-default", "userName": "default", "noPasswordRequired": True},
     {"authenticationMode": {"type": "iam"}}, "has userName 'default'"),
    ("redis-in-transit-encryption", REDIS, REDIS_OK, {"transitEncryptionMode": "preferred"}, "preferred"),
    ("redis-multi-az", REDIS, REDIS_OK, {"automaticFailoverEnabled": False}, "automaticFailoverEnabled"),
    ("redis-multi-az", REDIS, REDIS_OK, {"multiAzEnabled": None}, "multiAzEnabled"),
    ("redis-multi-az", REDIS, REDIS_OK, {"numCacheClusters": 1.0}, "1 node(s)"),
    ("redis-snapshot-retention", REDIS, REDIS_OK, {"snapshotRetentionLimit": 1.0}, "snapshotRetentionLimit is 1"),
    ("elasticache-replication-group-id", REDIS, {"replicationGroupId": "envstack-prod-cache"},
     {"replicationGroupId": "envstack-a-very-long-review-stack-name-cache"}, "(44 characters)"),
    ("elasticache-replication-group-id", REDIS, {"replicationGroupId": "e-1"},
     {"replicationGroupId": "envstack--cache"}, "single hyphens"),
    ("elasticache-replication-group-id", REDIS, {"replicationGroupId": "cache"},
     {"replicationGroupId": "1-cache"}, "a letter first"),
    ("eks-private-endpoint", EKS, EKS_OK, {"endpointPrivateAccess": None}, "endpointPrivateAccess"),
    ("eks-private-endpoint", AWS_EKS, AWS_EKS_OK, {"vpcConfig": {"subnetIds": ["s"]}}, "endpointPrivateAccess"),
    ("eks-public-endpoint-restricted", EKS, EKS_OK, {"endpointPublicAccess": None}, "publicAccessCidrs is empty"),
    ("eks-public-endpoint-restricted", EKS, EKS_OK,
     {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}, "that is the internet"),
    ("eks-public-endpoint-restricted", AWS_EKS, AWS_EKS_OK,
     {"vpcConfig": {"endpointPrivateAccess": True, "publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}},
     "cover 100.0% of the public address space"),
    ("eks-public-endpoint-disabled", EKS, EKS_OK, {"endpointPublicAccess": True, "publicAccessCidrs": ["1.2.3.0/24"]},
     "answers on the internet"),
    ("eks-secrets-encryption", EKS, EKS_OK, {"encryptionConfigKeyArn": None}, "encryptionConfigKeyArn"),
    ("eks-secrets-encryption", AWS_EKS, AWS_EKS_OK, {"encryptionConfig": None}, "encryptionConfig.provider.keyArn"),
    ("eks-secrets-encryption", AWS_EKS, AWS_EKS_OK,
     {"encryptionConfig": {"provider": {"keyArn": KMS_ARN}, "resources": []}}, "secrets"),
    ("eks-control-plane-logs", EKS, EKS_OK, {"enabledClusterLogTypes": ["api", "audit"]},
     "lacks authenticator, controllerManager, scheduler"),
    ("eks-control-plane-logs", AWS_EKS, AWS_EKS_OK, {"enabledClusterLogTypes": None}, "lacks api"),
    ("eks-supported-version", EKS, EKS_OK, {"version": "1.27"}, "version 1.27"),
    ("eks-supported-version", AWS_EKS, AWS_EKS_OK, {"version": None}, "not pinned"),
    ("eks-no-default-node-group", EKS, EKS_OK, {"skipDefaultNodeGroup": None}, "skipDefaultNodeGroup"),
    ("eks-node-ssh-restricted", MNG, MNG_OK, {"remoteAccess": {"ec2SshKey": "ops"}}, "0.0.0.0/0"),
    ("eks-node-ssh-restricted", NODE_GROUP, {"remoteAccess": {"ec2SshKey": "ops", "sourceSecurityGroupIds": ["sg-1"]}},
     {"remoteAccess": {"ec2SshKey": "ops"}}, "sourceSecurityGroupIds"),
    ("eks-node-ssh-restricted", EKS, EKS_OK, {"skipDefaultNodeGroup": False, "nodePublicKey": "ssh-rsa AAA"},
     "nodePublicKey"),
    ("launch-template-imdsv2", LT, LT_OK,
     {"metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 1.0}},
     "httpTokens"),
    ("launch-template-imdsv2", LT, LT_OK,
     {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2.0}},
     "httpPutResponseHopLimit is 2"),
    ("launch-template-imdsv2", MNG, MNG_OK, {"launchTemplate": None}, "IMDSv1"),
    ("launch-template-ebs-encrypted", LT, LT_OK,
     {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]},
     "blockDeviceMappings[0].ebs.encrypted"),
    ("launch-template-ebs-encrypted", LT, LT_OK, {"blockDeviceMappings": None}, "no EBS volume"),
    ("launch-template-ebs-encrypted", MNG, MNG_OK, {"launchTemplate": None}, "no launchTemplate"),
    ("launch-template-ebs-encrypted", EKS, EKS_OK, {"skipDefaultNodeGroup": False}, "nodeRootVolumeEncrypted"),
    ("alb-access-logs", LB, LB_OK, {"accessLogs": {"bucket": "b", "enabled": False}}, "accessLogs"),
    ("alb-two-availability-zones", LB, LB_OK, {"subnets": ["subnet-a"]}, "at least two Availability Zones"),
    ("eks-cluster-two-availability-zones", AWS_EKS, AWS_EKS_OK, {"vpcConfig": {"subnetIds": ["subnet-1"]}},
     "1 subnet(s): an EKS cluster needs subnets in at least two Availability Zones"),
    ("eks-cluster-two-availability-zones", EKS, {**EKS_OK, "privateSubnetIds": ["a", "b"]},
     {"privateSubnetIds": ["a"]}, "1 subnet(s)"),
    ("eks-cluster-two-availability-zones", EKS, {**EKS_OK, "privateSubnetIds": ["a"], "publicSubnetIds": ["b"]},
     {"publicSubnetIds": []}, "1 subnet(s)"),
    ("alb-two-availability-zones", LB, LB_OK, {"subnets": None}, "0 subnet(s)"),
    ("rds-subnet-group-two-availability-zones", "aws:rds/subnetGroup:SubnetGroup",
     {"subnetIds": ["subnet-a", "subnet-b"]}, {"subnetIds": ["subnet-a"]}, "1 subnet(s)"),
    ("alb-deletion-protection", LB, LB_OK, {"enableDeletionProtection": False}, "enableDeletionProtection"),
    ("alb-drop-invalid-headers", LB, LB_OK, {"dropInvalidHeaderFields": None}, "dropInvalidHeaderFields"),
    ("alb-desync-mitigation", LB, LB_OK, {"desyncMitigationMode": "monitor"}, "monitor"),
    ("alb-http-redirects-to-https", LISTENER, HTTP_OK,
     {"defaultActions": [{"type": "forward", "targetGroupArn": "arn:tg"}]}, "redirect to HTTPS"),
    ("alb-http-redirects-to-https", LISTENER, HTTPS_OK, {"protocol": "HTTP"}, "redirect to HTTPS"),
    ("alb-tls-policy", LISTENER, HTTPS_OK, {"sslPolicy": "ELBSecurityPolicy-2016-08"}, "ELBSecurityPolicy-2016-08"),
    ("alb-tls-policy", LISTENER, HTTPS_OK, {"sslPolicy": "ELBSecurityPolicy-TLS-1-2-2017-01"},
     "ELBSecurityPolicy-TLS-1-2-2017-01 is not a TLS 1.3 policy"),
    ("alb-tls-policy", LISTENER, HTTPS_OK, {"sslPolicy": None}, "provider default"),
    ("alb-tls-policy", LISTENER, HTTPS_OK, {"certificateArn": None}, "certificateArn"),
    ("default-security-group-closed", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", {"vpcId": "vpc-1"},
     {"egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}]}, "egress[0]"),
    ("subnet-no-public-ip", "aws:ec2/subnet:Subnet", {"cidrBlock": "10.0.0.0/20"}, {"mapPublicIpOnLaunch": True},
     "mapPublicIpOnLaunch"),
    ("security-group-descriptions", SG, SG_OK, {"description": None}, "no description of its own"),
    ("security-group-descriptions", SG, SG_OK,
     {"ingress": [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["10.0.0.0/8"]}]},
     "ingress[0] has no description"),
    ("security-group-descriptions", INGRESS, {"ipProtocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0,
                                              "referencedSecurityGroupId": "sg-1", "description": "from nodes"},
     {"description": None}, "rule has no description"),
    ("sns-topic-policy-not-public", "aws:sns/topicPolicy:TopicPolicy", {"policy": TOPIC_POLICY_OK},
     {"policy": TOPIC_POLICY_OK.replace("aws:SourceOwner", "aws:SourceArnn")}, "anyone could use the topic"),
    ("log-group-retention", LOG_GROUP, {"retentionInDays": 90.0}, {"retentionInDays": 14.0}, "retentionInDays is 14"),
    ("log-group-retention", LOG_GROUP, {"retentionInDays": 365.0}, {"retentionInDays": None}, "kept forever"),
    ("log-group-kms", LOG_GROUP, {"kmsKeyId": KMS_ARN}, {"kmsKeyId": None}, "kmsKeyId"),
    ("alarm-actions-enabled", ALARM, {"alarmActions": ["arn:sns"], "actionsEnabled": True}, {"actionsEnabled": False},
     "actionsEnabled is false"),
    ("alarm-actions-enabled", ALARM, {"alarmActions": ["arn:sns"]}, {"alarmActions": []}, "alarmActions is empty"),
    ("kms-key-rotation", KEY, {"enableKeyRotation": True}, {"enableKeyRotation": False}, "enableKeyRotation"),
    ("kms-no-wildcard-principal", KEY, {"policy": KEY_POLICY_OK},
     {"policy": '{"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*"}}'}, "Principal *"),
    # A condition that does not name the caller's account (TLS only) leaves the key open to every account.
    ("kms-no-wildcard-principal", KEY, {"policy": WILDCARD_IN_ACCOUNT},
     {"policy": WILDCARD_IN_ACCOUNT.replace('"StringEquals": {"kms:CallerAccount": "123456789012"}',
                                            '"Bool": {"aws:SecureTransport": "true"}')}, "Principal *"),
    ("kms-no-wildcard-principal", KEY, {"policy": WILDCARD_IN_ACCOUNT},
     {"policy": WILDCARD_IN_ACCOUNT.replace("StringEquals", "StringNotEquals")}, "caller's account"),
    # aws:SourceAccount names the resource a service acts for, not the caller: not enough for a key.
    ("kms-no-wildcard-principal", KEY,
     {"policy": WILDCARD_IN_ACCOUNT.replace("kms:CallerAccount", "aws:PrincipalOrgID")},
     {"policy": WILDCARD_IN_ACCOUNT.replace("kms:CallerAccount", "aws:SourceAccount")}, "caller's account"),
    # Conditions that look like an account but admit every caller: a policy variable (always equal to itself), a
    # pattern, ForAllValues (true when the key is absent: a principal outside any organisation).
    ("kms-no-wildcard-principal", KEY, {"policy": WILDCARD_IN_ACCOUNT},
     {"policy": WILDCARD_IN_ACCOUNT.replace('"123456789012"', '"${aws:PrincipalAccount}"')}, "Principal *"),
    ("kms-no-wildcard-principal", KEY, {"policy": WILDCARD_IN_ACCOUNT},
     {"policy": WILDCARD_IN_ACCOUNT.replace("StringEquals", "StringLike").replace('"123456789012"', '"*1*"')},
     "Principal *"),
    ("kms-no-wildcard-principal", KEY, {"policy": WILDCARD_IN_ACCOUNT.replace("StringEquals", "StringLike").replace(
        '"kms:CallerAccount": "123456789012"', '"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/r-ab12/*"')},
     {"policy": WILDCARD_IN_ACCOUNT.replace("StringEquals", "StringLike").replace(
         '"kms:CallerAccount": "123456789012"', '"aws:PrincipalOrgPaths": "o-*"')}, "Principal *"),
    ("kms-no-wildcard-principal", KEY, {"policy": IN_ORGANISATION},
     {"policy": IN_ORGANISATION.replace(
         "StringEquals", "ForAllValues:StringEquals")}, "Principal *"),
    # The same document set apart from its key (aws.kms.KeyPolicy) is judged the same.
    ("kms-no-wildcard-principal", "aws:kms/keyPolicy:KeyPolicy", {"keyId": "k", "policy": WILDCARD_IN_ACCOUNT},
     {"policy": WILDCARD_IN_ACCOUNT.replace('"StringEquals": {"kms:CallerAccount": "123456789012"}',
                                            '"Bool": {"aws:SecureTransport": "true"}')}, "Principal *"),
    ("kms-key-policy-manageable", "aws:kms/keyPolicy:KeyPolicy", {"keyId": "k", "policy": KEY_POLICY_OK},
     {"policy": KEY_POLICY_OK.replace('"Action": "kms:*"', '"Action": "kms:Describe*"')}, "locks its caller out"),
    ("kms-key-policy-manageable", KEY, {"policy": KEY_POLICY_OK},
     {"policy": '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, '
                '"Action": ["kms:Describe*", "kms:Get*"], "Resource": "*"}]}'}, "locks its caller out"),
    ("kms-key-policy-manageable", KEY, {"policy": '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": '
                                                  '"arn:aws:iam::123456789012:root"}, "Action": "kms:Put*"}]}'},
     {"policy": '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"}, '
                '"Action": "kms:*"}]}'}, "kms:PutKeyPolicy"),
    # KMS accepts a policy that locks its caller out when the check is bypassed: the deployability rule lets it be,
    # kms-no-lockout-bypass refuses the bypass itself.
    ("kms-key-policy-manageable", KEY, {"policy": LOCKOUT, "bypassPolicyLockoutSafetyCheck": True},
     {"bypassPolicyLockoutSafetyCheck": False}, "locks its caller out"),
    ("kms-no-lockout-bypass", KEY, {"policy": KEY_POLICY_OK},
     {"bypassPolicyLockoutSafetyCheck": True}, "stays manageable is skipped"),
    ("kms-no-lockout-bypass", "aws:kms/keyPolicy:KeyPolicy", {"keyId": "k", "policy": KEY_POLICY_OK,
                                                              "bypassPolicyLockoutSafetyCheck": False},
     {"bypassPolicyLockoutSafetyCheck": True}, "bypassPolicyLockoutSafetyCheck is true"),
    ("waf-log-destination-name", "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
     {"logDestinationConfigs": ["arn:aws:logs:us-west-2:123456789012:log-group:aws-waf-logs-envstack-prod"]},
     {"logDestinationConfigs": ["arn:aws:logs:us-west-2:123456789012:log-group:/envstack-prod/waf"]},
     "must start with aws-waf-logs-"),
    ("waf-log-destination-name", "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
     {"logDestinationConfigs": ["arn:aws:s3:::aws-waf-logs-envstack"]},
     {"logDestinationConfigs": ["arn:aws:s3:::envstack-waf-logs"]}, "arn:aws:s3:::envstack-waf-logs"),
    ("iam-no-wildcard-actions", "aws:iam/policy:Policy", {"policy": POLICY_OK},
     {"policy": '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'},
     "Statement[0] allows Action *"),
    ("iam-no-wildcard-actions", "aws:iam/policy:Policy", {"policy": POLICY_OK},
     {"policy": '{"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:*"], "Resource": "*"}]}'},
     "Action s3:*: every action of the service"),
    ("iam-no-wildcard-actions", "aws:iam/rolePolicy:RolePolicy", {"policy": POLICY_OK},
     {"policy": '{"Statement": [{"Effect": "Allow", "Action": "KMS:*", "Resource": "arn:aws:kms:*:1:key/k"}]}'},
     "Action KMS:*"),
    ("iam-no-wildcard-actions", "aws:iam/policy:Policy", {"policy": POLICY_OK},
     {"policy": '{"Statement": [{"Effect": "Allow", "Action": "*:Describe*", "Resource": "*"}]}'},
     "Action *:Describe*"),
    ("iam-no-wildcard-actions", "aws:iam/policy:Policy", {"policy": PASS_ROLE_OK},
     {"policy": PASS_ROLE_OK.replace('"arn:aws:iam::123456789012:role/envstack-app"', '"*"')},
     "iam:PassRole on Resource *"),
    ("iam-no-wildcard-actions", "aws:iam/policy:Policy", {"policy": PASS_ROLE_OK},
     {"policy": PASS_ROLE_OK.replace('"arn:aws:iam::123456789012:role/envstack-app"', '"*"').replace(
         "iam:PassRole", "iam:Pass*")}, "iam:PassRole on Resource *"),
    # Every role of the account, or every role but one, is any role too.
    ("iam-no-wildcard-actions", "aws:iam/policy:Policy", {"policy": PASS_ROLE_OK.replace("envstack-app", "app-*")},
     {"policy": PASS_ROLE_OK.replace("envstack-app", "*")}, "iam:PassRole on Resource *"),
    ("iam-no-wildcard-actions", "aws:iam/policy:Policy", {"policy": PASS_ROLE_OK},
     {"policy": PASS_ROLE_OK.replace('"arn:aws:iam::123456789012:role/envstack-app"', '"arn:aws:iam::*:*"')},
     "iam:PassRole on Resource *"),
    ("iam-no-wildcard-actions", "aws:iam/policy:Policy", {"policy": PASS_ROLE_OK},
     {"policy": PASS_ROLE_OK.replace('"Resource"', '"NotResource"')}, "iam:PassRole on Resource *"),
    ("iam-no-wildcard-actions", "aws:iam/role:Role", {"inlinePolicies": [{"name": "p", "policy": POLICY_OK}]},
     {"inlinePolicies": [{"name": "p", "policy": '{"Statement": [{"Effect": "Allow", "NotAction": "iam:*"}]}'}]},
     "NotAction"),
    ("iam-role-trust-not-public", "aws:iam/role:Role", {"assumeRolePolicy": TRUST_OK},
     {"assumeRolePolicy": TRUST_OK.replace('{"Service": "pods.eks.amazonaws.com"}', '{"AWS": "*"}')},
     "lets any principal of any account assume the role"),
    ("iam-role-trust-not-public", "aws:iam/role:Role",
     {"assumeRolePolicy": TRUST_OK.replace('{"Service": "pods.eks.amazonaws.com"}', '"*"').replace(
         '"Action"', '"Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, "Action"')},
     {"assumeRolePolicy": TRUST_OK.replace('"Principal"', '"NotPrincipal"')}, "Statement[0] lets any principal"),
    # NotPrincipal in an Allow is everyone but those named: a key or topic open to every other account.
    ("kms-no-wildcard-principal", KEY, {"policy": KEY_POLICY_OK},
     {"policy": KEY_POLICY_OK.replace('"Principal": {"Service"', '"NotPrincipal": {"Service"')}, "Principal *"),
    ("iam-no-admin-policy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
     {"role": "nodes", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"},
     {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, "AdministratorAccess is attached"),
    ("iam-no-admin-policy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
     {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"},
     {"policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"}, "AmazonS3FullAccess is attached: an AWS managed"),
    ("iam-no-admin-policy", "aws:iam/role:Role",
     {"managedPolicyArns": ["arn:aws:iam::123456789012:policy/team/ReportsFullAccess"]},  # the account's own: read
     {"managedPolicyArns": ["arn:aws-cn:iam::aws:policy/AWSLambda_FullAccess"]}, "*FullAccess policy"),
    ("iam-no-admin-policy", "aws:iam/role:Role", {"managedPolicyArns": []},
     {"managedPolicyArns": ["arn:aws-us-gov:iam::aws:policy/AdministratorAccess"]}, "AdministratorAccess"),
]


def changed(props: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = {**props, **changes}
    return {k: v for k, v in out.items() if v is not None}


@pytest.mark.parametrize(("rule", "type_", "good", "bad", "fragment"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_compliant_and_violating(rule: str, type_: str, good: dict[str, Any], bad: dict[str, Any],
                                      fragment: str) -> None:
    assert check(rule, type_, good) == []
    messages = check(rule, type_, changed(good, bad))
    assert messages, f"{rule} found nothing wrong with {changed(good, bad)}"
    assert any(fragment in m for m in messages), messages


def test_every_resource_rule_has_cases() -> None:
    resource_rules = {name for name, p in POLICIES.items() if isinstance(p, ResourceValidationPolicy)}
    assert resource_rules - {c[0] for c in CASES} == {"required-tags", "protect-stateful-resources"}  # own tests


def test_rules_ignore_other_types() -> None:
    assert check("rds-multi-az", REDIS, {"multiAz": False}) == []
    assert check("log-group-kms", LB, {}) == []


def test_network_load_balancers_are_not_albs() -> None:
    assert check("alb-drop-invalid-headers", LB, {"loadBalancerType": "network"}) == []
    assert check("alb-drop-invalid-headers", LB, {}) != []  # application is the default type


def test_thresholds_come_from_config() -> None:
    staging = {**RDS_OK, "backupRetentionPeriod": 14.0}
    assert check("rds-backup-retention", RDS, staging) != []  # prod default: 30
    assert check("rds-backup-retention", RDS, staging, {"minimumDays": 14}) == []
    assert check("log-group-retention", LOG_GROUP, {"retentionInDays": 30.0}, {"minimumDays": 30}) == []
    assert check("redis-snapshot-retention", REDIS, {**REDIS_OK, "snapshotRetentionLimit": 3.0},
                 {"minimumDays": 3}) == []
    tls12 = {**HTTPS_OK, "sslPolicy": "ELBSecurityPolicy-TLS-1-2-2017-01"}
    assert check("alb-tls-policy", LISTENER, tls12) != []  # prod default: the TLS 1.3 family only
    assert check("alb-tls-policy", LISTENER, tls12, {"requireTls13": False}) == []
    assert check("alb-tls-policy", LISTENER, {**HTTPS_OK, "sslPolicy": "ELBSecurityPolicy-2016-08"},
                 {"requireTls13": False}) == ["sslPolicy ELBSecurityPolicy-2016-08 is not a TLS 1.2+ policy"]
    assert check("eks-supported-version", EKS, {**EKS_OK, "version": "1.30"}, {"supportedVersions": ["1.30"]}) == []
    narrow = {"endpointPublicAccess": True, "publicAccessCidrs": ["52.0.0.0/11"]}  # about 0.06% of IPv4
    assert check("eks-public-endpoint-restricted", EKS, narrow) == []
    assert check("eks-public-endpoint-restricted", EKS, narrow, {"publicShare": 0.0001}) != []


def test_eks_component_defaults_are_insecure() -> None:
    """pulumi-eks defaults: public endpoint on, private off, no encryption, no logs, default node group."""
    found = {rule: check(rule, EKS, {}) for rule, p in POLICIES.items()
             if rule.startswith("eks-") and isinstance(p, ResourceValidationPolicy)}
    assert all(found[rule] for rule in ("eks-private-endpoint", "eks-public-endpoint-restricted",
                                        "eks-public-endpoint-disabled",
                                        "eks-secrets-encryption", "eks-control-plane-logs", "eks-supported-version",
                                        "eks-no-default-node-group")), found


def test_all_policies_declared_with_metadata() -> None:
    for policy in POLICIES.values():
        assert policy.description and policy.severity is not None and policy.enforcement_level is not None
