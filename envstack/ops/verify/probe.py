"""The workload probe: what `envstack verify` runs in each application namespace, as its `app` ServiceAccount.

This file is the whole program the probe Job runs (`python3 -c <this file>`): the Python standard library only, no
package installed at run time (the namespace's egress reaches the Pod Identity agent, DNS and the data stores' ports,
nothing else). It

1. gets the namespace role's credentials from the EKS Pod Identity agent (AWS_CONTAINER_CREDENTIALS_FULL_URI with the
   token in AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: AWS SDKs and Tools reference guide, "Container credential
   provider");
2. signs an RDS IAM token (a SigV4-presigned `connect` request for service rds-db, host:port/?Action=connect&DBUser=,
   as botocore's generate_db_auth_token) and logs in to PostgreSQL over TLS (SSLRequest, StartupMessage; an IAM user
   is asked for a cleartext password, the token: RDS guide, "IAM database authentication"), then runs `select 1`;
3. signs an ElastiCache IAM token (the same presigning, service elasticache, host = the replication group id,
   /?Action=connect&User=: ElastiCache guide, "Authenticating with IAM") and sends `AUTH user token`, then `PING`, over
   TLS (RESP);
4. prints one JSON line: for credentials, database and cache, ok or the stage that failed (credentials, network, tls,
   authentication, authorization, query) and why; exit 0 when all passed, 1 otherwise.

Settings come from PROBE_* environment variables (envstack/ops/verify/workload.py writes them into the Job).
"""

import datetime
import hashlib
import hmac
import json
import os
import socket
import ssl
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TIMEOUT = 5.0  # seconds for each connect and read: the Job has a deadline, and a silent port is a network problem
TOKEN_SECONDS = 900  # both IAM tokens are valid 15 minutes (the longest either service accepts)
SSL_REQUEST = 80877103  # PostgreSQL protocol: SSLRequest code
PROTOCOL_3 = 196608  # PostgreSQL protocol 3.0
AUTH_OK, AUTH_CLEARTEXT, AUTH_MD5, AUTH_SASL = 0, 3, 5, 10
AGENT = "the EKS Pod Identity agent"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class StageError(Exception):
    """A step that failed, with the stage it belongs to."""

    def __init__(self, stage: str, detail: str):
        super().__init__(detail)
        self.stage, self.detail = stage, detail


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


# ---- credentials ---------------------------------------------------------------------------------------------------

def pod_identity_credentials(env: dict[str, str]) -> Credentials:
    """The role's credentials from the Pod Identity agent, as the SDKs' container credential provider gets them."""
    uri, token_file = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"), env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if not uri or not token_file:
        raise StageError("credentials", "no Pod Identity in this pod (AWS_CONTAINER_CREDENTIALS_FULL_URI unset): no "
                         "association for this namespace's app ServiceAccount, or the pod identity webhook did not run")
    try:
        with open(token_file) as file:
            authorization = file.read().strip()
    except OSError as error:
        raise StageError("credentials", f"cannot read the Pod Identity token {token_file}: {error}") from None
    request = urllib.request.Request(uri, headers={"Authorization": authorization})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")[:300]
        raise StageError("credentials", f"{AGENT} refused: HTTP {error.code} {text} (the role's trust policy must "
                         "allow pods.eks.amazonaws.com sts:AssumeRole and sts:TagSession)") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise StageError("network", f"{AGENT} at {uri} did not answer: {reason} (NetworkPolicy "
                         "allow-pod-identity-agent; the eks-pod-identity-agent add-on on this node)") from None
    except ValueError as error:
        raise StageError("credentials", f"{AGENT} answered something that is not JSON: {error}") from None
    try:
        return Credentials(body["AccessKeyId"], body["SecretAccessKey"], body.get("Token"))
    except (KeyError, TypeError):
        raise StageError("credentials", f"{AGENT} answered without credentials: {sorted(body)}") from None


# ---- SigV4 presigning (AWS General Reference, "Create a signed AWS API request": query-string authentication) -------

