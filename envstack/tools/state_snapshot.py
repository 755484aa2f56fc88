"""State compatibility: a committed record, per stack, of the resources that hold state and of what would replace them.

Mocks only ever see a first deployment, so nothing else notices a change that would replace the database or drop a
key on the *next* `pulumi up` of a running stack: a resource renamed without an alias, a ForceNew input changed by a
refactoring or a profile. For every stateful resource (database, cache, cluster, node groups, buckets, keys, log
groups) `state-snapshots/<stack>.json` holds its URN and the inputs the Terraform AWS provider marks ForceNew (the
engine replaces the resource when one changes), as `envstack synth` sees them. The check compares a synthesis with
it: a URN gone (without an alias naming it) or a replacing input changed fails, and so does a new stateful resource
the snapshot does not list yet, until the snapshot is rewritten on purpose (`make state-snapshot`), in the same
commit as the alias or the CHANGELOG upgrade note that the change needs. A stack without a snapshot is reported
(the command says how to make one), never failed: users add stacks.

    python -m envstack.tools.state_snapshot [STACK...]            check (exit 1 on a difference)
    python -m envstack.tools.state_snapshot --update [STACK...]   write the snapshots (every committed stack if none)
"""

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envstack.program.stack_names import present

from . import synth
from .nested import at
from .synth import ROOT, Synthesis

SNAPSHOTS = "state-snapshots"


@dataclass(frozen=True)
class Watched:
    """The inputs of a stateful type whose change replaces the resource (`replaced_by`), or replaces it only when
    the new value is lower (`replaced_on_downgrade`, compared as versions; Valkey above Redis OSS)."""

    replaced_by: tuple[str, ...]
    source: str
    replaced_on_downgrade: tuple[str, ...] = ()


# The inputs envstack sets that the provider marks ForceNew (terraform-provider-aws, internal/service/...), by type;
# pulumi-eks's components by the aws:eks inputs they pass on.
STATEFUL: Mapping[str, Watched] = {
    # `identifier` is no longer among them: since v5 the provider renames an instance in place (ModifyDBInstance
    # NewDBInstanceIdentifier; terraform-provider-aws#31232, its docs corrected in #32687). A rename still changes
    # the endpoint and the log groups named after it, which are watched on their own.
    "aws:rds/instance:Instance": Watched(
        ("engine", "kmsKeyId", "dbName", "username", "storageEncrypted"), "rds/instance.go"),
    "aws:elasticache/replicationGroup:ReplicationGroup": Watched(
        ("replicationGroupId", "kmsKeyId", "subnetGroupName", "port", "atRestEncryptionEnabled"),
        "elasticache/replication_group.go (ForceNew; customizeDiffEngineVersionForceNewOnDowngrade, "
        "customizeDiffEngineForceNewOnDowngrade)", replaced_on_downgrade=("engine", "engineVersion")),
    # aws_eks_cluster: name, role_arn, bootstrap_self_managed_addons ForceNew; encryption_config ForceNewIfChange
    # when removed (eks/cluster.go), and EKS never changes a cluster's secrets key.
    "eks:index:Cluster": Watched(("name", "serviceRole", "bootstrapSelfManagedAddons", "encryptionConfigKeyArn"),
                                 "eks/cluster.go"),
    # aws_eks_node_group: node_role_arn, subnet_ids, ami_type, capacity_type, instance_types, launch_template id.
    "eks:index:ManagedNodeGroup": Watched(
        ("nodeRole", "subnetIds", "amiType", "capacityType", "instanceTypes", "launchTemplate.id"),
        "eks/node_group.go"),
    "aws:s3/bucket:Bucket": Watched(("bucket", "bucketPrefix", "objectLockEnabled"), "s3/bucket.go"),
    "aws:kms/key:Key": Watched(("keyUsage", "customerMasterKeySpec", "keySpec", "multiRegion"), "kms/key.go"),
    "aws:cloudwatch/logGroup:LogGroup": Watched(("name", "namePrefix"), "logs/group.go"),
}
ENGINE_ORDER = {"redis": 0, "valkey": 1}  # Redis OSS moves to Valkey in place; back is a downgrade


