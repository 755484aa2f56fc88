"""A small Kubernetes API client: HTTPS with the standard library, authenticated as `aws eks get-token` does.

Why not the `kubernetes` package: verify makes six kinds of call (list nodes; create, read and delete a Job; list its
pods and events; read a log), and the package would bring its own dependencies (urllib3 pins, google-auth, oauthlib,
websocket-client) into the deploy jobs' `ops` group, and its kubeconfig loader would run the kubeconfig's exec
command, i.e. the AWS CLI. Nor does verify read the `kubeconfig` output: it is a secret (`pulumi stack output --json`
shows "[secret]" without --show-secrets), and EKS DescribeCluster gives the same endpoint and certificate authority
with a read-only call.

The token: `k8s-aws-v1.` + the unpadded URL-safe base64 of an STS GetCallerIdentity URL presigned for 60 seconds with
the header x-k8s-aws-id: <cluster name> signed in, exactly as the AWS CLI builds it
(aws/aws-cli awscli/customizations/eks/get_token.py, TokenGenerator and STSClientFactory); EKS accepts it for 15
minutes, and each request here signs a new one.
"""

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from .core import UnansweredError

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
URL_SECONDS = 60
TIMEOUT = 15
PRIVATE_ENDPOINT = ("a private endpoint answers only inside the VPC or a network peered with it (README, Reaching a "
                    "private API endpoint)")


class KubernetesError(UnansweredError):
    def __init__(self, message: str, status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.status, self.reason = status, reason


def eks_token(session: Any, cluster_name: str, region: str) -> str:
    sts = session.client("sts", region_name=region)

    def keep_cluster_id(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if CLUSTER_ID_HEADER in params:
            context[CLUSTER_ID_HEADER] = params.pop(CLUSTER_ID_HEADER)

    def sign_cluster_id(request: Any, **_: Any) -> None:
        if CLUSTER_ID_HEADER in request.context:
            request.headers[CLUSTER_ID_HEADER] = request.context[CLUSTER_ID_HEADER]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", keep_cluster_id)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", sign_cluster_id)
    url = sts.generate_presigned_url("get_caller_identity", Params={CLUSTER_ID_HEADER: cluster_name},
                                     ExpiresIn=URL_SECONDS, HttpMethod="GET")
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


class Kubernetes:
    """JSON over HTTPS to one API server, trusting only its certificate authority."""

    def __init__(self, server: str, ca_pem: str, token: Callable[[], str]):
        self.server = server.rstrip("/")
        self._context = ssl.create_default_context(cadata=ca_pem)
        self._token = token

    def request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                raw: bool = False) -> Any:
        url = f"{self.server}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self._token()}", "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=self._context) as answer:
                text = answer.read().decode()
        except urllib.error.HTTPError as error:
            raise _refusal(method, path, error) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise KubernetesError(f"the Kubernetes API at {self.server} did not answer: {reason} "
                                  f"({PRIVATE_ENDPOINT})") from None
        return text if raw else json.loads(text or "null")

    def get(self, path: str, **query: str) -> Any:
        return self.request("GET", path, query=query or None)

    def log(self, path: str, **query: str) -> str:
        return str(self.request("GET", path, query=query or None, raw=True))

    def create(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def delete(self, path: str, **query: str) -> Any:
        return self.request("DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1", **query})


def _refusal(method: str, path: str, error: urllib.error.HTTPError) -> KubernetesError:
    """A refusal with the API's own Status message; 401/403 say which access entry is missing."""
    try:
        status = json.loads(error.read() or b"{}")
    except ValueError:
        status = {}
    message = status.get("message") or error.reason
    hint = ""
    if error.code in (401, 403):
        hint = (" (the caller needs an EKS access entry: docs/verify.md, the permissions verify needs)"
                if error.code == 401 else " (docs/verify.md: the Kubernetes permissions verify needs)")
    return KubernetesError(f"{method} {path}: HTTP {error.code} {message}{hint}", error.code,
                           str(status.get("reason", "")))


def for_cluster(cluster: dict[str, Any], token: Callable[[], str]) -> Kubernetes:
    """The API server of an EKS DescribeCluster answer."""
    ca = base64.b64decode(cluster["certificateAuthority"]["data"]).decode()
    return Kubernetes(cluster["endpoint"], ca, token)
