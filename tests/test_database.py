"""The PostgreSQL component: configuration, guardrails, per-environment variants, hardening, connections."""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, id_of, region, stack_config, stacks_of, synth, synth_with

from components.database import parameter_group_family, parameters
from envstack.program.config import ConfigError, load_profile, load_stack_config
from envstack.program.config.loader import deep_merge, parse_value
from envstack.program.config.windows import daily, weekly
from envstack.tools.mocks import ACCOUNT_ID
from envstack.tools.synth import ROOT, ResourceRecord, Synthesis, synthesize

INSTANCE = "aws:rds/instance:Instance"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KEY = "aws:kms/key:Key"


# ---- helpers shared with test_cache.py ----------------------------------------------------------------------------

def config_problems(environment: str, **raw: Any) -> list[str]:
    """Every problem line for the fixture stack file of `environment` with `raw` merged into its values."""
    committed = {k.removeprefix("envstack:"): parse_value(v) for k, v in stack_config(environment).items()
                 if k.startswith("envstack:")}
    try:
        load_stack_config("broken", deep_merge(committed, raw), "us-west-2")
    except ConfigError as error:
        return error.render().splitlines()[1:]
    return []


def assert_rejected(environment: str, raw: dict[str, Any], key: str, expected: str) -> None:
    lines = config_problems(environment, **raw)
    matching = [line for line in lines if line.startswith(f"stack broken: {key} = ")]
    assert matching, lines
    assert expected in matching[0], matching[0]


def profile(environment: str, area: str) -> dict[str, Any]:
    return load_profile(environment).settings[area]


def children(s: Synthesis, component: str, type_: str) -> list[ResourceRecord]:
    """Resources of a type parented by the named envstack component."""
    parents = {r.urn for r in s.resources if r.name == component and r.type.startswith("envstack:")}
    return [r for r in s.of_type(type_) if r.parent in parents]


def only(records: list[ResourceRecord]) -> ResourceRecord:
    assert len(records) == 1, [r.urn for r in records]
    return records[0]


def transitive_dependencies(records: Iterable[ResourceRecord], urn: str) -> set[str]:
    """Everything `urn` waits for: its dependencies, theirs, and so on. Waiting for a component means waiting for
    every resource under it, so a component dependency brings in its descendants too."""
    by_urn = {r.urn: r for r in records}
    kids: dict[str, list[str]] = {}
    for r in by_urn.values():
        if r.parent:
            kids.setdefault(r.parent, []).append(r.urn)
    seen: set[str] = set()
    todo = list(by_urn[urn].dependencies)
    while todo:
        current = todo.pop()
        if current in seen or current not in by_urn:
            continue
        seen.add(current)
        todo += by_urn[current].dependencies
        if not by_urn[current].custom:
            todo += kids.get(current, [])
    return seen


def kubernetes_in(s: Synthesis, urns: set[str]) -> list[str]:
    types = {r.urn: r.type for r in s.resources}
    return [u for u in urns if types[u].startswith(("eks:", "kubernetes:", "aws:eks/"))]


# A program that is the real one plus a workload whose security group comes from an EKS resource, connected to the
# data stores with `allow`: the shape the cluster has, whatever state the cluster component is in.
CONNECTED_PROGRAM = """
import runpy
import pulumi
from components.connections import Connections, allow

program = runpy.run_path({main!r})


class Workload:
    def __init__(self):
        self.cluster = pulumi.CustomResource("eks:index:Cluster", "workload", {{}})
        self.connections = Connections(owner=self.cluster, label="workload",
                                       security_group_id=self.cluster.id.apply(lambda i: f"sg-{{i}}"))


workload = Workload()
allow(workload, program["database"])
allow(workload, program["cache"])
"""
_connected: dict[str, Synthesis] = {}


