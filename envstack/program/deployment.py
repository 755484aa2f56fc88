"""The deployment record: who deployed which commit to a stack, and where it was promoted from.

Stored by the monitoring component as the SSM parameter `/envstack/<stack>/deployment` (type String); its value is
this JSON object (schemaVersion 1), read by `envstack promote`:

    {
      "schemaVersion": 1,
      "stack": "prod",
      "environment": "prod",
      "commit": "<40-hex git sha>" | "local",
      "branch": "main" | "local",
      "deployedBy": "<GitHub actor>" | "local",
      "promotedFrom": "<source stack, e.g. staging>" | null,
      "runUrl": "https://github.com/<owner>/<repo>/actions/runs/<id>" | null
    }

The value is expected to change on every CI deploy: `runUrl` names each run and `deployedBy` whoever started it, so
every `pulumi up` from CI updates this one parameter in place (SSM keeps LastModifiedDate and a version history, so
there is no timestamp field). Nothing here goes into tags, so tags never change from one deploy to the next.
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

LOCAL = "local"
SCHEMA_VERSION = 1


def parameter_name(stack: str) -> str:
    return f"/envstack/{stack}/deployment"


@dataclass(frozen=True)
class DeploymentRecord:
    stack: str
    environment: str
    commit: str = LOCAL
    branch: str = LOCAL
    deployed_by: str = LOCAL
    promoted_from: str | None = None
    run_url: str | None = None

    def to_json(self) -> str:
        return json.dumps({
            "schemaVersion": SCHEMA_VERSION, "stack": self.stack, "environment": self.environment,
            "commit": self.commit, "branch": self.branch, "deployedBy": self.deployed_by,
            "promotedFrom": self.promoted_from, "runUrl": self.run_url,
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DeploymentRecord":
        data = json.loads(text)
        return cls(stack=data["stack"], environment=data["environment"], commit=data["commit"],
                   branch=data["branch"], deployed_by=data["deployedBy"], promoted_from=data.get("promotedFrom"),
                   run_url=data.get("runUrl"))


def from_environment(stack: str, environment: str, env: Mapping[str, str] | None = None) -> DeploymentRecord:
    """The record for this deploy, from GitHub Actions' variables when present, else "local".

    ENVSTACK_COMMIT, when set, is the commit deployed: a promotion or rollback runs in a workflow dispatched from
    main whose GITHUB_SHA is main's head, not the commit it checks out (GitHub does not let a job override GITHUB_*).
    """
    env = os.environ if env is None else env
    run = [env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return DeploymentRecord(
        stack=stack, environment=environment,
        commit=env.get("ENVSTACK_COMMIT") or env.get("GITHUB_SHA") or LOCAL,
        branch=env.get("GITHUB_REF_NAME") or LOCAL,
        deployed_by=env.get("GITHUB_ACTOR") or LOCAL,
        promoted_from=env.get("ENVSTACK_PROMOTED_FROM") or None,
        run_url=f"{run[0]}/{run[1]}/actions/runs/{run[2]}" if all(run) else None,
    )
