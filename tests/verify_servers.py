"""Local stand-ins for what `envstack verify` and its probe talk to, on 127.0.0.1 only: a certificate authority, the
EKS Pod Identity agent, PostgreSQL (SSLRequest, startup, IAM cleartext-password login, simple query), Valkey (RESP
AUTH and PING), plain and TLS HTTP servers, and a Kubernetes API. The database and cache check each IAM token with
botocore's own signer, so the probe's stdlib signing is judged by the reference implementation."""

import datetime
import http.server
import ipaddress
import json
import socket
import socketserver
import ssl
import struct
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from botocore.model import ServiceId
from botocore.signers import RequestSigner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"
CREDENTIALS = {"AccessKeyId": "ASIAPROBEEXAMPLE", "SecretAccessKey": "probe/secret+key", "Token": "session/token=="}


# ---- a certificate authority -----------------------------------------------------------------------------------------

@dataclass
class Authority:
    directory: Path
    ca_pem: str = ""
    _key: Any = None
    _cert: Any = None

    def __post_init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "envstack test CA")])
        now = datetime.datetime.now(datetime.UTC)
        day = datetime.timedelta(days=1)
        self._cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(now - day).not_valid_after(now + day)
                      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                      .sign(self._key, hashes.SHA256()))
        self.ca_pem = self._cert.public_bytes(serialization.Encoding.PEM).decode()
        (self.directory / "ca.pem").write_text(self.ca_pem)

    @property
    def ca_file(self) -> str:
        return str(self.directory / "ca.pem")

    def server_context(self, name: str = "server") -> ssl.SSLContext:
        """A TLS server context with a certificate for 127.0.0.1 signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self._cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK)),
                                                            x509.DNSName(f"{name}.test")]), critical=False)
                .sign(self._key, hashes.SHA256()))
        cert_file, key_file = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context


# ---- servers -------------------------------------------------------------------------------------------------------

@contextmanager
def tcp_server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A threaded TCP server on the loopback calling `handle(connection)`; yields its port."""
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with suppress(OSError, ssl.SSLError, ConnectionError):
                handle(self.request)

    server = socketserver.ThreadingTCPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    with serving(server) as port:
        yield port


@contextmanager
def http_server(respond: Callable[[http.server.BaseHTTPRequestHandler, bytes], tuple[int, dict[str, str], bytes]],
                tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """An HTTP(S) server on the loopback: respond(handler, body) -> (status, headers, body); yields its port."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, headers, body = respond(self, self.rfile.read(length) if length else b"")
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    with serving(server) as port:
        yield port


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[int]:
    """Serve in a thread until the block ends; yields the port."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])  # type: ignore[index]
    finally:
        server.shutdown()
        server.server_close()


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


# ---- IAM tokens, as botocore makes them ------------------------------------------------------------------------------

def signed_at(token: str) -> datetime.datetime:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(f"https://{token}").query)
    return datetime.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")


def parts(url: str) -> tuple[str, str, dict[str, list[str]]]:
    split = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
    return split.netloc, split.path, urllib.parse.parse_qs(split.query)


def botocore_rds_token(host: str, port: int, user: str, region: str, at: datetime.datetime) -> str:
    client = boto3.client("rds", region_name=region, aws_access_key_id=CREDENTIALS["AccessKeyId"],
                          aws_secret_access_key=CREDENTIALS["SecretAccessKey"], aws_session_token=CREDENTIALS["Token"])
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        return str(client.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user, Region=region))


def botocore_elasticache_token(group: str, user: str, region: str, at: datetime.datetime) -> str:
    """As the ElastiCache guide's and Valkey GLIDE's examples sign it: a presigned GET of http://<group>/ with
    Action=connect&User=<user>, service elasticache, 900 seconds, without the scheme."""
    session = boto3.Session(aws_access_key_id=CREDENTIALS["AccessKeyId"], aws_session_token=CREDENTIALS["Token"],
                            aws_secret_access_key=CREDENTIALS["SecretAccessKey"])
    credentials = session._session.get_credentials()
    signer = RequestSigner(ServiceId("elasticache"), region, "elasticache", "v4", credentials,
                           session._session.get_component("event_emitter"))
    query = urllib.parse.urlencode({"Action": "connect", "User": user})
    request = {"method": "GET", "url": f"http://{group}/?{query}", "body": {}, "headers": {}, "context": {}}
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        url = signer.generate_presigned_url(request, operation_name="connect", expires_in=900, region_name=region)
    return str(url).removeprefix("http://")


def same_token(token: str, reference: str) -> bool:
    return parts(token) == parts(reference)


# ---- PostgreSQL ----------------------------------------------------------------------------------------------------