def connected(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The dev stack with a workload allowed to reach the database and the cache (synthesized once)."""
    if "dev" not in _connected:
        root = tmp_path_factory.mktemp("connected")
        (root / "__main__.py").write_text(CONNECTED_PROGRAM.format(main=str(ROOT / "__main__.py")))
        with stacks_of(FIXTURES):
            _connected["dev"] = synthesize("dev", stack_config("dev"), root=Path(root))
    return _connected["dev"]


# ---- configuration -------------------------------------------------------------------------------------------------

INVALID = [
    ("dev", {"engineVersion": "15"}, "engineVersion", "major version in (16, 17)"),
    ("dev", {"allowMajorVersionUpgrade": "sometimes"}, "allowMajorVersionUpgrade", "boolean"),
    ("dev", {"applyImmediately": "sometimes"}, "applyImmediately", "boolean"),
    ("dev", {"engineVersion": "17.x"}, "engineVersion", "major version"),
    ("dev", {"instanceClass": "m7g.large"}, "instanceClass", "RDS instance class"),
    ("dev", {"allocatedStorageGb": 10}, "allocatedStorageGb", "greater than or equal to 20"),
    ("dev", {"allocatedStorageGb": 100, "maxAllocatedStorageGb": 100}, "maxAllocatedStorageGb",
     "at least 110: RDS wants the ceiling at least 10% above allocatedStorageGb (100)"),
    # RDS refuses a ceiling less than 10% above the allocation: 5% is not enough, 10% rounded up is.
    ("dev", {"allocatedStorageGb": 100, "maxAllocatedStorageGb": 105}, "maxAllocatedStorageGb", "at least 110"),
    ("dev", {"allocatedStorageGb": 25, "maxAllocatedStorageGb": 27}, "maxAllocatedStorageGb", "at least 28"),
    ("dev", {"maxAllocatedStorageGb": -1}, "maxAllocatedStorageGb", "greater than or equal to 0"),
    ("dev", {"multiAz": "sometimes"}, "multiAz", "boolean"),
    ("dev", {"databaseName": "1app"}, "databaseName", "PostgreSQL identifier"),
    ("dev", {"masterUsername": "rdsadmin"}, "masterUsername", "reserved 'rdsadmin'"),
    ("dev", {"applicationUser": "App-1"}, "applicationUser", "lowercase PostgreSQL identifier"),
    # rds_iam would switch the master user's password login off.
    ("dev", {"applicationUser": "envstack_admin"}, "applicationUser", "other than masterUsername"),
    ("dev", {"backupRetentionDays": 0}, "backupRetentionDays", "greater than or equal to 1"),
    ("dev", {"backupRetentionDays": 36}, "backupRetentionDays", "less than or equal to 35"),
    ("dev", {"backupWindow": "3am"}, "backupWindow", "hh24:mi-hh24:mi"),
    ("dev", {"backupWindow": "03:00-03:10"}, "backupWindow", "at least 30 minutes"),
    ("dev", {"maintenanceWindow": "sunday"}, "maintenanceWindow", "ddd:hh24:mi-ddd:hh24:mi"),
    ("dev", {"maintenanceWindow": "sun:03:30-sun:04:30"}, "maintenanceWindow", "does not overlap backupWindow"),
    ("dev", {"backupWindow": "23:30-00:30", "maintenanceWindow": "wed:00:00-wed:01:00"}, "maintenanceWindow",
     "does not overlap backupWindow"),
    ("dev", {"deletionProtection": "sometimes"}, "deletionProtection", "boolean"),
    ("dev", {"skipFinalSnapshot": None}, "skipFinalSnapshot", "boolean"),
    ("dev", {"deleteAutomatedBackups": "sometimes"}, "deleteAutomatedBackups", "boolean"),
    ("dev", {"performanceInsightsRetentionDays": 30}, "performanceInsightsRetentionDays", "multiple of 31"),
    ("dev", {"monitoringIntervalSeconds": 0}, "monitoringIntervalSeconds", "1, 5, 10, 15, 30 or 60"),
    ("dev", {"slowQueryMs": -1}, "slowQueryMs", "greater than or equal to 0"),
    ("dev", {"storageGb": 20}, "storageGb", "unknown key"),
    # production guardrails
    ("prod", {"multiAz": False}, "multiAz", "requires a Multi-AZ database"),
    ("prod", {"backupRetentionDays": 7}, "backupRetentionDays", "at least 30 days"),
    ("prod", {"deletionProtection": False}, "deletionProtection", "requires deletion protection"),
    ("prod", {"skipFinalSnapshot": True}, "skipFinalSnapshot", "requires a final snapshot"),
    ("prod", {"instanceClass": "db.t4g.large"}, "instanceClass", "non-burstable"),
]


@pytest.mark.parametrize(("environment", "database", "key", "expected"), INVALID,
                         ids=[f"{row[0]}-{row[2]}-{i}" for i, row in enumerate(INVALID)])
def test_bad_database_values_name_the_key(environment, database, key, expected):
    assert_rejected(environment, {"database": database}, f"envstack:database.{key}", expected)


def test_outside_prod_the_guardrails_do_not_apply():
    relaxed = {"multiAz": False, "backupRetentionDays": 1, "deletionProtection": False,
               "instanceClass": "db.t4g.large"}
    assert not [line for line in config_problems("dev", database={**relaxed, "skipFinalSnapshot": True})
                if "envstack:database" in line]
    # Staging holds production-like data: relaxed, but it keeps a final snapshot, 14 days of backups and deletion
    # protection (its pack's rds-deletion-protection is mandatory).
    assert not [line for line in config_problems("staging", database={**relaxed, "backupRetentionDays": 14,
                                                                      "deletionProtection": True})
                if "envstack:database" in line]
    assert_rejected("staging", {"database": {"skipFinalSnapshot": True}}, "envstack:database.skipFinalSnapshot",
                    "requires a final snapshot")
    assert_rejected("staging", {"database": relaxed}, "envstack:database.backupRetentionDays",
                    "staging requires at least 14 days of backups")
    assert_rejected("staging", {"database": relaxed}, "envstack:database.deletionProtection",
                    "staging requires deletion protection (true)")


@pytest.mark.parametrize("ceiling", [0, 110, 1000])
def test_storage_ceiling_off_or_at_least_ten_percent_above_is_accepted(ceiling):
    database = {"allocatedStorageGb": 100, "maxAllocatedStorageGb": ceiling}
    assert not [line for line in config_problems("dev", database=database) if "envstack:database" in line]


def test_every_profile_has_valid_database_settings():
    for environment in ("dev", "staging", "prod"):
        assert not [line for line in config_problems(environment) if "envstack:database" in line]


@pytest.mark.parametrize(("maintenance", "backup", "overlap"), [
    ("sun:05:00-sun:06:00", "03:00-04:00", False),
    ("sun:05:00-sun:06:00", "05:59-06:30", True),
    ("sun:23:30-mon:00:30", "00:00-01:00", True),   # wraps past the end of the week
    ("tue:00:00-tue:01:00", "23:30-00:30", True),   # the daily window wraps past midnight
    ("sun:04:00-sun:05:00", "03:00-04:00", False),  # back to back is fine
])
def test_window_overlap(maintenance, backup, overlap):
    assert bool(weekly(maintenance) & daily(backup)) is overlap


def test_parameter_group_family_follows_the_engine_major():
    assert parameter_group_family("17") == "postgres17"
    assert parameter_group_family("16.9") == "postgres16"


# ---- the instance per environment -----------------------------------------------------------------------------------

def test_each_environment_gets_its_profiles_variant(stack):
    settings, db = profile(stack.environment, "database"), stack.one(INSTANCE).inputs
    assert db["instanceClass"] == settings["instanceClass"]
    assert db["multiAz"] is settings["multiAz"]
    assert db["allocatedStorage"] == settings["allocatedStorageGb"]
    assert db["maxAllocatedStorage"] == settings["maxAllocatedStorageGb"] > db["allocatedStorage"]
    assert db["backupRetentionPeriod"] == settings["backupRetentionDays"]
    assert db["deletionProtection"] is settings["deletionProtection"]
    assert db["skipFinalSnapshot"] is settings["skipFinalSnapshot"]
    assert db["deleteAutomatedBackups"] is settings["deleteAutomatedBackups"]
    assert db["engineVersion"] == settings["engineVersion"]
    assert db["applyImmediately"] is settings["applyImmediately"]


def test_dev_is_the_cheap_disposable_variant():
    s = synth("dev")
    db = s.one(INSTANCE)
    assert db.inputs["instanceClass"].startswith("db.t4g.") and db.inputs["multiAz"] is False
    assert db.inputs["allocatedStorage"] == 20
    assert db.inputs["deletionProtection"] is False and db.inputs["skipFinalSnapshot"] is True
    assert db.protect is False


def test_prod_is_multi_az_protected_and_keeps_its_backups():
    db = synth("prod").one(INSTANCE)
    assert db.protect is True
    assert db.inputs["multiAz"] is True and not db.inputs["instanceClass"].startswith("db.t")
    assert db.inputs["backupRetentionPeriod"] >= 30
    assert db.inputs["deletionProtection"] is True and db.inputs["skipFinalSnapshot"] is False
    assert db.inputs["deleteAutomatedBackups"] is False
    assert db.inputs["finalSnapshotIdentifier"].startswith("envstack-prod-postgres-final-")


def test_staging_takes_a_final_snapshot_and_cannot_be_deleted_by_accident():
    db = synth("staging").one(INSTANCE).inputs
    assert db["deletionProtection"] is True and db["skipFinalSnapshot"] is False
    assert db["finalSnapshotIdentifier"].startswith("envstack-staging-postgres-final-")


def test_instance_is_hardened_in_every_environment(stack):
    db = stack.one(INSTANCE).inputs
    key = only([k for k in children(stack, "database", KEY) if k.name == "database-key"])
    arn = f"arn:aws:kms:{region(stack)}:123456789012:key/{key.name}"
    assert db["engine"] == "postgres"
    assert db["storageEncrypted"] is True and db["kmsKeyId"] == arn
    assert db["storageType"] == "gp3"
    assert db["publiclyAccessible"] is False
    assert db["manageMasterUserPassword"] is True and db["masterUserSecretKmsKeyId"] == arn
    assert "password" not in db and "passwordWo" not in db
    assert db["iamDatabaseAuthenticationEnabled"] is True
    assert db["performanceInsightsEnabled"] is True and db["performanceInsightsKmsKeyId"] == arn
    # iam-db-auth-error: where RDS reports failed IAM logins, the only way every workload logs in.
    assert db["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade", "iam-db-auth-error"]
    assert db["autoMinorVersionUpgrade"] is True and db["allowMajorVersionUpgrade"] is False
    assert db["copyTagsToSnapshot"] is True


def test_the_final_snapshot_is_named_for_this_instances_lifetime(stack):
    """<identifier>-final-<suffix>: the suffix is a RandomId kept by the inputs that replace the instance, so a
    replacement (and a new stack after a destroy) draws a new name (terraform-aws-modules/terraform-aws-rds#445)."""
    db = stack.one(INSTANCE).inputs
    suffixes = [r for r in children(stack, "database", "random:index/randomId:RandomId")]
    if db["skipFinalSnapshot"]:
        assert "finalSnapshotIdentifier" not in db and not suffixes
        return
    suffix = only(suffixes)
    assert db["finalSnapshotIdentifier"] == f"{db['identifier']}-final-{stack.state_of(suffix)['hex']}"
    assert suffix.inputs["keepers"] == {key: db[key] for key in ("identifier", "engine", "kmsKeyId", "dbName",
                                                                  "username")}
    assert suffix.protect is False  # a protected suffix could not be replaced with its instance


def test_final_snapshot_names_change_with_a_replacement_and_only_then():
    """Staging keeps a final snapshot of both stores. A new database name replaces the instance (ForceNew), a new
    engine replaces the replication group (Valkey -> Redis is a downgrade): each gets a new final snapshot name. A
    new instance class or node type is an in-place change: the name stays."""
    def names(s: Synthesis) -> tuple[str, str]:
        return (s.one(INSTANCE).inputs["finalSnapshotIdentifier"],
                s.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs["finalSnapshotIdentifier"])

    database, cache = stack_config("staging").get("envstack:database", {}), {}
    db_name, cache_name = names(synth("staging"))
    replaced_db = names(synth_with("staging", database={**database, "databaseName": "shop"},
                                   cache={**cache, "nodeType": "cache.t4g.medium"}))
    assert replaced_db[0] != db_name and replaced_db[1] == cache_name
    replaced_cache = names(synth_with("staging", database={**database, "instanceClass": "db.t4g.large"},
                                      cache={**cache, "engine": "redis", "engineVersion": "7.1"}))
    assert replaced_cache[0] == db_name and replaced_cache[1] != cache_name


def test_a_major_upgrade_is_allowed_only_when_the_stack_file_says_so():
    """Raising engineVersion's major needs allowMajorVersionUpgrade for that deploy; the default refuses it."""
    s = synth_with("dev", database={"engineVersion": "17", "allowMajorVersionUpgrade": True})
    assert s.one(INSTANCE).inputs["allowMajorVersionUpgrade"] is True


def test_instance_lives_in_the_isolated_subnet_group_behind_its_own_security_group(stack):
    db = stack.one(INSTANCE).inputs
    assert db["dbSubnetGroupName"] == stack.one("aws:rds/subnetGroup:SubnetGroup").name
    sg = only(children(stack, "database", SECURITY_GROUP))
    assert db["vpcSecurityGroupIds"] == [stack.id_of(sg)]


def test_security_group_has_no_inline_rules_and_says_what_it_is_for(stack):
    for component in ("database", "cache"):
        sg = only(children(stack, component, SECURITY_GROUP))
        assert "ingress" not in sg.inputs and "egress" not in sg.inputs
        assert sg.inputs["vpcId"] == stack.id_of(stack.one("aws:ec2/vpc:Vpc"))
        assert sg.inputs["description"] and "Managed by Pulumi" not in sg.inputs["description"]


def test_parameter_group_enforces_tls_and_logs_slow_queries(stack):
    db = stack.one(INSTANCE).inputs
    group = only(children(stack, "database", PARAMETER_GROUP))
    assert db["parameterGroupName"] == group.name
    assert group.inputs["family"] == f"postgres{db['engineVersion'].split('.')[0]}"
    parameters = {p["name"]: p["value"] for p in group.inputs["parameters"]}
    # PostgreSQL 15+ requires TLS by default; restating rds.force_ssl=1 is a change on every preview (#22857).
    assert "rds.force_ssl" not in parameters and int(db["engineVersion"].split(".")[0]) >= 15
    assert int(parameters["log_min_duration_statement"]) >= 0


@pytest.mark.parametrize(("version", "force_ssl"), [("14", True), ("14.12", True), ("15", False), ("17.6", False)])
def test_force_ssl_is_stated_only_where_it_is_not_the_default(version, force_ssl):
    names = [p["name"] for p in parameters(version, 500)]
    assert ("rds.force_ssl" in names) is force_ssl and "log_min_duration_statement" in names


def test_enhanced_monitoring_role_is_attached_before_the_instance_exists(stack):
    db = stack.one(INSTANCE)
    role = only([r for r in children(stack, "database", "aws:iam/role:Role") if r.name == "database-monitoring"])
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    # Confused deputy (RDS guide): RDS may assume it only for this account's instance.
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},  # the caller's account (the mocks' answer)
        "ArnLike": {"aws:SourceArn": f"arn:aws:rds:{region(stack)}:{ACCOUNT_ID}:db:{db.inputs['identifier']}"}}
    attachment = only(children(stack, "database", "aws:iam/rolePolicyAttachment:RolePolicyAttachment"))
    assert attachment.inputs["policyArn"].endswith("service-role/AmazonRDSEnhancedMonitoringRole")
    assert db.inputs["monitoringRoleArn"] == stack.state_of(role)["arn"]
    assert db.inputs["monitoringInterval"] in (1, 5, 10, 15, 30, 60)
    assert attachment.urn in db.dependencies


