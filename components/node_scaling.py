"""How many nodes a managed node group is told to have, deploy after deploy.

With an autoscaler the desired size is the autoscaler's once the group exists, so `pulumi up` leaves it alone
(pulumi-eks `ignoreScalingChanges`: ignoreChanges on `scalingConfig.desiredSize`, nodejs/eks/nodes/nodegroup.ts).
That alone breaks the day `minSize` is raised above the running desired size: the engine sends the ignored value
from state, the provider sends it with the new minimum in one UpdateNodegroupConfig, and EKS answers "Minimum
capacity N can't be greater than desired size M" (terraform-provider-aws#18310, terraform-aws-modules/
terraform-aws-eks#748, #2508; the module's answer is an out-of-band `aws eks update-nodegroup-config` in a second
apply, bryantbiggs/eks-desired-size-hack). envstack reads the running group instead (EKS DescribeNodegroup through
the provider's data sources, at program time) and, only when `minSize` or `maxSize` change, sends the running desired
size clamped into the new range: what terraform-provider-aws#18310 asks the provider to do, in one deploy.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# The tag that names a node group by its configuration key (pulumi-eks names the group itself with a random suffix).
NODE_GROUP_TAG = "envstack:nodeGroup"


@dataclass(frozen=True)
class Scaling:
    min_size: int
    max_size: int
    desired_size: int


@dataclass(frozen=True)
class ScalingPlan:
    desired_size: int  # what the node group is sent
    ignore_desired_changes: bool  # whether `pulumi up` leaves the running desired size alone


def plan(wanted: Scaling, running: Scaling | None, autoscaled: bool) -> ScalingPlan:
    """`wanted`: the configuration (`desiredSize` the initial size); `running`: the group as EKS has it, if it
    exists and can be told apart."""
    if not autoscaled:  # no autoscaler: the configuration's count is kept
        return ScalingPlan(wanted.desired_size, ignore_desired_changes=False)
    if running is None:  # a new group starts at desiredSize; from then on the autoscaler decides
        return ScalingPlan(wanted.desired_size, ignore_desired_changes=True)
    if (running.min_size, running.max_size) == (wanted.min_size, wanted.max_size):
        return ScalingPlan(running.desired_size, ignore_desired_changes=True)
    # The range moves: send the running size, clamped into it, with it (EKS checks min <= desired <= max).
    clamped = min(max(running.desired_size, wanted.min_size), wanted.max_size)
    return ScalingPlan(clamped, ignore_desired_changes=False)


def running_node_groups(cluster_name: str, parent: pulumi.Resource) -> Mapping[str, Scaling]:
    """The scaling of this cluster's node groups as EKS runs them, by their NODE_GROUP_TAG; {} before the cluster
    exists (the first `up`) or for groups made before the tag. Invoked at program time (the answers decide resource
    options), through the parent's provider: EKS ListClusters, ListNodegroups, DescribeNodegroup."""
    invoke = pulumi.InvokeOptions(parent=parent)
    if cluster_name not in (aws.eks.get_clusters(opts=invoke).names or []):
        return {}
    running: dict[str, Scaling] = {}
    for name in aws.eks.get_node_groups(cluster_name=cluster_name, opts=invoke).names or []:
        group = aws.eks.get_node_group(cluster_name=cluster_name, node_group_name=name, opts=invoke)
        key = (group.tags or {}).get(NODE_GROUP_TAG)
        if key and group.scaling_configs:
            config = group.scaling_configs[0]
            running[key] = Scaling(int(config.min_size), int(config.max_size), int(config.desired_size))
    return running
