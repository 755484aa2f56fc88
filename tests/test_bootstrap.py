"""bootstrap/: the backend project (state bucket + KMS key), run under the same mocks as the main program."""

import fnmatch
import json
import re
import shutil

import pulumi
import pytest
import yaml
from aws_checks import documented_actions
from conftest import STACKS as STACK_NAMES
from conftest import synth

from envstack.program import paths
from envstack.program.config import profiles as environments
from envstack.tools.synth import ROOT, Synthesis, synthesize

BOOTSTRAP = ROOT / "bootstrap"
CONFIG = yaml.safe_load((BOOTSTRAP / "Pulumi.state.yaml").read_text())["config"]


@pytest.fixture(scope="module")
def backend() -> Synthesis:
    return synthesize("state", root=BOOTSTRAP)


def only(backend: Synthesis, kind: str) -> dict:
    return backend.one(f"aws:{kind}").inputs


def test_state_bucket_and_keys_are_protected(backend):
    bucket = backend.one("aws:s3/bucket:Bucket")
    keys = backend.of_type("aws:kms/key:Key")
    assert bucket.protect and keys and all(key.protect for key in keys)
    assert bucket.inputs["bucket"] == CONFIG["envstack-bootstrap:bucketName"]


def test_keys_rotate_and_the_state_key_has_the_configured_alias(backend):
    assert all(k.inputs["enableKeyRotation"] is True for k in backend.of_type("aws:kms/key:Key"))
    aliases = {a.inputs["name"] for a in backend.of_type("aws:kms/alias:Alias")}
    assert CONFIG["envstack-bootstrap:keyAlias"] in aliases