@dataclass
class Postgres:
    """A PostgreSQL server as RDS answers an IAM database user: TLS required, a cleartext password request, the token
    checked against botocore's; `mode` picks a failure: no-tls, scram (the user lacks rds_iam), no-connect (42501
    after login), other-answer (`select 1` answers 2)."""

    tls: ssl.SSLContext
    user: str = "app"
    database: str = "app"
    region: str = "us-west-2"
    mode: str = "ok"
    seen: list[str] = field(default_factory=list)
    port: int = 0

    def handle(self, sock: socket.socket) -> None:
        length, code = struct.unpack("!II", read_exactly(sock, 8))
        assert (length, code) == (8, 80877103), "not an SSLRequest"
        if self.mode == "no-tls":
            sock.sendall(b"N")
            return
        sock.sendall(b"S")
        with self.tls.wrap_socket(sock, server_side=True) as tls:
            self._session(tls)

    def _session(self, tls: ssl.SSLSocket) -> None:
        (length,) = struct.unpack("!I", read_exactly(tls, 4))
        body = read_exactly(tls, length - 4)
        assert struct.unpack("!I", body[:4])[0] == 196608, "not protocol 3.0"
        words = body[4:].split(b"\0")
        assert words[-2:] == [b"", b""], "the startup parameters end with an empty name"
        params = dict(zip(words[:-2:2], words[1:-2:2], strict=True))
        assert params == {b"user": self.user.encode(), b"database": self.database.encode()}, params
        if self.mode == "scram":
            tls.sendall(message(b"R", struct.pack("!I", 10) + b"SCRAM-SHA-256\0\0"))
            return
        tls.sendall(message(b"R", struct.pack("!I", 3)))
        kind, payload = read_message(tls)
        assert kind == b"p" and payload.endswith(b"\0")
        token = payload[:-1].decode()
        self.seen.append(token)
        expected = botocore_rds_token(LOOPBACK, self.port, self.user, self.region, signed_at(token))
        if not same_token(token, expected):
            tls.sendall(error("28P01", f'PAM authentication failed for user "{self.user}"'))
            return
        tls.sendall(message(b"R", struct.pack("!I", 0)))
        if self.mode == "no-connect":
            tls.sendall(error("42501", f'permission denied for database "{self.database}"'))
            return
        tls.sendall(message(b"S", b"server_version\x0017.4\0") + message(b"K", struct.pack("!II", 1, 2))
                    + message(b"Z", b"I"))
        kind, payload = read_message(tls)
        assert (kind, payload) == (b"Q", b"select 1\0")
        row_description = struct.pack("!H", 1) + b"?column?\0" + struct.pack("!IHIhih", 0, 0, 23, 4, -1, 0)
        value = b"2" if self.mode == "other-answer" else b"1"
        tls.sendall(message(b"T", row_description) + message(b"D", struct.pack("!HI", 1, 1) + value)
                    + message(b"C", b"SELECT 1\0") + message(b"Z", b"I"))
        kind, _ = read_message(tls)
        assert kind == b"X"


def message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    kind = read_exactly(sock, 1)
    (length,) = struct.unpack("!I", read_exactly(sock, 4))
    return kind, read_exactly(sock, length - 4)


def error(code: str, text: str) -> bytes:
    return message(b"E", b"SFATAL\0" + f"C{code}\0M{text}\0".encode() + b"\0")


# ---- Valkey --------------------------------------------------------------------------------------------------------

@dataclass
class Valkey:
    """Valkey behind ElastiCache's IAM authentication: AUTH <user> <token> checked against botocore's token for the
    replication group; `mode` noperm: the user may not PING."""

    tls: ssl.SSLContext
    group: str
    user: str
    region: str = "us-west-2"
    mode: str = "ok"
    commands: list[list[str]] = field(default_factory=list)

    def handle(self, sock: socket.socket) -> None:
        with self.tls.wrap_socket(sock, server_side=True) as tls:
            authenticated = False
            while True:
                command = read_command(tls)
                self.commands.append(command)
                if command[0] == "AUTH":
                    expected = botocore_elasticache_token(self.group, self.user, self.region, signed_at(command[2]))
                    authenticated = command[1] == self.user and same_token(command[2], expected)
                    tls.sendall(b"+OK\r\n" if authenticated else
                                b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
                elif command[0] == "PING":
                    tls.sendall(b"-NOAUTH Authentication required.\r\n" if not authenticated else
                                b"-NOPERM User has no permissions to run the 'ping' command\r\n"
                                if self.mode == "noperm" else b"+PONG\r\n")


def read_command(sock: socket.socket) -> list[str]:
    """A RESP array of bulk strings, as clients send commands."""
    header = read_line(sock)
    assert header.startswith("*"), header
    words = []
    for _ in range(int(header[1:])):
        size = read_line(sock)
        assert size.startswith("$"), size
        words.append(read_exactly(sock, int(size[1:])).decode())
        assert read_exactly(sock, 2) == b"\r\n"
    return words


def read_line(sock: socket.socket) -> str:
    line = b""
    while not line.endswith(b"\r\n"):
        line += read_exactly(sock, 1)
    return line[:-2].decode()


# ---- the Pod Identity agent ------------------------------------------------------------------------------------------

def agent(authorization: str, status: int = 200) -> Callable[..., tuple[int, dict[str, str], bytes]]:
    """The EKS Pod Identity agent: credentials for a request carrying the pod's token, 401 otherwise."""
    def respond(handler: http.server.BaseHTTPRequestHandler, _: bytes) -> tuple[int, dict[str, str], bytes]:
        if handler.path != "/v1/credentials" or handler.headers.get("Authorization") != authorization:
            return 401, {}, b'{"message": "invalid token"}'
        if status != 200:
            return status, {}, b'{"message": "AccessDeniedException: not authorized to perform sts:TagSession"}'
        expiration = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=6)).isoformat()
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {**CREDENTIALS, "AccountId": "111111111111", "Expiration": expiration}).encode()
    return respond
