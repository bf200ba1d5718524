"""`sla api` serves TLS and, with a client CA, demands client certificates (mTLS)."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sla_management.devstack.processes import free_port, port_is_open


def _cert(
    subject: str, issuer_key: ec.EllipticCurvePrivateKey | None, issuer: x509.Name | None, *, ca: bool
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    return key, builder.sign(issuer_key or key, hashes.SHA256())


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[str, str]:
    key_path, cert_path = path.with_suffix(".key"), path.with_suffix(".pem")
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    ca_key, ca = _cert("test-ca", None, None, ca=True)
    server_key, server = _cert("localhost", ca_key, ca.subject, ca=False)
    client_key, client = _cert("pipeline", ca_key, ca.subject, ca=False)
    _, ca_file = _write(tmp_path / "ca", ca_key, ca)
    server_key_file, server_file = _write(tmp_path / "server", server_key, server)
    client_key_file, client_file = _write(tmp_path / "client", client_key, client)
    return {
        "ca": ca_file,
        "server_key": server_key_file,
        "server": server_file,
        "client_key": client_key_file,
        "client": client_file,
    }


def test_api_requires_client_certificates(pki: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "API__PORT": str(port),
        "API__TLS_CERT_FILE": pki["server"],
        "API__TLS_KEY_FILE": pki["server_key"],
        "API__TLS_CLIENT_CA_FILE": pki["ca"],
        "POSTGRESQL__PORT": str(free_port()),  # /health needs no database
    }
    log = (tmp_path / "api.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sla_management.cli", "api"], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while not port_is_open("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.1)
        url = f"https://localhost:{port}/health"
        trust = ssl.create_default_context(cafile=pki["ca"])
        with pytest.raises(httpx.TransportError):
            httpx.get(url, verify=trust)  # no client certificate: the handshake fails
        mutual = ssl.create_default_context(cafile=pki["ca"])
        mutual.load_cert_chain(pki["client"], pki["client_key"])
        response = httpx.get(url, verify=mutual)
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://localhost:{port}/health")  # plain HTTP is not served
    finally:
        proc.terminate()
        proc.wait(10)