def test_bucket_is_versioned_kms_encrypted_and_private(backend):
    bucket_urn = backend.one("aws:s3/bucket:Bucket").urn
    settings = [r for r in backend.resources if r.parent == bucket_urn]
    assert {r.type.rsplit(":", 1)[-1] for r in settings} >= {
        "BucketVersioning", "BucketServerSideEncryptionConfiguration", "BucketPublicAccessBlock", "BucketPolicy",
        "BucketOwnershipControls"}
    assert only(backend, "s3/bucketVersioning:BucketVersioning")["versioningConfiguration"]["status"] == "Enabled"
    rule = only(backend, "s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[
        "rules"][0]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms", "kmsMasterKeyId": backend.outputs["kmsKeyArn"]}
    block = only(backend, "s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(block[k] is True for k in (
        "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))


def test_bucket_policy_refuses_requests_without_tls(backend):
    statements = json.loads(only(backend, "s3/bucketPolicy:BucketPolicy")["policy"])["Statement"]
    statement = next(s for s in statements if s["Sid"] == "DenyInsecureTransport")
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    bucket_arn = statement["Resource"][0]
    assert statement["Resource"] == [bucket_arn, f"{bucket_arn}/*"]


def test_outputs_are_the_login_and_secrets_provider_strings(backend):
    region, bucket, alias = (CONFIG[k] for k in (
        "aws:region", "envstack-bootstrap:bucketName", "envstack-bootstrap:keyAlias"))
    assert backend.outputs["backendUrl"] == f"s3://{bucket}?region={region}"
    assert backend.outputs["secretsProvider"] == f"awskms://{alias}?region={region}"
    assert backend.outputs["loginCommand"] == f"pulumi login 's3://{bucket}?region={region}'"
    assert f"--secrets-provider 'awskms://{alias}?region={region}'" in backend.outputs["stackInitCommand"]


def test_missing_bucket_name_is_refused(tmp_path):
    for name in ("Pulumi.yaml", "__main__.py"):
        (tmp_path / name).write_text((BOOTSTRAP / name).read_text())
    (tmp_path / "Pulumi.state.yaml").write_text("config:\n  aws:region: us-west-2\n")
    with pytest.raises(pulumi.ConfigMissingError, match="envstack-bootstrap:bucketName"):
        synthesize("state", root=tmp_path)


# --- one prefix, one secrets key and CI's roles per environment -----------------------------------------------------

STATE_ACCOUNT, PROD_ACCOUNT = "123456789012", "111111111111"
REPOSITORY = "acme/envstack"


def arn(account: str, environment: str, kind: str) -> str:
    return f"arn:aws:iam::{account}:role/envstack-bootstrap/envstack-{environment}-{kind}"


ROLES = {"dev": {k: arn(STATE_ACCOUNT, "dev", k) for k in ("deployer", "preview", "reader")},
         "prod": {k: arn(PROD_ACCOUNT, "prod", k) for k in ("deployer", "preview", "reader")},
         "review": {"deployer": arn(STATE_ACCOUNT, "review", "deployer")}}
ADMIN = f"arn:aws:iam::{STATE_ACCOUNT}:role/platform-admin"
ENVIRONMENTS = {"dev": {}, "prod": {"account": PROD_ACCOUNT}, "review": {"previews": False}}
ACCOUNTS = {PROD_ACCOUNT: {"roleArn": f"arn:aws:iam::{PROD_ACCOUNT}:role/OrganizationAccountAccessRole"}}


def bootstrap_with(root, region: str | None = None, **settings) -> Synthesis:
    root.mkdir(exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_text((BOOTSTRAP / name).read_text())
    config = {k: v for k, v in CONFIG.items() if not k.startswith("envstack-bootstrap:") or k.endswith(
        ("bucketName", "keyAlias"))}
    config.update({f"envstack-bootstrap:{k}": v for k, v in settings.items()})
    config["aws:region"] = region or config["aws:region"]
    (root / "Pulumi.state.yaml").write_text(yaml.safe_dump({"config": config}))
    return synthesize("state", root=root)


@pytest.fixture(scope="module")
def per_environment(tmp_path_factory) -> Synthesis:
    return bootstrap_with(tmp_path_factory.mktemp("bootstrap"), repository=REPOSITORY, environments=ENVIRONMENTS,
                          accounts=ACCOUNTS, adminRoleArns=[ADMIN])


def matches(pattern: str | list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in ([pattern] if isinstance(pattern, str) else pattern))


def denied(policy: dict, principal: str, action: str, resource: str, prefix: str | None = None) -> bool:
    """Whether an explicit Deny of `policy` applies (the Deny statements use only the conditions below)."""
    for statement in policy["Statement"]:
        if statement["Effect"] != "Deny" or not matches(statement["Action"], action):
            continue
        if "Resource" in statement and not matches(statement["Resource"], resource):
            continue
        if "NotResource" in statement and matches(statement["NotResource"], resource):
            continue
        condition = statement.get("Condition", {})
        if "Bool" in condition:
            continue  # aws:SecureTransport: every request here comes over TLS
        if "ArnNotLike" in condition and matches(condition["ArnNotLike"]["aws:PrincipalArn"], principal):
            continue
        if "ArnLike" in condition and not matches(condition["ArnLike"]["aws:PrincipalArn"], principal):
            continue
        if "StringLike" in condition and not (prefix and matches(condition["StringLike"]["s3:prefix"], prefix)):
            continue
        return True
    return False


def allowed(policy: dict, principal: str, action: str) -> bool:
    """Whether an Allow of `policy` names `principal` (by its account's root and aws:PrincipalArn) for `action`; the
    account's own administration (its root, no condition: delegated to IAM policies) does not count."""
    account = principal.split(":")[4]
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or not matches(statement["Action"], action):
            continue
        named = statement["Principal"]["AWS"]
        roots = [named] if isinstance(named, str) else named
        condition = statement.get("Condition", {}).get("ArnLike", {}).get("aws:PrincipalArn")
        if f"arn:aws:iam::{account}:root" in roots and condition is not None and matches(condition, principal):
            return True
    return False


def bucket_policy(s: Synthesis) -> tuple[dict, str]:
    policy = json.loads(only(s, "s3/bucketPolicy:BucketPolicy")["policy"])
    return policy, policy["Statement"][0]["Resource"][0]


LOCK = "prod/.pulumi/locks/organization/envstack/prod/1.json"


@pytest.mark.parametrize(("principal", "action", "key", "is_denied"), [
    (ROLES["review"]["deployer"], "s3:PutObject", "review/.pulumi/stacks/envstack/pr-7.json", False),
    (ROLES["review"]["deployer"], "s3:PutObject", "dev/.pulumi/stacks/envstack/dev.json", True),
    (ROLES["review"]["deployer"], "s3:GetObject", "prod/.pulumi/stacks/envstack/prod.json", True),
    (ROLES["dev"]["deployer"], "s3:GetObject", "prod/.pulumi/stacks/envstack/prod.json", True),
    (ROLES["dev"]["deployer"], "s3:PutObject", "review/.pulumi/stacks/envstack/pr-7.json", True),
    (ROLES["prod"]["deployer"], "s3:PutObject", "prod/.pulumi/stacks/envstack/prod-eu.json", False),
    (ROLES["prod"]["preview"], "s3:GetObject", "prod/.pulumi/stacks/envstack/prod.json", False),
    (ROLES["prod"]["reader"], "s3:GetObject", "prod/.pulumi/stacks/envstack/prod.json", False),
    # a preview and drift's refresh preview take no lock (diy backend.go: dry runs never call b.Lock): read roles
    # may neither write nor delete one, so never a running deploy's
    (ROLES["prod"]["reader"], "s3:PutObject", LOCK, True),
    (ROLES["prod"]["reader"], "s3:DeleteObject", LOCK, True),
    (ROLES["prod"]["preview"], "s3:PutObject", LOCK, True),
    (ROLES["prod"]["preview"], "s3:DeleteObject", LOCK, True),
    (ROLES["prod"]["reader"], "s3:PutObject", "prod/.pulumi/stacks/envstack/prod.json", True),
    (ROLES["prod"]["reader"], "s3:DeleteObject", "prod/.pulumi/history/envstack/prod/x.json", True),
    (ADMIN, "s3:GetObject", "prod/.pulumi/stacks/envstack/prod.json", False),
])
def test_each_environment_reaches_only_its_own_prefix(per_environment, principal, action, key, is_denied):
    policy, bucket_arn = bucket_policy(per_environment)
    assert denied(policy, principal, action, f"{bucket_arn}/{key}") is is_denied


def test_listing_another_environments_stacks_is_denied(per_environment):
    policy, bucket_arn = bucket_policy(per_environment)
    review = ROLES["review"]["deployer"]
    assert denied(policy, review, "s3:ListBucket", bucket_arn, prefix="prod/.pulumi/stacks/")
    assert not denied(policy, review, "s3:ListBucket", bucket_arn, prefix="review/.pulumi/stacks/")
    assert allowed(policy, ROLES["prod"]["deployer"], "s3:PutObject")  # another account's role: both sides allow


def role_policies(s: Synthesis, role: str) -> list[dict]:
    return [json.loads(r.inputs["policy"]) for r in s.of_type("aws:iam/rolePolicy:RolePolicy")
            if r.name.startswith(f"{role}-")]


def test_missing_state_keys_answer_404_to_another_accounts_roles(per_environment):
    """Every preview and update reads `<stack>.pulumi-tags`, usually missing, and fails on anything but NotFound
    (pulumi/pulumi pkg/backend/diy/stack_tags.go loadStackTags); S3 answers a missing key with 404 only to a caller
    allowed s3:ListBucket, else 403 (GetObject/HeadObject "Permissions"), and that implied check carries no
    s3:prefix: another account's roles need a grant without it, on both sides."""
    policy, bucket_arn = bucket_policy(per_environment)
    for kind in ("deployer", "preview", "reader"):
        role = ROLES["prod"][kind]
        grants = [st for st in policy["Statement"] if st["Effect"] == "Allow" and st["Action"] == "s3:ListBucket"
                  and matches(st["Condition"]["ArnLike"]["aws:PrincipalArn"], role)]
        assert any(st["Condition"].get("Null") == {"s3:prefix": "true"} for st in grants), kind
        assert not denied(policy, role, "s3:ListBucket", bucket_arn)  # no prefix: no listing deny applies
        own = [st for doc in role_policies(per_environment, f"prod-{kind}") for st in doc["Statement"]
               if st["Action"] == "s3:ListBucket"]
        assert any(st.get("Condition") == {"Null": {"s3:prefix": "true"}} for st in own), kind


def test_another_accounts_roles_name_the_secrets_key_by_its_alias_arn(per_environment):
    """KMS resolves an alias name in the caller's account; a key of another account is named by key or alias ARN
    (KMS API reference, KeyId), as `awskms:///<ARN>` (gocloud.dev secrets/awskms URLOpener)."""
    providers = per_environment.outputs["secretsProviders"]
    assert providers["prod"] == (f"awskms:///arn:aws:kms:us-west-2:{STATE_ACCOUNT}:alias/envstack-prod"
                                 "?region=us-west-2")
    assert providers["dev"] == "awskms://alias/envstack-dev?region=us-west-2"  # the state account: its alias
    assert per_environment.outputs["stackSettings"]["prod"]["secretsprovider"] == providers["prod"]


def test_each_environment_has_its_own_secrets_key_only_its_roles_use(per_environment):
    keys = {r.name: r for r in per_environment.of_type("aws:kms/key:Key")}
    assert set(keys) == {"backend-key", "secrets-dev", "secrets-prod", "secrets-review"}
    assert all(k.protect and k.inputs["enableKeyRotation"] for k in keys.values())
    aliases = {r.inputs["name"] for r in per_environment.of_type("aws:kms/alias:Alias")}
    assert {"alias/envstack-dev", "alias/envstack-prod", "alias/envstack-review"} <= aliases
    prod = json.loads(keys["secrets-prod"].inputs["policy"])
    for principal, is_denied in [(ROLES["prod"]["preview"], False), (ROLES["prod"]["deployer"], False),
                                 (ROLES["dev"]["preview"], True), (ROLES["review"]["deployer"], True),
                                 (ADMIN, False)]:
        assert denied(prod, principal, "kms:Decrypt", "*") is is_denied, principal
    assert allowed(prod, ROLES["prod"]["preview"], "kms:Decrypt")
    assert not allowed(prod, ROLES["prod"]["preview"], "kms:Encrypt")  # read roles decrypt only
    assert not denied(prod, ROLES["dev"]["preview"], "kms:PutKeyPolicy", "*")  # administration stays
    assert per_environment.outputs["secretsProviders"]["review"] == "awskms://alias/envstack-review?region=us-west-2"
    assert per_environment.outputs["backendUrls"]["review"] == (
        f"s3://{CONFIG['envstack-bootstrap:bucketName']}/review?region=us-west-2")


def test_the_state_key_lets_preview_roles_decrypt_state_through_s3_only(per_environment):
    """Reading an SSE-KMS object needs kms:Decrypt on its key (S3 guide, UsingKMSEncryption): without it every
    preview, drift check and prod approval preview failed with AccessDenied."""
    policy = json.loads(next(k for k in per_environment.of_type("aws:kms/key:Key")
                             if k.name == "backend-key").inputs["policy"])
    for environment in ("dev", "prod"):
        assert allowed(policy, ROLES[environment]["preview"], "kms:Decrypt")
        assert not allowed(policy, ROLES[environment]["preview"], "kms:GenerateDataKey")
        assert allowed(policy, ROLES[environment]["reader"], "kms:Decrypt")
        assert not allowed(policy, ROLES[environment]["reader"], "kms:GenerateDataKey")  # writes nothing
        assert allowed(policy, ROLES[environment]["deployer"], "kms:Encrypt")
    via = {s["Sid"]: s["Condition"]["StringEquals"]["kms:ViaService"] for s in policy["Statement"]
           if "Condition" in s}
    assert set(via.values()) == {"s3.us-west-2.amazonaws.com"} and len(via) == 2
    assert f"arn:aws:iam::{PROD_ACCOUNT}:root" in {p for s in policy["Statement"] for p in (
        s["Principal"]["AWS"] if isinstance(s["Principal"]["AWS"], list) else [s["Principal"]["AWS"]])}


def roles(s: Synthesis) -> dict[str, dict]:
    return {r.name: r for r in s.of_type("aws:iam/role:Role")}


def trust(role) -> dict:
    statement, = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    return statement


@pytest.mark.parametrize(("name", "account", "subject"), [
    ("dev-deployer", STATE_ACCOUNT, f"repo:{REPOSITORY}:environment:dev"),
    ("dev-preview", STATE_ACCOUNT, f"repo:{REPOSITORY}:pull_request"),
    ("dev-reader", STATE_ACCOUNT, f"repo:{REPOSITORY}:ref:refs/heads/main"),
    ("prod-deployer", PROD_ACCOUNT, f"repo:{REPOSITORY}:environment:prod"),
    ("prod-preview", PROD_ACCOUNT, f"repo:{REPOSITORY}:pull_request"),
    ("prod-reader", PROD_ACCOUNT, f"repo:{REPOSITORY}:ref:refs/heads/main"),
    ("review-deployer", STATE_ACCOUNT, f"repo:{REPOSITORY}:environment:review"),
])
def test_each_role_trusts_github_for_one_subject_of_this_repository_only(per_environment, name, account, subject):
    """GitHub docs, "OpenID Connect reference": a job in environment E is `repo:O/R:environment:E` whatever its
    event, a pull request job `repo:O/R:pull_request`, main's pushes and schedules `repo:O/R:ref:refs/heads/main`."""
    role = roles(per_environment)[name]
    statement = trust(role)
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity" and statement["Effect"] == "Allow"
    assert statement["Principal"] == {
        "Federated": f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"}
    assert statement["Condition"] == {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                                                       "token.actions.githubusercontent.com:sub": subject}}
    assert role.inputs["path"] == "/envstack-bootstrap/"
    assert (role.provider or "").endswith(f"account-{account}") == (account == PROD_ACCOUNT)


def workflow_sessions(variable_prefix: str) -> list[int]:
    """role-duration-seconds of every setup step whose role is a variable of this prefix (the workflows' sessions)."""
    found = []
    for path in (ROOT / ".github" / "workflows").glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                role = str(step.get("with", {}).get("aws-role-arn", ""))
                if step.get("uses") == "./.github/actions/setup" and variable_prefix in role + str(job.get("env")):
                    found.append(int(step["with"].get("role-duration-seconds", 3600)))
    return found


@pytest.mark.parametrize(("kind", "prefix"), [("deployer", "AWS_ROLE_ARN_"), ("preview", "AWS_PREVIEW_ROLE_ARN_"),
                                              ("reader", "AWS_READER_ROLE_ARN_")])
def test_sessions_cover_what_the_workflows_ask_for(per_environment, kind, prefix):
    """STS refuses a session longer than the role's MaxSessionDuration: every workflow's request must fit."""
    asked = workflow_sessions(prefix)
    assert asked
    for role in roles(per_environment).values():
        if role.name.endswith(kind):
            assert max(asked) <= role.inputs["maxSessionDuration"] <= 43200, role.name
    if kind == "deployer":
        assert max(asked) == 7200


BOUNDARY = "arn:aws:iam::{}:policy/envstack-bootstrap/envstack-deploy-boundary"


def test_deploy_roles_are_bounded_and_every_role_they_make_must_carry_the_boundary(per_environment):
    policies = {r.inputs["path"] + r.inputs["name"] + "@" + (r.provider or "state"): r
                for r in per_environment.of_type("aws:iam/policy:Policy")}
    assert len(policies) == 2  # one boundary per account
    for name, role in roles(per_environment).items():
        account = ROLES[name.split("-")[0]][name.split("-")[1]].split(":")[4]
        assert role.inputs.get("permissionsBoundary") == (BOUNDARY.format(account) if name.endswith("deployer")
                                                          else None), name
    boundary = json.loads(next(p for k, p in policies.items() if k.endswith("state")).inputs["policy"])
    state = BOUNDARY.format(STATE_ACCOUNT)
    refuse = next(s for s in boundary["Statement"] if s["Sid"] == "NoRoleWithoutThisBoundary")
    assert {"iam:CreateRole", "iam:PutRolePermissionsBoundary"} <= set(refuse["Action"])
    assert refuse["Effect"] == "Deny" and refuse["Condition"] == {"ArnNotEquals": {"iam:PermissionsBoundary": state}}
    untouched = next(s for s in boundary["Statement"] if s["Sid"] == "BootstrapUntouched")
    assert f"arn:aws:iam::{STATE_ACCOUNT}:role/envstack-bootstrap/*" in untouched["Resource"]
    assert "iam:PassRole" in untouched["Action"] and any(a.startswith("iam:Delete") for a in untouched["Action"])
    bucket = next(s for s in boundary["Statement"] if s["Sid"] == "StateBucketUntouched")
    assert bucket["Resource"] == f"arn:aws:s3:::{CONFIG['envstack-bootstrap:bucketName']}"
    keys = next(s for s in boundary["Statement"] if s["Sid"] == "BootstrapKeysUsedOnly")
    assert len(keys["Resource"]) == 4 and "kms:Decrypt" in keys["NotAction"]  # administration of every key denied
    # ...and the deploy role's own IAM: roles only with the boundary, passed only to the program's services
    iam = json.loads(next(r for r in per_environment.of_type("aws:iam/rolePolicy:RolePolicy")
                          if r.name == "dev-deployer-iam").inputs["policy"])
    create = next(s for s in iam["Statement"] if s["Sid"] == "RolesWithTheBoundary")
    assert "iam:CreateRole" in create["Action"]
    assert create["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": state}}
    passed = next(s for s in iam["Statement"] if s["Sid"] == "PassRolesToTheProgramsServices")
    assert "eks.amazonaws.com" in passed["Condition"]["StringEquals"]["iam:PassedToService"]


def test_each_account_gets_githubs_oidc_provider_unless_it_has_one(tmp_path, per_environment):
    providers = per_environment.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert sorted(p.name for p in providers) == [f"github-{PROD_ACCOUNT}", f"github-{STATE_ACCOUNT}"]
    for provider in providers:
        assert provider.protect
        assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
        assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    existing = f"arn:aws:iam::{STATE_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    reused = bootstrap_with(tmp_path, repository=REPOSITORY, environments={"dev": {}},
                            oidcProviderArns={STATE_ACCOUNT: existing})
    assert not reused.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert trust(roles(reused)["dev-deployer"])["Principal"]["Federated"] == existing


