"""envstack's delivery foundation, once per organisation: the Pulumi backend and the roles CI deploys with.

    KMS key (rotation on) <- alias                   state encryption (S3 SSE-KMS)
    S3 bucket: versioned, SSE-KMS with that key, public access blocked, owner-enforced, TLS-only policy
      -> `pulumi login s3://<bucket>/<env>`: one prefix per environment
    per environment <env> (a profile's, envstack/program/profiles/<env>.yaml, or review), in its account (the state
    account unless `account` says):
      KMS key alias/envstack-<env>                   the stacks' secrets (`--secrets-provider awskms://...`)
      role envstack-<env>-deployer                   GitHub OIDC, sub repo:<owner>/<repo>:environment:<env> only;
                                                     2 h sessions; bounded by the account's deploy boundary
      role envstack-<env>-preview                    sub repo:<owner>/<repo>:pull_request only; reads state
      role envstack-<env>-reader                     sub repo:<owner>/<repo>:ref:refs/heads/main only; reads state
                                                     (drift's refresh preview and the approval preview take no lock)
                                                     both: ReadOnlyAccess but no data (objects, log events,
                                                     parameter values, items, messages, secrets, code)
    per account: the GitHub OIDC provider (or the existing one's ARN) and the deploy boundary, a managed policy
      every deploy role carries and every role a deploy role creates must carry; it denies touching the bootstrap's
      bucket, keys, roles, boundary and OIDC provider

Everything is protected or named: losing the bucket or a key loses every stack's state or secrets. Roles live under
the path /envstack-bootstrap/, which the boundary keeps out of the deploy roles' reach. Resource policies name the
roles by `aws:PrincipalArn` under their account's root, so a policy never names a role that does not exist yet, and
a role of another account is allowed by both sides (its identity policy here, the bucket and key policies there).

GitHub's OIDC subjects (GitHub docs, "OpenID Connect reference", subject claims): a job in a GitHub environment
gets `repo:<owner>/<repo>:environment:<name>` whatever its event, a pull request job without one
`repo:<owner>/<repo>:pull_request`, a push or schedule on main `repo:<owner>/<repo>:ref:refs/heads/main`; AWS checks
them with the provider's condition keys `token.actions.githubusercontent.com:sub` and `:aud` (IAM guide, "Configuring
a role for GitHub OIDC identity provider"; the audience is `sts.amazonaws.com`, what aws-actions/configure-aws-
credentials asks for; sts.amazonaws.com.cn in China).
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.partition import Where
from envstack.program.config.profiles import environments as profile_environments
from envstack.program.config.profiles import profile_where

GITHUB = "token.actions.githubusercontent.com"
PATH = "/envstack-bootstrap/"  # the boundary denies deploy roles any change under it
DEPLOY_SESSION, READ_SESSION = 7200, 3600  # deploy jobs ask for 2 h (their timeout); previews 30 min, drift 30 min
REVIEW = "review"  # review stacks (pr-<N>): dev's profile, a deploy role and a prefix of their own
READ_ONLY = "arn:{partition}:iam::aws:policy/ReadOnlyAccess"
POWER_USER = "arn:{partition}:iam::aws:policy/PowerUserAccess"  # everything but IAM, Organizations and Account
# Services the deploy roles pass the program's roles to: the EKS cluster and node roles, flow logs, RDS enhanced
# monitoring, EKS Pod Identity; as principals of the partition (Where.service_principal: ec2.amazonaws.com.cn in
# China, the principal iam:PassedToService compares there).
PASSED_TO = ("eks", "ec2", "vpc-flow-logs", "monitoring.rds", "pods.eks")
CRYPTO = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"]
DECRYPT = ["kms:Decrypt", "kms:DescribeKey"]
OBJECTS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
tags = {"Project": "envstack", "ManagedBy": "pulumi", "Purpose": "pulumi-backend"}
keep = pulumi.ResourceOptions(protect=True)


class BootstrapConfigError(ValueError):
    """A bad `envstack-bootstrap:` value: the message names the key, the value and what was expected."""


@dataclass(frozen=True)
class Environment:
    name: str
    account: str | None  # None: the state account
    previews: bool  # preview and reader roles (review stacks have none)

    def role_name(self, kind: str) -> str:
        return f"envstack-{self.name}-{kind}"

    @property
    def kinds(self) -> tuple[str, ...]:
        return ("deployer", "preview", "reader") if self.previews else ("deployer",)


def known_environments() -> tuple[str, ...]:
    """The program's environments (a profile file each: adding one adds it here) and the review stacks'."""
    return (*profile_environments(), REVIEW)


def read_environments(raw: Mapping[str, Any]) -> list[Environment]:
    found, known = [], known_environments()
    for name, settings in raw.items():
        settings = settings or {}
        if name not in known:
            raise BootstrapConfigError(
                f"envstack-bootstrap:environments.{name}: expected one of {', '.join(known)} (an environment is a "
                f"profile file: {profile_where(name)} does not exist)")
        unknown = sorted(set(settings) - {"account", "previews"})
        if unknown:
            raise BootstrapConfigError(f"envstack-bootstrap:environments.{name}.{unknown[0]}: unknown key (expected "
                                       "account, previews)")
        account = settings.get("account")
        if account is not None and not (isinstance(account, str) and len(account) == 12 and account.isdigit()):
            raise BootstrapConfigError(f"envstack-bootstrap:environments.{name}.account = {account!r}: expected a "
                                       "12-digit AWS account id as a quoted string")
        previews = settings.get("previews", name != REVIEW)
        if not isinstance(previews, bool):
            raise BootstrapConfigError(f"envstack-bootstrap:environments.{name}.previews = {previews!r}: expected "
                                       "true or false (unquoted)")
        found.append(Environment(name, account, previews))
    return found


def unlisted(listed: Sequence[Environment]) -> list[str]:
    """The environments with a profile that `environments` leaves out: their stacks would have no state prefix,
    key or roles."""
    named = {e.name for e in listed}
    return [name for name in known_environments() if name not in named] if listed else []


config = pulumi.Config("envstack-bootstrap")
bucket_name = config.require("bucketName")
key_alias = config.get("keyAlias") or "alias/envstack-pulumi"
noncurrent_days = config.get_int("noncurrentVersionDays") or 90
region = pulumi.Config("aws").require("region")
environments = read_environments(config.get_object("environments") or {})
repository = config.get("repository") or ""
if environments and (repository.count("/") != 1 or " " in repository):
    raise BootstrapConfigError(f"envstack-bootstrap:repository = {repository!r}: expected the GitHub repository as "
                               "<owner>/<name>, exactly as GitHub spells it (the OIDC subjects compare it as written)")
admin_role_arns: list[str] = config.get_object("adminRoleArns") or []
# accounts other than the state account: {"<id>": {"roleArn": "<a role bootstrap may assume there>"}}
accounts: dict[str, dict[str, str]] = config.get_object("accounts") or {}
# existing GitHub OIDC providers by account id (IAM allows one provider per URL and account)
existing_providers: dict[str, str] = config.get_object("oidcProviderArns") or {}
for environment in environments:
    if environment.account and environment.account not in accounts:
        raise BootstrapConfigError(
            f"envstack-bootstrap:environments.{environment.name}.account = {environment.account!r}: not in "
            f"envstack-bootstrap:accounts (expected accounts.\"{environment.account}\".roleArn: a role there that "
            "bootstrap assumes to create the account's OIDC provider, boundary and roles)")
for account, settings in accounts.items():
    # The provider assumes it with allowed_account_ids=[account] (provider_for): a role of another account would
    # stop the preview with the provider's account mismatch; a missing one with a KeyError.
    assumed = settings.get("roleArn") if isinstance(settings, dict) else None
    if not (isinstance(assumed, str) and re.fullmatch(rf"arn:[a-z-]+:iam::{re.escape(account)}:role/\S+", assumed)):
        raise BootstrapConfigError(
            f"envstack-bootstrap:accounts.\"{account}\".roleArn = {assumed!r}: expected the ARN of a role in "
            f"account {account} that bootstrap may assume (arn:<partition>:iam::{account}:role/<name>)")

for name in unlisted(environments):
    pulumi.log.warn(f"envstack-bootstrap:environments has no {name}: its stacks get no state prefix, secrets key or "
                    f"roles; add `{name}: {{}}` (or `{{account: \"<id>\"}}`) to Pulumi.state.yaml")

identity = aws.get_caller_identity()
state_account = identity.account_id
aws_partition = aws.get_partition()
partition = aws_partition.partition
where = Where(partition, aws_partition.dns_suffix, state_account, region)
# The audience GitHub's token carries: sts.amazonaws.com, sts.amazonaws.com.cn in China, where STS refuses the other
# ("Incorrect token audience", aws-actions/configure-aws-credentials#457; its README, "OIDC audience"); the setup
# action asks for the same one by region (.github/actions/setup/action.yml).
AUDIENCE = f"sts.{where.dns_suffix}"


def account_of(environment: Environment) -> str:
    return environment.account or state_account


def role_arn(account: str, name: str) -> str:
    return f"arn:{partition}:iam::{account}:role{PATH}{name}"


def roles_of(environment: Environment, *kinds: str) -> list[str]:
    return [role_arn(account_of(environment), environment.role_name(k)) for k in kinds if k in environment.kinds]


def root(account: str) -> str:
    return f"arn:{partition}:iam::{account}:root"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# --- the backend: state bucket and key ------------------------------------------------------------------------------

bucket_arn = f"arn:{partition}:s3:::{bucket_name}"


def principals(roles: Sequence[str]) -> dict[str, list[str]]:
    """The accounts of `roles`, by their root: the policy names no role itself (aws:PrincipalArn does)."""
    return {"AWS": sorted({root(arn.split(":")[4]) for arn in roles})}


# S3 answers a GET or HEAD of a missing key with 404 only to a caller allowed s3:ListBucket on the bucket, else 403
# (S3 API reference, GetObject and HeadObject, "Permissions"), and that implied ListBucket request carries no
# s3:prefix. The diy backend reads keys that are usually missing and fails on anything but NotFound: every preview
# and update reads `<stack>.pulumi-tags` (pulumi/pulumi pkg/backend/diy/stack_tags.go loadStackTags, from
# state.go getTarget). A grant conditioned on s3:prefix alone would leave another account's roles with 403 there.
NO_PREFIX = {"Null": {"s3:prefix": "true"}}


def prefix_statements(environment: Environment) -> list[dict[str, Any]]:
    """Only the environment's roles (and the admins) reach `<env>/`; its deploy roles write there, its preview and
    reader roles nothing: a preview, and drift's `pulumi refresh --preview-only`, take no lock and write no state
    (pulumi/pulumi pkg/backend/diy/backend.go: Preview and PreviewOnly run apply as a dry run, without b.Lock).
    Stale locks are deleted with the deploy role (unlock-stack.yml)."""
    name, prefix = environment.name, f"{bucket_arn}/{environment.name}"
    deploy, readers = roles_of(environment, "deployer"), roles_of(environment, "preview", "reader")
    members = deploy + readers
    others = {"ArnNotLike": {"aws:PrincipalArn": members + admin_role_arns}}
    statements = [
        {"Sid": f"{name}Read", "Effect": "Allow", "Principal": principals(members), "Action": "s3:GetObject",
         "Resource": f"{prefix}/*", "Condition": {"ArnLike": {"aws:PrincipalArn": members}}},
        {"Sid": f"{name}List", "Effect": "Allow", "Principal": principals(members), "Action": "s3:ListBucket",
         "Resource": bucket_arn, "Condition": {"ArnLike": {"aws:PrincipalArn": members},
                                               "StringLike": {"s3:prefix": f"{name}/*"}}},
        {"Sid": f"{name}MissingKeys", "Effect": "Allow", "Principal": principals(members), "Action": "s3:ListBucket",
         "Resource": bucket_arn, "Condition": {"ArnLike": {"aws:PrincipalArn": members}, **NO_PREFIX}},
        {"Sid": f"{name}Write", "Effect": "Allow", "Principal": principals(deploy),
         "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": f"{prefix}/*",
         "Condition": {"ArnLike": {"aws:PrincipalArn": deploy}}}]
    if readers:
        statements.append({"Sid": f"{name}ReadRolesWriteNothing", "Effect": "Deny", "Principal": "*",
                           "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": f"{bucket_arn}/*",
                           "Condition": {"ArnLike": {"aws:PrincipalArn": readers}}})
    return [
        *statements,
        {"Sid": f"{name}OthersDenied", "Effect": "Deny", "Principal": "*", "Action": OBJECTS,
         "Resource": f"{prefix}/*", "Condition": others},
        {"Sid": f"{name}OthersDeniedListing", "Effect": "Deny", "Principal": "*", "Action": "s3:ListBucket",
         "Resource": bucket_arn, "Condition": {**others, "StringLike": {"s3:prefix": f"{name}/*"}}}]


def bucket_policy() -> str:
    """Refuse every request that does not come over TLS (state holds resource IDs and encrypted secrets); keep each
    environment to its prefix."""
    tls = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
           "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    return document(tls, *(s for environment in environments for s in prefix_statements(environment)))


def account_administers(account: str) -> dict[str, Any]:
    """The account administers the key through IAM (CreateKey refuses a policy that locks the caller out)."""
    return {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": root(account)}, "Action": "kms:*",
            "Resource": "*"}


def use_statement(sid: str, roles: Sequence[str], actions: Sequence[str], via: str | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"ArnLike": {"aws:PrincipalArn": list(roles)}}
    if via:
        condition["StringEquals"] = {"kms:ViaService": via}
    return {"Sid": sid, "Effect": "Allow", "Principal": principals(roles), "Action": list(actions), "Resource": "*",
            "Condition": condition}


def state_key_policy() -> str:
    """The state bucket's key, used through S3 only: deploy roles read and write state, preview and reader roles only
    decrypt (reading an SSE-KMS object needs kms:Decrypt, S3 guide "UsingKMSEncryption"; their ReadOnlyAccess has
    none)."""
    s3 = where.regional("s3")  # s3.<region>.amazonaws.com, .amazonaws.com.cn in China
    deploy = [arn for e in environments for arn in roles_of(e, "deployer")]
    readers = [arn for e in environments for arn in roles_of(e, "preview", "reader")]
    statements = [account_administers(state_account)]
    if deploy:
        statements.append(use_statement("DeployRolesUseThroughS3", deploy, CRYPTO, s3))
    if readers:
        statements.append(use_statement("ReadRolesDecryptThroughS3", readers, DECRYPT, s3))
    return document(*statements)


def secrets_key_policy(environment: Environment) -> str:
    """The account administers the key; only the environment's roles (and the admins) encrypt and decrypt: deploy
    roles both, preview and reader roles decrypt (a preview reads the stack's secrets)."""
    deploy, readers = roles_of(environment, "deployer"), roles_of(environment, "preview", "reader")
    members = deploy + readers
    statements = [account_administers(state_account), use_statement("DeployRolesUse", deploy, CRYPTO)]
    if readers:
        statements.append(use_statement("ReadRolesDecrypt", readers, DECRYPT))
    statements.append({"Sid": "OthersDenied", "Effect": "Deny", "Principal": "*", "Action": CRYPTO[:-1],
                       "Resource": "*", "Condition": {"ArnNotLike": {"aws:PrincipalArn": members + admin_role_arns}}})
    return document(*statements)


state_key = aws.kms.Key("backend-key", description="envstack: Pulumi state bucket encryption",
                        enable_key_rotation=True, deletion_window_in_days=30, policy=state_key_policy(), tags=tags,
                        opts=keep)
aws.kms.Alias("backend-key-alias", name=key_alias, target_key_id=state_key.key_id)

bucket = aws.s3.Bucket("state", bucket=bucket_name, tags=tags, opts=keep)
of_bucket = pulumi.ResourceOptions(parent=bucket)
aws.s3.BucketOwnershipControls("state-ownership", bucket=bucket.id,
                               rule={"object_ownership": "BucketOwnerEnforced"}, opts=of_bucket)
public_access = aws.s3.BucketPublicAccessBlock(
    "state-public-access", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
    ignore_public_acls=True, restrict_public_buckets=True, opts=of_bucket)
aws.s3.BucketVersioning("state-versioning", bucket=bucket.id,
                        versioning_configuration={"status": "Enabled"}, opts=of_bucket)
aws.s3.BucketServerSideEncryptionConfiguration(
    "state-encryption", bucket=bucket.id,
    rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                       "kms_master_key_id": state_key.arn},
            "bucket_key_enabled": True}],
    opts=of_bucket)
