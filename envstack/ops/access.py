"""`envstack check-viewer STACK ROLE_ARN`: whether a CI role has an EKS access entry in the stack's configuration.

`pulumi preview` and `pulumi refresh` read the cluster baseline's Kubernetes objects with the credentials of the job
(pulumi-eks's kubeconfig runs `aws eks get-token`): a role without an access entry gets "unreachable cluster", and a
drift check that cannot read the objects never detects their drift. The preview, approval-preview and drift jobs run
this before they start, so a missing `envstack:cluster.viewerRoleArns` entry is one clear line instead.

Roles are compared by account and name (IAM role names are unique per account, case-insensitively), so a path
written differently does not hide a match; the configuration itself keeps full ARNs (EKS needs the path).
"""

import argparse
import sys

from envstack.tools.exit_codes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED
from envstack.tools.validate import configured

READERS = ("viewerRoleArns", "adminRoleArns", "deployerRoleArn")  # entries that may read every object


def identity(role_arn: str) -> tuple[str, str]:
    """(account, role name in lower case) of `arn:aws:iam::<account>:role/<path>/<name>`."""
    return role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1].casefold()


def check_viewer(args: argparse.Namespace) -> int:
    if (cfg := configured(args)) is None:
        return EXIT_BAD_INPUT
    roles = cfg.cluster.access_entry_roles
    wanted = identity(args.role_arn) if args.role_arn.count(":") >= 5 else None
    for key in READERS:
        if wanted and any(identity(arn) == wanted for arn in roles[key]):
            print(f"stack {args.stack}: {args.role_arn} reads the cluster (envstack:cluster.{key})")
            return EXIT_OK
    print(f"stack {args.stack}: envstack:cluster.viewerRoleArns does not list {args.role_arn!r}: expected the role "
          "this job runs as among viewerRoleArns (or adminRoleArns), or preview and refresh cannot read the "
          "cluster's Kubernetes objects (\"unreachable cluster\") and drift goes unseen; add it to the stack file "
          "(bootstrap's stackSettings output lists the roles)", file=sys.stderr)
    return EXIT_REFUSED