def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def presign(host: str, params: dict[str, str], service: str, region: str, credentials: Credentials,
            now: datetime.datetime, expires: int = TOKEN_SECONDS) -> str:
    """`host/?params&X-Amz-...&X-Amz-Signature=...`: a GET of `/` on `host` with an empty body, presigned with the host
    header only (what botocore's SigV4QueryAuth signs; UNSIGNED-PAYLOAD is S3's presigning only), without a scheme,
    as both IAM tokens are."""
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/{region}/{service}/aws4_request"
    query = {**params, "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{credentials.access_key}/{scope}",
             "X-Amz-Date": stamp, "X-Amz-Expires": str(expires), "X-Amz-SignedHeaders": "host"}
    if credentials.token:
        query["X-Amz-Security-Token"] = credentials.token
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
    canonical = "\n".join(["GET", "/", canonical_query, f"host:{host}", "", "host", EMPTY_SHA256])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(f"AWS4{credentials.secret_key}".encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{host}/?{canonical_query}&X-Amz-Signature={signature}"


def rds_token(host: str, port: int, user: str, region: str, credentials: Credentials,
              now: datetime.datetime) -> str:
    return presign(f"{host}:{port}", {"Action": "connect", "DBUser": user}, "rds-db", region, credentials, now)


def elasticache_token(replication_group_id: str, user: str, region: str, credentials: Credentials,
                      now: datetime.datetime) -> str:
    # ElastiCache guide, "Authenticating with IAM": the cache name in lower case, the user id (== its name).
    return presign(replication_group_id.lower(), {"Action": "connect", "User": user}, "elasticache", region,
                   credentials, now)


# ---- connections ---------------------------------------------------------------------------------------------------

def connect(host: str, port: int) -> socket.socket:
    try:
        address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4]
    except OSError as error:
        raise StageError("network", f"cannot resolve {host}: {error}") from None
    try:
        return socket.create_connection((str(address[0]), port), timeout=TIMEOUT)
    except OSError as error:
        raise StageError("network", f"no TCP connection to {host}:{port} ({address[0]}): {error} (security group "
                         "rules from the cluster, NetworkPolicy allow-data-stores)") from None


def tls_context(ca_pem: str | None) -> ssl.SSLContext:
    """The system's trust store, or the given CA bundle (RDS signs with its own CAs)."""
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def wrap(sock: socket.socket, host: str, context: ssl.SSLContext) -> ssl.SSLSocket:
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except (ssl.SSLError, OSError) as error:
        sock.close()
        raise StageError("tls", f"TLS handshake with {host} failed: {error}") from None


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except OSError as error:
            raise StageError("network", f"the connection failed: {error}") from None
        if not chunk:
            raise StageError("network", "the server closed the connection")
        data += chunk
    return data


# ---- PostgreSQL (frontend/backend protocol 3.0: PostgreSQL documentation, "Message Formats") ------------------------

def pg_message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def pg_read(sock: socket.socket) -> tuple[bytes, bytes]:
    kind = read_exactly(sock, 1)
    (length,) = struct.unpack("!I", read_exactly(sock, 4))
    return kind, read_exactly(sock, length - 4)


def pg_error(payload: bytes) -> tuple[str, str]:
    """(SQLSTATE, message) of an ErrorResponse."""
    fields = {part[:1].decode(): part[1:].decode(errors="replace") for part in payload.split(b"\0") if part}
    return fields.get("C", ""), fields.get("M", "")


def postgres_select_one(host: str, port: int, database: str, user: str, token: Callable[[], str],
                        ca_pem: str | None) -> str:
    """Log in as `user` with the IAM token over TLS and run `select 1`; what it proves, or StageError."""
    sock = connect(host, port)
    sock.sendall(struct.pack("!II", 8, SSL_REQUEST))
    if read_exactly(sock, 1) != b"S":
        sock.close()
        raise StageError("tls", f"{host} refused TLS (SSLRequest answered N)")
    context = tls_context(ca_pem)
    if not ca_pem:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with wrap(sock, host, context) as tls:
        startup = b"".join(f"{k}\0{v}\0".encode() for k, v in (("user", user), ("database", database))) + b"\0"
        tls.sendall(struct.pack("!II", len(startup) + 8, PROTOCOL_3) + startup)
        _pg_authenticate(tls, user, token)
        tls.sendall(pg_message(b"Q", b"select 1\0"))
        rows = _pg_results(tls)
        tls.sendall(pg_message(b"X", b""))
        version = tls.version()
    if rows != [["1"]]:
        raise StageError("query", f"select 1 returned {rows}")
    verified = "certificate verified" if ca_pem else "certificate NOT verified (no RDS CA bundle given)"
    return f"select 1 as {user} over {version} ({verified})"


def _pg_authenticate(sock: ssl.SSLSocket, user: str, token: Callable[[], str]) -> None:
    """Until ReadyForQuery: the password the server asks for is the token; an error is an authentication problem
    before AuthenticationOk and an authorization one after it (e.g. no CONNECT on the database)."""
    authenticated = False
    while True:
        kind, payload = pg_read(sock)
        if kind == b"R":
            (code,) = struct.unpack("!I", payload[:4])
            if code == AUTH_CLEARTEXT:
                sock.sendall(pg_message(b"p", token().encode() + b"\0"))
            elif code == AUTH_OK:
                authenticated = True
            elif code in (AUTH_MD5, AUTH_SASL):
                method = "SCRAM/SASL" if code == AUTH_SASL else "MD5"
                raise StageError("authentication", f"the server asked {user} for a {method} password, not an IAM "
                                 f"token: {user} lacks the rds_iam role or does not exist (CREATE USER {user}; "
                                 f"GRANT rds_iam TO {user})")
            else:
                raise StageError("authentication", f"unexpected authentication request {code}")
        elif kind == b"E":
            code, message = pg_error(payload)
            if not authenticated:
                raise StageError("authentication", f"{code} {message} (the namespace role needs rds-db:connect on "
                                 f"this instance's dbuser {user}; the token is for this host, port and region)")
            raise StageError("authorization", f"{code} {message}")
        elif kind == b"Z":
            return


