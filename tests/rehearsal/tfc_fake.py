"""Terraform Cloud for the rehearsal: the project's fake (the `tfc-fake` Cargo example),
behind HTTPS on 127.0.0.1.

The deployed module only accepts an https:// API address, and the function never turns
TLS verification off. So the fake is served through a small TLS front with a
certificate from a certificate authority made for the run; the function trusts that
authority through SSL_CERT_FILE, as a Lambda execution environment trusts the public
ones. The token reaches the fake on its standard input, never on a command line.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class LocalCa:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_local_ca(directory: Path) -> LocalCa:
    """A certificate authority and a server certificate for 127.0.0.1, valid for a day."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tfc-onboarder rehearsal CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = LocalCa(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    paths.key_file.chmod(0o600)
    return paths


class _TlsFront(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.upstream_port = upstream_port
        self.context = context
        # Seconds added before each answer, as a slow Terraform Cloud.
        self.latency = 0.0
        # Every request answered 503, as Terraform Cloud during an outage.
        self.down = False

    def get_request(self) -> Any:
        # The handshake happens in the request's thread, not in the accepting one.
        sock, address = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class _Relay(BaseHTTPRequestHandler):
    server: _TlsFront
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _relay(self) -> None:
        time.sleep(self.server.latency)
        length = int(self.headers.get("Content-Length") or 0)
        if self.server.down:
            self.rfile.read(length)
            body = b'{"errors":[{"status":"503","title":"Service Unavailable"}]}'
            self.send_response(503)
            self.send_header("Content-Type", "application/vnd.api+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            upstream.close()

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _relay  # noqa: N815


class TfcFake:
    """The fake, started as a process, and its HTTPS address."""

    def __init__(self, program: Path, token: str, organization: str, ca: LocalCa, log_file: Path) -> None:
        if not program.is_file():
            raise FileNotFoundError(
                f"{program} does not exist: build the fake with `cargo build --example tfc-fake`"
            )
        self.organization = organization
        self.ca = ca
        self._log = log_file.open("ab")
        self.process = subprocess.Popen(
            [str(program), "--organization", organization],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        )
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(token.encode() + b"\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline().decode().strip()
        if not line.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError(f"tfc-fake did not print its URL (got {line!r}); see {log_file}")
        self.plain_url = line
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(ca.cert_file, ca.key_file)
        self._front = _TlsFront(int(line.rsplit(":", 1)[1]), context)
        threading.Thread(target=self._front.serve_forever, daemon=True).start()
        self.url = f"https://127.0.0.1:{self._front.server_address[1]}"
        self._token = token

    @property
    def latency(self) -> float:
        return self._front.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._front.latency = seconds

    @property
    def down(self) -> bool:
        return self._front.down

    @down.setter
    def down(self, down: bool) -> None:
        self._front.down = down

    def close(self) -> None:
        if getattr(self, "_front", None):
            self._front.shutdown()
            self._front.server_close()
        if self.process.poll() is None:
            assert self.process.stdin
            self.process.stdin.close()  # the fake's lifeline
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    # -- reading state through the documented API ------------------------------------

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        response = requests.get(
            f"{self.url}/api/v2{path}", params=params, verify=str(self.ca.ca_file), timeout=30,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/vnd.api+json"},
        )
        response.raise_for_status()
        return response.json()

    def varsets(self) -> dict[str, dict[str, str]]:
        """Every variable set of the organization: name -> {key: value}."""
        found: dict[str, dict[str, str]] = {}
        page = 1
        while True:
            listing = self._get(f"/organizations/{self.organization}/varsets", **{"page[number]": page, "page[size]": 100})
            for varset in listing["data"]:
                variables = self._get(f"/varsets/{varset['id']}/relationships/vars")["data"]
                found[varset["attributes"]["name"]] = {
                    v["attributes"]["key"]: v["attributes"]["value"] for v in variables
                }
            page = listing["meta"]["pagination"].get("next-page")
            if not page:
                return found
