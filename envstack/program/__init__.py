"""What `pulumi up` runs besides components/: imports no tooling, no boto3, no git (pyproject [tool.importlinter])."""
