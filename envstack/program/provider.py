"""The stack's one AWS provider: its region, the accounts it may touch, and the default tags."""

import pulumi
import pulumi_aws as aws

from .config import StackConfig


def aws_provider(cfg: StackConfig) -> aws.Provider:
    return aws.Provider(
        "aws",
        region=cfg.region,
        allowed_account_ids=list(cfg.allowed_account_ids) or None,
        default_tags={"tags": cfg.tags},
        opts=pulumi.ResourceOptions(),
    )
