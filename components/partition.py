"""Where a component deploys: the AWS partition its provider is in (aws, aws-cn: aws.get_partition), the account and
the region. One place writes the ARNs, service principals and regional service names that differ between
partitions, so nothing in envstack assumes `arn:aws:` or `amazonaws.com`."""

from dataclasses import dataclass

# Service principals are `<service>.amazonaws.com` in every partition (IAM guide, "AWS service principals"), except
# EC2's in China: EKS refuses a node role that does not trust ec2.amazonaws.com.cn there ("Following required service
# principals [ec2.amazonaws.com.cn] were not found in the trust relationships of nodeRole", awslabs/cdk-eks-blueprints
# #558; AWS's amazon-eks-nodegroup-role.yaml template maps aws-cn to ec2.amazonaws.com.cn, aws-us-gov to
# ec2.amazonaws.com). EKS's own is eks.amazonaws.com there too (terraform-aws-eks#1904).
PARTITIONAL_PRINCIPALS: dict[str, tuple[str, ...]] = {"aws-cn": ("ec2",)}
# What the regional endpoints' and service principals' names end with where the partition does not say otherwise.
GLOBAL_SUFFIX = "amazonaws.com"


@dataclass(frozen=True)
class Where:
    partition: str  # aws, aws-cn
    dns_suffix: str  # amazonaws.com, amazonaws.com.cn
    account: str
    region: str

    def arn(self, service: str, resource: str, *, region: bool = True, account: str | None = None) -> str:
        """An ARN of this account (or `account`) and region (none for global services: `region=False`)."""
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{account or self.account}:{resource}"

    def managed_policy(self, name: str) -> str:
        """An AWS managed policy's ARN: 'AmazonEKSClusterPolicy', 'service-role/AmazonEBSCSIDriverPolicy'."""
        return self.arn("iam", f"policy/{name}", region=False, account="aws")

    def account_root(self, account: str | None = None) -> dict[str, str]:
        """The account (this one by default) as a policy principal: its IAM policies decide."""
        return {"AWS": self.arn("iam", "root", region=False, account=account)}

    def service_principal(self, service: str) -> str:
        """'ec2' -> 'ec2.amazonaws.com' (ec2.amazonaws.com.cn in China), 'monitoring.rds' ->
        'monitoring.rds.amazonaws.com'."""
        partitional = service in PARTITIONAL_PRINCIPALS.get(self.partition, ())
        return f"{service}.{self.dns_suffix if partitional else GLOBAL_SUFFIX}"

    def regional(self, service: str) -> str:
        """A service's name in this region: what kms:ViaService compares, and CloudWatch Logs' principal
        (logs.<region>.amazonaws.com, logs.cn-north-1.amazonaws.com.cn: AWS CDK region-info, 'regionalPartitional')."""
        return f"{service}.{self.region}.{self.dns_suffix}"
