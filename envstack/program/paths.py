"""Where the program finds its project and its data: one place, so moving a module never moves a path."""

from pathlib import Path

PROGRAM = Path(__file__).resolve().parent       # envstack/program: what `pulumi up` runs, besides components/
ROOT = PROGRAM.parent.parent                    # the Pulumi project: Pulumi.yaml, Pulumi.<stack>.yaml, __main__.py
PROFILES = PROGRAM / "profiles"                 # <environment>.yaml and common.yaml
ADDON_VERSIONS_FILE = PROGRAM / "addon_versions.yaml"
PARTITIONS_FILE = PROGRAM / "aws_partitions.json"  # regions and partitions, from botocore (make partitions)
POLICY_DIR = ROOT / "policies"                  # the policy pack and its per-environment configuration