aws.s3.BucketLifecycleConfiguration(
    "state-history", bucket=bucket.id,
    rules=[{"id": "expire-old-state-versions", "status": "Enabled", "filter": {"prefix": ""},
            "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}],
    opts=of_bucket)
aws.s3.BucketPolicy("state-tls-only", bucket=bucket.id, policy=bucket_policy(),
                    opts=pulumi.ResourceOptions(parent=bucket, depends_on=[public_access]))

secrets_keys: dict[str, aws.kms.Key] = {}
for environment in environments:
    secrets_keys[environment.name] = aws.kms.Key(
        f"secrets-{environment.name}", description=f"envstack: secrets of the {environment.name} stacks",
        enable_key_rotation=True, deletion_window_in_days=30, policy=secrets_key_policy(environment), tags=tags,
        opts=keep)
    aws.kms.Alias(f"secrets-{environment.name}-alias", name=f"alias/envstack-{environment.name}",
                  target_key_id=secrets_keys[environment.name].key_id)


# --- per account: GitHub's OIDC provider and the deploy boundary --------------------------------------------------

def provider_for(account: str) -> pulumi.ProviderResource | None:
    """The state account's default provider, or a provider assuming `accounts.<id>.roleArn` there."""
    if account == state_account:
        return None
    return aws.Provider(f"account-{account}", region=region, allowed_account_ids=[account],
                        assume_roles=[{"role_arn": accounts[account]["roleArn"],
                                       "session_name": "envstack-bootstrap"}])


def boundary_arn(account: str) -> str:
    return f"arn:{partition}:iam::{account}:policy{PATH}envstack-deploy-boundary"


def boundary_policy(account: str, key_arns: Sequence[str]) -> str:
    """What any role in the account made by a deploy role may do at most: anything, except make or change a role
    without this boundary, lift or edit the boundary, touch the bootstrap's roles, policies and OIDC provider, or
    administer the state bucket and the bootstrap's keys (their use stays, within their policies). IAM guide,
    "Permissions boundaries for IAM entities": effective permissions are the identity policy's intersected with
    the boundary; iam:PermissionsBoundary is the condition key of CreateRole, PutRolePermissionsBoundary and the
    role policy actions (Service Authorization Reference, IAM), an ARN-typed key: Arn operators compare it (a missing
    key makes ArnNotEquals true, so a CreateRole without a boundary is refused)."""
    boundary = boundary_arn(account)
    bootstrap = [f"arn:{partition}:iam::{account}:role{PATH}*", f"arn:{partition}:iam::{account}:policy{PATH}*",
                 f"arn:{partition}:iam::{account}:oidc-provider/{GITHUB}"]
    return document(
        {"Sid": "WithinTheBoundary", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "NoRoleWithoutThisBoundary", "Effect": "Deny",
         "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy"],
         "Resource": f"arn:{partition}:iam::{account}:role/*",
         "Condition": {"ArnNotEquals": {"iam:PermissionsBoundary": boundary}}},
        {"Sid": "TheBoundaryStays", "Effect": "Deny", "Action": "iam:DeleteRolePermissionsBoundary",
         "Resource": f"arn:{partition}:iam::{account}:role/*"},
        {"Sid": "NoUsersOrKeys", "Effect": "Deny",
         "Action": ["iam:CreateUser", "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile"],
         "Resource": "*"},
        {"Sid": "BootstrapUntouched", "Effect": "Deny",
         "Action": ["iam:Create*", "iam:Delete*", "iam:Update*", "iam:Put*", "iam:Attach*", "iam:Detach*",
                    "iam:Tag*", "iam:Untag*", "iam:Add*", "iam:Remove*", "iam:Set*", "iam:PassRole"],
         "Resource": bootstrap},
        {"Sid": "StateBucketUntouched", "Effect": "Deny",
         "Action": ["s3:DeleteBucket*", "s3:PutBucket*", "s3:PutEncryptionConfiguration",
                    "s3:PutLifecycleConfiguration", "s3:PutReplicationConfiguration"],
         "Resource": bucket_arn},
        {"Sid": "StateHistoryKept", "Effect": "Deny", "Action": ["s3:DeleteObjectVersion", "s3:PutObjectAcl"],
         "Resource": f"{bucket_arn}/*"},
        {"Sid": "BootstrapKeysUsedOnly", "Effect": "Deny", "NotAction": CRYPTO, "Resource": list(key_arns)})


def github_trust(provider_arn: str, subject: str) -> str:
    """Only GitHub's tokens for `subject` (StringEquals: no wildcard), with the STS audience."""
    return document({"Sid": "GitHubActions", "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                     "Principal": {"Federated": provider_arn},
                     "Condition": {"StringEquals": {f"{GITHUB}:aud": AUDIENCE, f"{GITHUB}:sub": subject}}})


def subject(environment: Environment, kind: str) -> str:
    return {"deployer": f"repo:{repository}:environment:{environment.name}",
            "preview": f"repo:{repository}:pull_request",
            "reader": f"repo:{repository}:ref:refs/heads/main"}[kind]


def state_access(environment: Environment, kind: str, keys: Sequence[str]) -> str:
    """The role's own side of the state bucket and keys (another account's role needs it; the bucket and key
    policies hold the other side)."""
    prefix, state, secrets = f"{bucket_arn}/{environment.name}", keys[0], keys[1]
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadState", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{prefix}/*"},
        {"Sid": "ListState", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": f"{environment.name}/*"}}},
        {"Sid": "MissingKeysAre404", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
         "Condition": NO_PREFIX}]
    if kind == "deployer":
        statements += [
            {"Sid": "WriteState", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
             "Resource": f"{prefix}/*"},
            {"Sid": "UseTheKeys", "Effect": "Allow", "Action": CRYPTO, "Resource": [state, secrets]}]
    else:
        statements.append({"Sid": "DecryptStateAndSecrets", "Effect": "Allow", "Action": DECRYPT,
                           "Resource": [state, secrets]})
    return document(*statements)


# What AWS's ReadOnlyAccess (the read roles' managed policy) grants that reads an environment's data rather than
# describes its resources: its v178 (2026-02-12, zoph-io/MAMIP policies/ReadOnlyAccess) allows s3:Get*, logs:Get*,
# logs:FilterLogEvents, StartQuery, StartLiveTail, ssm:Get*, dynamodb:Get*, Query, Scan, PartiQLSelect, dax:GetItem,
# Query, Scan, sqs:Receive*, kinesis:Get*, athena:Get*, lambda:Get*, ecr:BatchGet*, Get*, codecommit:GitPull, Get*,
# rds:Download*, es:ESHttpGet, cassandra:Select, states:Describe*, GetExecutionHistory (executions' input and
# output), ec2:Get*, apigateway:GET (API keys' values: GET /apikeys?includeValues=true). secretsmanager:GetSecretValue
# and kinesis:SubscribeToShard are not in it, but a secret's or stream's resource policy may grant them to a role by
# name: denied too. None of these is a call of
# the program's refresh (the Terraform AWS provider's Read functions of the resource types it makes call Describe*,
# List* and Get<Bucket|Resource>* actions; aws_ssm_parameter's GetParameter is kept for /envstack/*), of
# `envstack verify --no-probe` (docs/verify.md's policy: tests/test_bootstrap.py) or of `envstack promote`.
OBJECT_READS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTorrent", "s3:GetObjectVersionTorrent"]
PARAMETER_VALUES = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"]
LOG_EVENTS = ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:GetLogRecord", "logs:StartQuery",
              "logs:GetQueryResults", "logs:StartLiveTail"]
DATA_READS = [
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PartiQLSelect",
    "dynamodb:GetRecords", "dax:GetItem", "dax:BatchGetItem", "dax:Query", "dax:Scan", "sqs:ReceiveMessage",
    "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:SubscribeToShard", "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue", "athena:GetQueryResults", "athena:GetQueryResultsStream",
    "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:GetLayerVersion", "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer", "codecommit:GitPull", "codecommit:GetBlob", "codecommit:GetFile",
    "rds:DownloadDBLogFilePortion", "rds:DownloadCompleteDBLogFile", "es:ESHttpGet", "cassandra:Select",
    "states:DescribeExecution", "states:GetExecutionHistory", "ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot",
    "ssm:GetCommandInvocation", "s3-object-lambda:GetObject", "s3-object-lambda:GetObjectVersion"]


def data_denial(environment: Environment) -> str:
    """The read roles (preview and reader alike) describe everything ReadOnlyAccess shows but read no data: object
    contents (but their state), parameter values (but the stacks' /envstack/* records and AWS's public /aws/service/*
    parameters), log events (verify's log checks count arrivals with the IncomingLogEvents metric instead), items,
    messages, records, secrets, query results and code. An explicit Deny, so no bucket, secret or queue policy that
    names the role can grant them either (IAM guide, "Policy evaluation logic")."""
    return document(
        {"Sid": "NoObjectsButState", "Effect": "Deny", "Action": OBJECT_READS,
         "NotResource": f"{bucket_arn}/{environment.name}/*"},
        {"Sid": "NoParameterValuesButTheStacks", "Effect": "Deny", "Action": PARAMETER_VALUES,
         "NotResource": [f"arn:{partition}:ssm:*:*:parameter/envstack/*",
                         f"arn:{partition}:ssm:*:*:parameter/aws/service/*"]},
        {"Sid": "NoLogEvents", "Effect": "Deny", "Action": LOG_EVENTS, "Resource": "*"},
        {"Sid": "NoDataReads", "Effect": "Deny", "Action": DATA_READS, "Resource": "*"},
        {"Sid": "NoApiKeyValues", "Effect": "Deny", "Action": "apigateway:GET",
         "Resource": [f"arn:{partition}:apigateway:*::/apikeys", f"arn:{partition}:apigateway:*::/apikeys/*"]})


def deployer_iam(account: str) -> str:
    """IAM for what `pulumi up` creates (PowerUserAccess has none of it): roles only with the boundary, passed only
    to the services the program uses, and the clusters' IRSA OIDC providers."""
    roles, boundary = f"arn:{partition}:iam::{account}:role/*", boundary_arn(account)
    return document(
        {"Sid": "RolesWithTheBoundary", "Effect": "Allow",
         "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy"],
         "Resource": roles, "Condition": {"ArnEquals": {"iam:PermissionsBoundary": boundary}}},
        {"Sid": "ManageRoles", "Effect": "Allow",
         "Action": ["iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateRole", "iam:UpdateRoleDescription",
                    "iam:UpdateAssumeRolePolicy", "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRoleTags"],
         "Resource": roles},
        {"Sid": "PassRolesToTheProgramsServices", "Effect": "Allow", "Action": "iam:PassRole", "Resource": roles,
         "Condition": {"StringEquals": {"iam:PassedToService": [where.service_principal(s) for s in PASSED_TO]}}},
        {"Sid": "ClusterOidcProviders", "Effect": "Allow",
         "Action": ["iam:CreateOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider",
                    "iam:GetOpenIDConnectProvider", "iam:TagOpenIDConnectProvider", "iam:UntagOpenIDConnectProvider",
                    "iam:UpdateOpenIDConnectProviderThumbprint", "iam:AddClientIDToOpenIDConnectProvider",
                    "iam:RemoveClientIDFromOpenIDConnectProvider"],
         "Resource": f"arn:{partition}:iam::{account}:oidc-provider/oidc.eks.*"},
        {"Sid": "ReadPolicies", "Effect": "Allow",
         "Action": ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"],
         "Resource": [f"arn:{partition}:iam::aws:policy/*", f"arn:{partition}:iam::{account}:policy/*"]},
        {"Sid": "ListOidcProviders", "Effect": "Allow", "Action": "iam:ListOpenIDConnectProviders",
         "Resource": "*"})


key_arns = pulumi.Output.all(state_key.arn, *(k.arn for k in secrets_keys.values()))
roles_out: dict[str, dict[str, str]] = {}
boundaries_out: dict[str, str] = {}
for account in sorted({account_of(e) for e in environments}):
    provider = provider_for(account)
    in_account = pulumi.ResourceOptions(provider=provider)
    provider_arn = existing_providers.get(account) or f"arn:{partition}:iam::{account}:oidc-provider/{GITHUB}"
    first: list[pulumi.Resource] = []
    if account not in existing_providers:
        # No thumbprint: IAM validates GitHub's tokens with its own trusted CAs (IAM guide, "Create an OpenID
        # Connect (OIDC) identity provider in IAM").
        first.append(aws.iam.OpenIdConnectProvider(
            f"github-{account}", url=f"https://{GITHUB}", client_id_lists=[AUDIENCE], tags=tags,
            opts=pulumi.ResourceOptions(provider=provider, protect=True)))
    boundary = aws.iam.Policy(
        f"deploy-boundary-{account}", name="envstack-deploy-boundary", path=PATH,
        description="envstack: the most a deploy role, and any role it makes, may do",
        policy=key_arns.apply(lambda arns, a=account: boundary_policy(a, arns)), tags=tags, opts=in_account)
    boundaries_out[account] = boundary_arn(account)
    for environment in (e for e in environments if account_of(e) == account):
        key_pair = pulumi.Output.all(state_key.arn, secrets_keys[environment.name].arn)
        for kind in environment.kinds:
            deploying = kind == "deployer"
            role = aws.iam.Role(
                f"{environment.name}-{kind}", name=environment.role_name(kind), path=PATH,
                description=f"envstack {environment.name}: GitHub Actions {subject(environment, kind)}",
                assume_role_policy=github_trust(provider_arn, subject(environment, kind)),
                max_session_duration=DEPLOY_SESSION if deploying else READ_SESSION,
                permissions_boundary=boundary_arn(account) if deploying else None, tags=tags,
                opts=pulumi.ResourceOptions(provider=provider, depends_on=[boundary, *first]))
            managed = (POWER_USER if deploying else READ_ONLY).format(partition=partition)
            aws.iam.RolePolicyAttachment(f"{environment.name}-{kind}-managed", role=role.name, policy_arn=managed,
                                         opts=pulumi.ResourceOptions(provider=provider, parent=role))
            aws.iam.RolePolicy(f"{environment.name}-{kind}-state", role=role.id,
                               policy=key_pair.apply(lambda keys, e=environment, k=kind: state_access(e, k, keys)),
                               opts=pulumi.ResourceOptions(provider=provider, parent=role))
            if deploying:
                aws.iam.RolePolicy(f"{environment.name}-{kind}-iam", role=role.id, policy=deployer_iam(account),
                                   opts=pulumi.ResourceOptions(provider=provider, parent=role))
            else:
                aws.iam.RolePolicy(f"{environment.name}-{kind}-no-data", role=role.id,
                                   policy=data_denial(environment),
                                   opts=pulumi.ResourceOptions(provider=provider, parent=role))
            roles_out.setdefault(environment.name, {})[kind] = role_arn(account, environment.role_name(kind))


# --- outputs: the backend strings and what GitHub and the stack files need ----------------------------------------
backend_url = f"s3://{bucket_name}?region={region}"
secrets_provider = f"awskms://{key_alias}?region={region}"
pulumi.export("backendUrl", backend_url)
pulumi.export("secretsProvider", secrets_provider)
pulumi.export("loginCommand", f"pulumi login '{backend_url}'")
pulumi.export("stackInitCommand", f"pulumi stack init <stack> --secrets-provider '{secrets_provider}'")
pulumi.export("kmsKeyArn", state_key.arn)
backend_urls = {e.name: f"s3://{bucket_name}/{e.name}?region={region}" for e in environments}


def secrets_provider_of(environment: Environment) -> str:
    """The environment's key by alias; from another account by the alias's ARN (KMS resolves an alias name in the
    caller's account: "to specify a KMS key in a different AWS account, you must use its key ARN or alias ARN", KMS
    API reference, Encrypt/Decrypt KeyId). gocloud's awskms URL takes an ARN as `awskms:///<ARN>` (gocloud.dev
    secrets/awskms URLOpener: ARNs hold ":", which a URL host cannot)."""
    alias = f"alias/envstack-{environment.name}"
    if account_of(environment) == state_account:
        return f"awskms://{alias}?region={region}"
    return f"awskms:///arn:{partition}:kms:{region}:{state_account}:{alias}?region={region}"


secrets_providers = {e.name: secrets_provider_of(e) for e in environments}
pulumi.export("backendUrls", backend_urls)
pulumi.export("secretsProviders", secrets_providers)
pulumi.export("roles", roles_out)
pulumi.export("permissionsBoundaryArns", boundaries_out)
variables: dict[str, str] = {}
for e in environments:
    suffix = e.name.upper()
    variables[f"PULUMI_BACKEND_URL_{suffix}"] = backend_urls[e.name]
    variables[f"AWS_ROLE_ARN_{suffix}"] = roles_out[e.name]["deployer"]
    if e.previews:
        variables[f"AWS_PREVIEW_ROLE_ARN_{suffix}"] = roles_out[e.name]["preview"]
        variables[f"AWS_READER_ROLE_ARN_{suffix}"] = roles_out[e.name]["reader"]
    if e.name == REVIEW:
        variables["PULUMI_SECRETS_PROVIDER_REVIEW"] = secrets_providers[e.name]
pulumi.export("githubVariables", variables)
# What each environment's stack files set (docs/delivery.md): the deploy role is the cluster's deployer, the read
# roles its viewers, and the account's boundary goes on every role the program makes.
pulumi.export("stackSettings", {e.name: {
    "envstack:cluster.deployerRoleArn": roles_of(e, "deployer")[0],
    "envstack:cluster.viewerRoleArns": roles_of(e, "preview", "reader"),
    "envstack:permissionsBoundaryArn": boundary_arn(account_of(e)),
    "secretsprovider": secrets_providers[e.name]} for e in environments})
