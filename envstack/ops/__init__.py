"""Account and delivery operations: they call AWS (boto3), git and the Pulumi CLI; never run by `pulumi up`."""