def test_outputs_map_to_the_github_variables_and_stack_settings(per_environment):
    variables = per_environment.outputs["githubVariables"]
    assert variables["AWS_ROLE_ARN_PROD"] == ROLES["prod"]["deployer"]
    assert variables["AWS_PREVIEW_ROLE_ARN_DEV"] == ROLES["dev"]["preview"]
    assert variables["AWS_READER_ROLE_ARN_PROD"] == ROLES["prod"]["reader"]
    assert variables["AWS_ROLE_ARN_REVIEW"] == ROLES["review"]["deployer"]
    assert "AWS_PREVIEW_ROLE_ARN_REVIEW" not in variables
    assert variables["PULUMI_SECRETS_PROVIDER_REVIEW"] == "awskms://alias/envstack-review?region=us-west-2"
    workflows = "\n".join(p.read_text() for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    for name in variables:  # every variable is one the workflows read (by environment suffix)
        assert name.rsplit("_", 1)[0] + "_" in workflows or name in workflows, name
    settings = per_environment.outputs["stackSettings"]["prod"]
    assert settings["envstack:cluster.deployerRoleArn"] == ROLES["prod"]["deployer"]
    assert settings["envstack:cluster.viewerRoleArns"] == [ROLES["prod"]["preview"], ROLES["prod"]["reader"]]
    assert settings["envstack:permissionsBoundaryArn"] == BOUNDARY.format(PROD_ACCOUNT)


@pytest.mark.parametrize(("settings", "message"), [
    ({"repository": REPOSITORY, "environments": {"uat": {}}},
     "environments.uat: expected one of dev, staging, prod, review (an environment is a profile file: "
     "envstack/program/profiles/uat.yaml does not exist)"),
    ({"repository": REPOSITORY, "environments": {"prod": {"account": PROD_ACCOUNT}}},
     "environments.prod.account = '111111111111': not in envstack-bootstrap:accounts"),
    ({"repository": REPOSITORY, "environments": {"prod": {"account": 111111111111}}},
     "environments.prod.account = 111111111111: expected a 12-digit AWS account id as a quoted string"),
    ({"repository": "envstack", "environments": {"dev": {}}}, "repository = 'envstack': expected the GitHub"),
    ({"repository": REPOSITORY, "environments": {"prod": {"account": PROD_ACCOUNT}},
      "accounts": {PROD_ACCOUNT: {"role": "OrganizationAccountAccessRole"}}},
     f'accounts."{PROD_ACCOUNT}".roleArn = None: expected the ARN of a role in account {PROD_ACCOUNT}'),
    ({"repository": REPOSITORY, "environments": {"prod": {"account": PROD_ACCOUNT}},
      "accounts": {PROD_ACCOUNT: {"roleArn": "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"}}},
     f"accounts.\"{PROD_ACCOUNT}\".roleArn = 'arn:aws:iam::222222222222:role/OrganizationAccountAccessRole': "
     f"expected the ARN of a role in account {PROD_ACCOUNT}"),
    ({"repository": REPOSITORY, "environments": {"dev": {"previews": "false"}}},
     "environments.dev.previews = 'false': expected true or false (unquoted)"),
    ({"repository": REPOSITORY, "environments": {"dev": {"previewRoleArns": []}}},
     "environments.dev.previewRoleArns: unknown key"),
])
def test_bad_bootstrap_settings_are_refused_naming_the_key(tmp_path, settings, message):
    with pytest.raises(Exception, match=re.escape(message)):
        bootstrap_with(tmp_path, **settings)


# --- environments are the profiles' (plus review); partitions ---------------------------------------------------

def test_a_new_profile_gets_its_prefix_key_and_roles_without_code(tmp_path, monkeypatch):
    """Adding envstack/program/profiles/qa.yaml makes qa an environment of the bootstrap too: listed, it gets its
    prefix, key and roles; left out, bootstrap says so."""
    profiles = tmp_path / "profiles"
    shutil.copytree(paths.PROFILES, profiles)
    (profiles / "qa.yaml").write_text((profiles / "dev.yaml").read_text())
    monkeypatch.setattr(paths, "PROFILES", profiles)
    environments.clear()
    try:
        qa = bootstrap_with(tmp_path / "qa", repository=REPOSITORY, environments={"dev": {}, "qa": {}})
    finally:
        environments.clear()
    assert {"qa-deployer", "qa-preview", "qa-reader"} <= set(roles(qa))
    assert qa.outputs["backendUrls"]["qa"].startswith(f"s3://{CONFIG['envstack-bootstrap:bucketName']}/qa?")
    assert "alias/envstack-qa" in {a.inputs["name"] for a in qa.of_type("aws:kms/alias:Alias")}
    assert qa.outputs["githubVariables"]["AWS_ROLE_ARN_QA"].endswith("/envstack-qa-deployer")
    unlisted = "\n".join(qa.warnings())
    for name in ("staging", "prod", "review"):
        assert f"program: envstack-bootstrap:environments has no {name}:" in unlisted
    assert "has no qa" not in unlisted and "has no dev" not in unlisted


@pytest.fixture(scope="module")
def china(tmp_path_factory) -> Synthesis:
    return bootstrap_with(tmp_path_factory.mktemp("china"), "cn-north-1", repository=REPOSITORY,
                          environments={"dev": {}})


def test_in_china_roles_are_passed_to_ec2_of_its_partition(china):
    """EC2's principal is ec2.amazonaws.com.cn in aws-cn (components/partition.py): the deploy role passes the node
    role to that one, or every node group's creation is refused."""
    iam = json.loads(next(r for r in china.of_type("aws:iam/rolePolicy:RolePolicy")
                          if r.name == "dev-deployer-iam").inputs["policy"])
    passed = next(s for s in iam["Statement"] if s["Sid"] == "PassRolesToTheProgramsServices")
    services = passed["Condition"]["StringEquals"]["iam:PassedToService"]
    assert "ec2.amazonaws.com.cn" in services and "ec2.amazonaws.com" not in services
    assert "eks.amazonaws.com" in services


def test_in_china_the_state_key_is_used_through_chinas_s3_and_tokens_carry_its_audience(china):
    policy = json.loads(next(k for k in china.of_type("aws:kms/key:Key") if k.name == "backend-key").inputs["policy"])
    via = {s["Condition"]["StringEquals"]["kms:ViaService"] for s in policy["Statement"] if "Condition" in s}
    assert via == {"s3.cn-north-1.amazonaws.com.cn"}
    provider = china.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com.cn"]
    statement = trust(roles(china)["dev-deployer"])
    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com.cn"
    assert statement["Principal"]["Federated"].startswith("arn:aws-cn:iam::")
    setup = (ROOT / ".github" / "actions" / "setup" / "action.yml").read_text()
    assert "'sts.amazonaws.com.cn'" in setup and "startsWith(inputs.aws-region, 'cn-')" in setup


# --- the read roles read no data ------------------------------------------------------------------------------------

def no_data(s: Synthesis, role: str) -> dict:
    return json.loads(next(r for r in s.of_type("aws:iam/rolePolicy:RolePolicy")
                           if r.name == f"{role}-no-data").inputs["policy"])


def denies(policy: dict, action: str, resource: str) -> bool:
    """Whether a Deny of the role's own policy applies (its statements carry no condition)."""
    assert all("Condition" not in s for s in policy["Statement"])
    return denied(policy, "", action, resource)


STATE_BUCKET = f"arn:aws:s3:::{CONFIG['envstack-bootstrap:bucketName']}"
OTHER_DATA = [  # what anyone able to open a pull request could read with ReadOnlyAccess alone
    ("s3:GetObject", "arn:aws:s3:::envstack-prod-access-logs-1/AWSLogs/x.log.gz"),
    ("s3:GetObject", f"{STATE_BUCKET}/dev/.pulumi/stacks/envstack/dev.json"),  # another environment's state
    ("s3:GetObjectVersion", "arn:aws:s3:::another-teams-data/customers.csv"),
    ("logs:GetLogEvents", "arn:aws:logs:us-west-2:111111111111:log-group:/envstack-prod/network/flow-logs:*"),
    ("logs:StartQuery", "arn:aws:logs:us-west-2:111111111111:log-group:/aws/eks/envstack-prod/cluster:*"),
    ("logs:FilterLogEvents", "arn:aws:logs:us-west-2:111111111111:log-group:/aws/lambda/payments:*"),
    # the stacks' own logs too: PostgreSQL's holds query text (verify counts their events with a metric)
    ("logs:FilterLogEvents", "arn:aws:logs:us-west-2:111111111111:log-group:/aws/rds/instance/envstack-prod-postgres"
                             "/postgresql:*"),
    ("logs:FilterLogEvents", "arn:aws:logs:us-west-2:111111111111:log-group:/envstack-prod/network/flow-logs:*"),
    ("ssm:GetParameter", "arn:aws:ssm:us-west-2:111111111111:parameter/payments/db-password"),
    ("ssm:GetParametersByPath", "arn:aws:ssm:us-west-2:111111111111:parameter/payments"),
    ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-west-2:111111111111:secret:rds!db-1"),
    ("dynamodb:Scan", "arn:aws:dynamodb:us-west-2:111111111111:table/orders"),
    ("sqs:ReceiveMessage", "arn:aws:sqs:us-west-2:111111111111:orders"),
    ("kinesis:GetRecords", "arn:aws:kinesis:us-west-2:111111111111:stream/clicks"),
    ("athena:GetQueryResults", "arn:aws:athena:us-west-2:111111111111:workgroup/primary"),
    ("lambda:GetFunction", "arn:aws:lambda:us-west-2:111111111111:function:payments"),
    ("rds:DownloadDBLogFilePortion", "arn:aws:rds:us-west-2:111111111111:db:envstack-prod-postgres"),
    ("lambda:GetFunctionConfiguration", "arn:aws:lambda:us-west-2:111111111111:function:payments"),  # environment
    ("states:DescribeExecution", "arn:aws:states:us-west-2:111111111111:execution:orders:1"),  # input and output
    ("apigateway:GET", "arn:aws:apigateway:us-west-2::/apikeys"),  # ?includeValues=true
]


@pytest.mark.parametrize("kind", ["preview", "reader"])
@pytest.mark.parametrize(("action", "resource"), OTHER_DATA)
def test_read_roles_are_denied_the_accounts_data(per_environment, kind, action, resource):
    """ReadOnlyAccess (AWS managed, v178: s3:Get*, logs:Get*, FilterLogEvents, StartQuery, ssm:Get*, dynamodb:Scan,
    sqs:Receive*, ...) reads data, and the preview role is trusted for any pull request: an explicit Deny, which
    no resource policy can lift, takes the data back. prod's roles are in another account: same document."""
    assert denies(no_data(per_environment, f"prod-{kind}"), action, resource)


def test_deploy_roles_carry_no_data_denial(per_environment):
    """`pulumi up` writes and reads back what it made (PowerUserAccess); verify after a deploy runs with it too."""
    carried = {r.name.removesuffix("-no-data") for r in per_environment.of_type("aws:iam/rolePolicy:RolePolicy")
               if r.name.endswith("-no-data")}
    assert carried == {"dev-preview", "dev-reader", "prod-preview", "prod-reader"}


def log_group(name: str) -> str:
    return f"arn:aws:logs:us-west-2:123456789012:log-group:{name}:*"


def verified_log_groups(stack: Synthesis) -> list[str]:
    """The log groups whose arrivals `envstack verify` checks (envstack/ops/verify/observability.py): the flow log's
    group (the one its destination depends on), the web ACL's logging destinations, the database's postgresql
    export (`/aws/rds/instance/<identifier>/postgresql`)."""
    groups = {r.urn: r.inputs["name"] for r in stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    found = [groups[urn] for flow in stack.of_type("aws:ec2/flowLog:FlowLog")
             for urn in flow.propertyDependencies.get("logDestination", []) if urn in groups]
    found += [d.split(":log-group:")[-1] for c in stack.of_type(
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration") for d in c.inputs["logDestinationConfigs"]]
    found += [f"/aws/rds/instance/{db.inputs['identifier']}/postgresql" for db in stack.of_type(
        "aws:rds/instance:Instance")]
    return found


# What the Terraform AWS provider's Read functions call for the program's resource types in the services the denial
# touches (internal/service/s3/bucket.go resourceBucketRead: HeadBucket, GetBucketPolicy, ...Acl, ...Cors,
# ...Website, ...Versioning, ...Accelerate, ...RequestPayment, ...Logging, ...Lifecycle, ...Replication,
# ...Encryption, GetObjectLockConfiguration, GetBucketTagging; the bucket settings' resources each read their one
# setting; internal/service/ssm/parameter.go resourceParameterRead: GetParameter WithDecryption, DescribeParameters,
# ListTagsForResource; logs: DescribeLogGroups, ListTagsForResource, DescribeResourcePolicies), as IAM actions.
REFRESH_READS = {
    "aws:s3/bucket:Bucket": [
        "s3:ListBucket", "s3:GetBucketPolicy", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite",
        "s3:GetBucketVersioning", "s3:GetAccelerateConfiguration", "s3:GetBucketRequestPayment",
        "s3:GetBucketLogging", "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration",
        "s3:GetEncryptionConfiguration", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketTagging"],
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ["s3:GetLifecycleConfiguration"],
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ["s3:GetBucketOwnershipControls"],
    "aws:s3/bucketPolicy:BucketPolicy": ["s3:GetBucketPolicy"],
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ["s3:GetBucketPublicAccessBlock"],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": [
        "s3:GetEncryptionConfiguration"],
    "aws:s3/bucketVersioning:BucketVersioning": ["s3:GetBucketVersioning"],
    "aws:ssm/parameter:Parameter": ["ssm:GetParameter", "ssm:DescribeParameters", "ssm:ListTagsForResource"],
    "aws:cloudwatch/logGroup:LogGroup": ["logs:DescribeLogGroups", "logs:ListTagsForResource"],
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": ["logs:DescribeResourcePolicies"],
}
TOUCHED = ("aws:s3/", "aws:ssm/", "aws:cloudwatch/log")  # the denial's scoped services, as the program's types


def refresh_reads(stack: Synthesis) -> list[tuple[str, str]]:
    """(action, resource ARN) of every read a refresh makes of the stack's resources in those services."""
    reads = []
    for record in stack.resources:
        if not record.type.startswith(TOUCHED):
            continue
        assert record.type in REFRESH_READS, f"{record.type}: which actions does its Read call? (REFRESH_READS)"
        resource = {"aws:ssm/parameter:Parameter": lambda r: f"arn:aws:ssm:us-west-2:123456789012:parameter"
                                                              f"{r.inputs['name']}",
                    "aws:cloudwatch/logGroup:LogGroup": lambda r: log_group(r.inputs["name"])}.get(
            record.type, lambda r: "*")(record)
        reads += [(action, resource) for action in REFRESH_READS[record.type]]
    return reads


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_the_denial_leaves_what_refresh_verify_and_promote_read(per_environment, stack):
    """The reader role runs drift's `pulumi refresh --preview-only`, `envstack verify --no-probe` (every action of
    docs/verify.md's policy, which tests/test_verify.py holds to the checks' calls; its log checks describe three
    log groups and read their IncomingLogEvents metric) and `envstack promote`'s read of
    `/envstack/<stack>/deployment`; the preview role `pulumi preview`, which reads the state and decrypts it and the
    stack's secrets. None is denied; neither role reads an event of those log groups."""
    synthesis = synth(stack)
    reader, preview = no_data(per_environment, "prod-reader"), no_data(per_environment, "prod-preview")
    state = f"{STATE_BUCKET}/prod/.pulumi/stacks/envstack/{stack}.json"
    needed = [("s3:GetObject", state), ("s3:ListBucket", STATE_BUCKET), ("kms:Decrypt", "*"),
              *refresh_reads(synthesis)]
    assert {"ssm:GetParameter", "s3:ListBucket"} <= {a for a, _ in needed}
    for action, resource in needed:
        assert not denies(reader, action, resource) and not denies(preview, action, resource), (action, resource)
    groups = [log_group(g) for g in verified_log_groups(synthesis)]
    assert groups
    verify_needs = documented_actions(ROOT / "docs" / "verify.md", "**AWS** (all read-only)")
    assert {"logs:DescribeLogGroups", "cloudwatch:GetMetricStatistics"} <= verify_needs
    for action in verify_needs:
        assert not any(denies(reader, action, r) for r in [*groups, "*"]), action
    events = ["logs:FilterLogEvents", "logs:GetLogEvents", "logs:StartQuery", "logs:StartLiveTail"]
    assert all(denies(role, a, g) for role in (reader, preview) for a in events for g in groups)  # no event read


def test_each_roles_inline_policies_fit_iams_quota(per_environment):
    """IAM refuses a role whose inline policies total more than 10,240 characters, whitespace not counted (IAM guide,
    "IAM and AWS STS quotas", role policy size): the denial is the longest of a read role's."""
    sizes: dict[str, int] = {}
    for record in per_environment.of_type("aws:iam/rolePolicy:RolePolicy"):
        role = record.name.rsplit("-", 1)[0].removesuffix("-no")
        compact = json.dumps(json.loads(record.inputs["policy"]), separators=(",", ":"))
        sizes[role] = sizes.get(role, 0) + len(re.sub(r"\s", "", compact))
    assert set(sizes) >= {"dev-preview", "prod-reader", "dev-deployer"}
    assert max(sizes.values()) <= 10_240, sizes