def _present(inputs: Mapping[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    return {path: value for path in paths if (value := at(inputs, *path.split("."))) is not None}


def snapshot(synthesis: Synthesis) -> dict[str, Any]:
    """The stack's stateful resources: URN, type and the replacing inputs they are given."""
    resources = []
    for record in sorted(synthesis.resources, key=lambda r: r.urn):
        watched = STATEFUL.get(record.type)
        if watched is None:
            continue
        resources.append({"urn": record.urn, "type": record.type, **snapshot_entry(record.inputs, watched)})
    return {"stack": synthesis.stack, "resources": resources}


def is_downgrade(key: str, new: Any, old: Any) -> bool:
    """Is `new` below `old`: an engine further back in ENGINE_ORDER, or a lower version (compared number by number)?"""
    if key == "engine":
        return ENGINE_ORDER.get(str(new), 0) < ENGINE_ORDER.get(str(old), 0)
    numbers = [tuple(int(n) for n in re.findall(r"\d+", str(v))) for v in (new, old)]
    return numbers[0] < numbers[1]


@dataclass
class Report:
    stack: str
    dropped: list[str] = field(default_factory=list)  # URNs whose resource is gone (delete, or a rename without alias)
    replaced: list[str] = field(default_factory=list)  # "<urn>: <input> <old> -> <new>"
    added: list[str] = field(default_factory=list)  # stateful URNs the snapshot does not list yet

    @property
    def ok(self) -> bool:
        return not (self.dropped or self.replaced or self.added)

    def lines(self) -> list[str]:
        return ([f"{self.stack}: would delete or replace {urn} (gone from the program, and no alias names it)"
                 for urn in self.dropped]
                + [f"{self.stack}: would replace {change}" for change in self.replaced]
                + [f"{self.stack}: new stateful resource {urn} is not in the snapshot" for urn in self.added])


def compare(recorded: Mapping[str, Any], synthesis: Synthesis) -> Report:
    """What the next `pulumi up` of a stack at `recorded` would do to its stateful resources."""
    report = Report(synthesis.stack)
    current = {r.urn: r for r in synthesis.resources if r.type in STATEFUL}
    by_alias = {alias: r for r in current.values() for alias in r.aliases}
    seen: set[str] = set()
    for entry in recorded.get("resources", []):
        record = current.get(entry["urn"]) or by_alias.get(entry["urn"])
        if record is None or record.type != entry["type"]:
            report.dropped.append(entry["urn"])
            continue
        seen.add(record.urn)
        now = snapshot_entry(record.inputs, STATEFUL[record.type])
        for key, old in entry.get("replacedBy", {}).items():
            if now["replacedBy"].get(key) != old:
                report.replaced.append(f"{entry['urn']}: {key} {old!r} -> {now['replacedBy'].get(key)!r}")
        for key, new in now["replacedBy"].items():
            if key not in entry.get("replacedBy", {}):
                report.replaced.append(f"{entry['urn']}: {key} (unset) -> {new!r}")
        for key, old in entry.get("replacedOnDowngrade", {}).items():
            new = now.get("replacedOnDowngrade", {}).get(key)
            if new is not None and is_downgrade(key, new, old):
                report.replaced.append(f"{entry['urn']}: {key} {old!r} -> {new!r} (a downgrade)")
    report.added = sorted(set(current) - seen)
    return report


def snapshot_entry(inputs: Mapping[str, Any], watched: Watched) -> dict[str, Any]:
    downgrade = _present(inputs, watched.replaced_on_downgrade)
    return {"replacedBy": _present(inputs, watched.replaced_by),
            **({"replacedOnDowngrade": downgrade} if downgrade else {})}


def snapshot_path(stack: str, root: Path = ROOT) -> Path:
    return root / SNAPSHOTS / f"{stack}.json"


def read(stack: str, root: Path = ROOT) -> dict[str, Any] | None:
    path = snapshot_path(stack, root)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def write(synthesis: Synthesis, root: Path = ROOT) -> Path:
    path = snapshot_path(synthesis.stack, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snapshot(synthesis), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


MISSING_HINT = ("{stack}: no state snapshot ({path}): nothing guards its database, cache, cluster and keys "
                "against a replacement; record it with `make state-snapshot STACKS={stack}` and commit it")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m envstack.tools.state_snapshot", description=__doc__.split("\n")[0])
    parser.add_argument("stacks", nargs="*", help="stack names (default: every stack file in the checkout)")
    parser.add_argument("--update", action="store_true", help="write the snapshots instead of checking them")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    stacks = args.stacks or present(args.root)
    failed = False
    for stack in stacks:
        synthesis = synth.synthesize(stack, root=args.root)
        if args.update:
            print(f"{stack}: wrote {write(synthesis, args.root).relative_to(args.root)}")
            continue
        recorded = read(stack, args.root)
        if recorded is None:
            print(MISSING_HINT.format(stack=stack, path=snapshot_path(stack, args.root).relative_to(args.root)))
            continue
        report = compare(recorded, synthesis)
        for line in report.lines() or [f"{stack}: the stateful resources are as recorded"]:
            print(line)
        failed |= not report.ok
    if failed:
        print("a change above would replace or drop state: add an alias, or say so in CHANGELOG.md (upgrade note) and "
              "rewrite the snapshot with `make state-snapshot`", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