def test_exported_logs_land_in_encrypted_log_groups_with_the_environments_retention(stack):
    db = stack.one(INSTANCE)
    retention = load_profile(stack.environment).settings["monitoring"]["logRetentionDays"]
    groups = {g.inputs["name"]: g for g in children(stack, "database", LOG_GROUP)}
    assert set(groups) == {f"/aws/rds/instance/{db.inputs['identifier']}/{log}"
                           for log in ("postgresql", "upgrade", "iam-db-auth-error")}
    for group in groups.values():
        assert group.inputs["retentionInDays"] == retention and group.inputs["kmsKeyId"]
        assert group.urn in db.dependencies  # created before RDS would create them without retention


# RDS's event categories for source type db-instance (Amazon RDS User Guide, "DB instance events").
DB_INSTANCE_EVENT_CATEGORIES = {
    "availability", "backup", "configuration change", "creation", "deletion", "failover", "failure", "low storage",
    "maintenance", "notification", "read replica", "recovery", "restoration", "security", "security patching"}
EVENT_SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"


def test_instance_events_go_to_the_alert_topic(stack):
    db, subscription = stack.one(INSTANCE), only(children(stack, "database", EVENT_SUBSCRIPTION)).inputs
    assert (subscription["sourceType"], subscription["sourceIds"]) == ("db-instance", [db.inputs["identifier"]])
    assert subscription["snsTopic"] == stack.outputs["alertTopicArn"]
    categories = set(subscription["eventCategories"])
    assert categories <= DB_INSTANCE_EVENT_CATEGORIES
    assert {"availability", "failover", "failure", "low storage", "maintenance", "deletion"} <= categories
    assert subscription.get("enabled", True) is True
    assert subscription["name"] == f"{db.inputs['identifier']}-events"


