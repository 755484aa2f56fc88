"""Destroy without leftovers: what owns cloud resources goes before its controllers, and what is kept after a
destroy (final snapshots) keeps what it needs (its key)."""

from conftest import FIXTURES, stack_config, stacks_of, synth
from test_database import children

from envstack.ops.review import review_config
from envstack.tools.synth import Synthesis, synthesize
from envstack.tools.validate import load

NAMESPACE = "kubernetes:core/v1:Namespace"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "eks:index:ManagedNodeGroup"
KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"


def volume_owners(s: Synthesis) -> list[str]:
    """The Kubernetes objects whose deletion deletes EBS volumes (PVCs in a namespace, the StorageClass's PVs)."""
    return [r.urn for r in s.resources if r.type in (NAMESPACE, STORAGE_CLASS)]


def storage_controllers(s: Synthesis) -> set[str]:
    return {r.urn for r in s.of_type(ADDON) if r.inputs["addonName"] == "aws-ebs-csi-driver"} | {
        r.urn for r in s.of_type(NODE_GROUP)}


def test_objects_that_own_volumes_depend_on_the_csi_driver_and_every_node_group(stack):
    """Destroy deletes dependents first: the namespaces (their PVCs) and the StorageClass go while the driver still
    runs, so it deletes the volumes; otherwise every PV's EBS volume is left behind."""
    controllers = storage_controllers(stack)
    assert len(controllers) == 1 + len(stack.of_type(NODE_GROUP)) > 1
    owners = {r.urn: r for r in stack.resources if r.type in (NAMESPACE, STORAGE_CLASS)}
    assert len(owners) == len(stack.of_type(NAMESPACE)) + 1
    assert all(controllers <= set(r.dependencies) for r in owners.values())


def test_store_keys_outlive_the_stack_where_the_stores_keep_snapshots(stack):
    """A final snapshot (or retained automated backups) stays encrypted with the store's key: a destroy that
    scheduled the key's deletion would make it unrestorable after 30 days, protected stack or not."""
    cfg = load(stack.stack, FIXTURES).config
    keeps = {"database": not cfg.database.skip_final_snapshot or not cfg.database.delete_automated_backups,
             "cache": cfg.cache.final_snapshot}
    for store, kept in keeps.items():
        [key] = [k for k in children(stack, store, KEY) if k.name == f"{store}-key"]
        assert key.retainOnDelete is kept, (store, kept)
    others = [r.name for r in stack.of_type(KEY) if r.retainOnDelete and r.name not in ("database-key", "cache-key")]
    assert others == []


def test_staging_keeps_its_store_keys():
    s = synth("staging")
    assert {k.name for k in s.of_type(KEY) if k.retainOnDelete} == {"database-key", "cache-key"}
    assert not any(k.protect for k in s.of_type(KEY))  # retained, not protected: staging's destroy still completes


def test_a_review_stack_destroys_completely():
    """What would stop `pulumi destroy` of a review stack, or leave something behind: protect, retainOnDelete,
    deletion protection, a bucket that is not emptied, volumes outliving their driver."""
    with stacks_of(FIXTURES):
        s = synthesize("pr-7", review_config(stack_config("dev")))
    assert [r.name for r in s.resources if r.protect or r.retainOnDelete] == []
    assert s.one("eks:index:Cluster").inputs.get("deletionProtection") is False
    assert s.one("aws:rds/instance:Instance").inputs["deletionProtection"] is False
    assert s.one("aws:rds/instance:Instance").inputs["skipFinalSnapshot"] is True
    assert "finalSnapshotIdentifier" not in s.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs
    assert s.one("aws:lb/loadBalancer:LoadBalancer").inputs["enableDeletionProtection"] is False
    buckets = s.of_type(BUCKET)
    assert buckets and all(b.inputs.get("forceDestroy") is True for b in buckets)
    controllers = storage_controllers(s)
    assert all(controllers <= set(s.by_urn()[urn].dependencies) for urn in volume_owners(s))
