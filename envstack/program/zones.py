"""Which Availability Zones a stack's network may use: shared by the network component (the getAvailabilityZones
invoke) and `envstack preflight` (which asks the account the same question before `pulumi up`)."""

# Amazon EKS refuses cluster subnets in these AZ IDs (CreateCluster: UnsupportedAvailabilityZoneException; EKS user
# guide, "Amazon EKS VPC and subnet requirements and considerations"); eksctl avoids them too (pkg/az/az.go,
# zoneIDsToAvoid). AZ names map to different IDs in each account, so only the zone ID can be excluded.
EKS_UNSUPPORTED_ZONE_IDS = ("cac1-az3", "use1-az3", "usw1-az2")