STANDALONE_DATABASE = """
from components.database import Database
from envstack.program import arguments
from envstack.program.config.pulumi_source import stack_config

Database("database", arguments.database(stack_config(), "vpc-1", "db", alert_topic_arn=None))
"""


def test_no_alert_topic_means_no_event_subscription(tmp_path):
    (tmp_path / "__main__.py").write_text(STANDALONE_DATABASE)
    s = synthesize("dev", stack_config("dev"), root=tmp_path)
    assert len(s.of_type(INSTANCE)) == 1 and not s.of_type(EVENT_SUBSCRIPTION)


def test_prod_keys_are_protected_with_the_data():
    for s, protected in ((synth("prod"), True), (synth("dev"), False)):
        for component in ("database", "cache"):
            assert {k.protect for k in children(s, component, KEY)} == {protected}


# ---- outputs -------------------------------------------------------------------------------------------------------

def test_database_outputs(stack):
    outputs, db = stack.outputs, stack.one(INSTANCE)
    assert outputs["databaseEndpoint"] == stack.state_of(db)["address"]  # AWS assigns it (labelled invented)
    assert "databaseEndpoint" in stack.mock_outputs()
    assert outputs["databasePort"] == 5432
    assert outputs["databaseName"] == db.inputs["dbName"]
    assert outputs["databaseMasterSecretArn"] == stack.state_of(db)["masterUserSecrets"][0]["secretArn"]
    assert outputs["databaseUser"] == profile(stack.environment, "database").get("applicationUser", "app")
    assert db.inputs["iamDatabaseAuthenticationEnabled"] is True  # the application user logs in with IAM tokens
    assert outputs["databaseSecurityGroupId"] == stack.id_of(only(children(stack, "database", SECURITY_GROUP)))
    assert not {"databaseEndpoint", "databaseMasterSecretArn"} & set(stack.secret_outputs)