def _pg_results(sock: ssl.SSLSocket) -> list[list[str | None]]:
    rows: list[list[str | None]] = []
    error: tuple[str, str] | None = None
    while True:
        kind, payload = pg_read(sock)
        if kind == b"D":
            rows.append(_pg_row(payload))
        elif kind == b"E":
            error = pg_error(payload)
        elif kind == b"Z":
            if error:
                stage = "authorization" if error[0].startswith("42") else "query"
                raise StageError(stage, f"{error[0]} {error[1]}")
            return rows


def _pg_row(payload: bytes) -> list[str | None]:
    (count,), offset, row = struct.unpack("!H", payload[:2]), 2, []
    for _ in range(count):
        (size,) = struct.unpack("!i", payload[offset:offset + 4])
        offset += 4
        row.append(None if size < 0 else payload[offset:offset + size].decode())
        offset += max(size, 0)
    return row


# ---- Valkey / Redis OSS (RESP: the Redis serialization protocol specification) -------------------------------------

def resp_command(*words: str) -> bytes:
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def resp_line(sock: socket.socket) -> str:
    line = b""
    while not line.endswith(b"\r\n"):
        line += read_exactly(sock, 1)
        if len(line) > 4096:
            raise StageError("query", "the server's reply has no end")
    return line[:-2].decode(errors="replace")


def cache_ping(host: str, port: int, user: str, token: Callable[[], str]) -> str:
    """AUTH as `user` with the IAM token over TLS (publicly trusted certificates), then PING."""
    with wrap(connect(host, port), host, tls_context(None)) as tls:
        tls.sendall(resp_command("AUTH", user, token()))
        answer = resp_line(tls)
        if answer != "+OK":
            raise StageError("authentication", f"AUTH {user}: {answer} (the namespace role needs elasticache:Connect "
                             "on the replication group and the user; the user must be in the group's user group)")
        tls.sendall(resp_command("PING"))
        answer = resp_line(tls)
        version = tls.version()
    if answer != "+PONG":
        stage = "authorization" if answer.startswith("-NOPERM") else "query"
        raise StageError(stage, f"PING as {user}: {answer}")
    return f"PING answered PONG for {user} over {version} (certificate verified)"


# ---- the probe -----------------------------------------------------------------------------------------------------

def outcome(step: Callable[[], str]) -> dict[str, Any]:
    try:
        return {"ok": True, "detail": step()}
    except StageError as error:
        return {"ok": False, "stage": error.stage, "detail": error.detail}
    except Exception as error:  # a probe reports, it never dies with a traceback the caller cannot read
        return {"ok": False, "stage": "probe", "detail": f"{type(error).__name__}: {error}"}


def run(env: dict[str, str], now: Callable[[], datetime.datetime] | None = None) -> dict[str, Any]:
    clock = now or (lambda: datetime.datetime.now(datetime.UTC))
    region = env["PROBE_REGION"]
    report: dict[str, Any] = {"probe": "envstack-verify", "namespace": env.get("PROBE_NAMESPACE", "")}
    found: list[Credentials] = []

    def credentials() -> str:
        found.append(pod_identity_credentials(env))
        return f"Pod Identity credentials {found[0].access_key[:4]}... from {env['AWS_CONTAINER_CREDENTIALS_FULL_URI']}"

    report["credentials"] = outcome(credentials)
    if not found:
        skipped = {"ok": False, "stage": "credentials", "detail": "not tried: no credentials"}
        return {**report, "database": skipped, "cache": skipped, "ok": False}
    db_host, db_port, db_user = env["PROBE_DB_HOST"], int(env["PROBE_DB_PORT"]), env["PROBE_DB_USER"]
    report["database"] = outcome(lambda: postgres_select_one(
        db_host, db_port, env["PROBE_DB_NAME"], db_user,
        lambda: rds_token(db_host, db_port, db_user, region, found[0], clock()), env.get("PROBE_RDS_CA") or None))
    cache_user = env["PROBE_CACHE_USER"]
    report["cache"] = outcome(lambda: cache_ping(
        env["PROBE_CACHE_HOST"], int(env["PROBE_CACHE_PORT"]), cache_user,
        lambda: elasticache_token(env["PROBE_CACHE_ID"], cache_user, region, found[0], clock())))
    report["ok"] = all(report[part]["ok"] for part in ("credentials", "database", "cache"))
    return report


def main() -> int:
    report = run(dict(os.environ))
    print(json.dumps(report, separators=(",", ":")), flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