# ---- connections ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("component", "port"), [("database", 5432), ("cache", 6379)])
def test_allow_adds_one_ingress_rule_from_the_connected_group_on_the_stores_port(tmp_path_factory, component, port):
    s = connected(tmp_path_factory)
    rule = only([r for r in children(s, component, INGRESS) if "workload" in r.name]).inputs
    assert rule["securityGroupId"] == s.id_of(only(children(s, component, SECURITY_GROUP)))
    assert rule["referencedSecurityGroupId"] == f"sg-{id_of(s, 'workload')}"  # what the workload's group is
    assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", port, port)
    assert "cidrIpv4" not in rule and rule["description"]


@pytest.mark.parametrize("data_store", [INSTANCE, "aws:elasticache/replicationGroup:ReplicationGroup"])
def test_data_stores_never_wait_for_kubernetes(tmp_path_factory, data_store):
    s = connected(tmp_path_factory)
    store = s.one(data_store)
    assert not kubernetes_in(s, transitive_dependencies(s.resources, store.urn))
    # The helper does see a dependency on the cluster where there is one: the rule itself waits for it.
    rule = next(r for r in s.of_type(INGRESS) if "workload" in r.name)
    assert kubernetes_in(s, transitive_dependencies(s.resources, rule.urn))


@pytest.mark.parametrize(("component", "type_", "port"), [
    ("database", INSTANCE, 5432), ("cache", "aws:elasticache/replicationGroup:ReplicationGroup", 6379)])
def test_the_cluster_nodes_reach_the_data_stores_which_never_wait_for_the_cluster(stack, component, type_, port):
    rule = only(children(stack, component, INGRESS))
    assert rule.name == f"{component}-from-cluster-nodes-{port}"
    assert (rule.inputs["fromPort"], rule.inputs["toPort"]) == (port, port)
    assert rule.inputs["securityGroupId"] == stack.id_of(only(children(stack, component, SECURITY_GROUP)))
    assert kubernetes_in(stack, transitive_dependencies(stack.resources, rule.urn))  # the cluster's group
    assert not kubernetes_in(stack, transitive_dependencies(stack.resources, stack.one(type_).urn))


def test_transitive_dependencies_follow_chains_and_components():
    def record(urn: str, deps: list[str], parent: str | None = None, custom: bool = True) -> ResourceRecord:
        return ResourceRecord(urn, "t", urn, parent, deps, False, None, custom, {})
    records = [record("a", ["b"]), record("b", ["comp"]), record("comp", [], custom=False),
               record("c", ["d"], parent="comp"), record("d", []), record("e", [])]
    assert transitive_dependencies(records, "a") == {"b", "comp", "c", "d"}


def test_production_changes_wait_for_the_maintenance_window_elsewhere_they_apply_at_once():
    """The profiles' choice, on what the program sends (an RDS change otherwise stays pending, and ElastiCache
    refuses a log-delivery change without apply-immediately)."""
    for environment, expected in (("dev", True), ("staging", True), ("prod", False)):
        s = synth(environment)
        assert s.one(INSTANCE).inputs["applyImmediately"] is expected
        assert s.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs["applyImmediately"] is expected
