"""Documents fixtures: a development CA per session (under a temporary MOTCUA_PKI_DIR), a local RFC 3161
timestamp authority over HTTP on 127.0.0.1 (pyHanko's DummyTimeStamper with its own root), helpers to read
PDFs back (pypdf), to render a page to PNG (pdftoppm, Debian's poppler-utils) and to decode QR codes
(zbarimg, Debian's zbar-tools), and `worker` to issue the documents actions queued. The HTTP client and `api`
come from tests/api/conftest.py, the seeded databases (SQLite and PostgreSQL) from tests/conftest.py."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pypdf import PdfReader

from motcua.documents.pki import to_asn1
from motcua.services.documents import run_document_jobs
from motcua.services.runtime import Runtime
from tests.api.conftest import api, calendar, client, runtime  # noqa: F401 - the API tests' fixtures

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "documents"
PUBLIC_URL = "https://motcua.test"


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One development CA for the whole session (a CA per test would only test key generation again)."""
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(autouse=True)
def documents_env(monkeypatch: pytest.MonkeyPatch, pki_dir: Path) -> None:
    monkeypatch.setenv("MOTCUA_PKI_DIR", str(pki_dir))
    monkeypatch.setenv("MOTCUA_PUBLIC_URL", PUBLIC_URL)
    for name in ("MOTCUA_TSA_URL", "MOTCUA_TRUST_ROOTS", "MOTCUA_SIGNING_BACKEND"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def worker(runtime: Runtime) -> Callable[..., int]:  # noqa: F811 - the imported fixture
    """`worker()` runs the documents worker once on the API's runtime (what `motcua worker` does after an
    action): it issues the documents the actions queued; `worker(now=...)` runs it at another instant."""

    def run(now: datetime | None = None) -> int:
        return run_document_jobs(runtime, now=now)

    return run


# ---------------------------------------------------------------- a local timestamp authority


@dataclass(frozen=True)
class Tsa:
    url: str
    root_pem: Path
    requests: list[str]


def _tsa_certificates(now: datetime) -> tuple[x509.Certificate, rsa.RSAPrivateKey, x509.Certificate]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "motcua Test TSA Root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    tsa_key = rsa.generate_private_key(
        public_exponent=65537, key_size=2048
    )  # pyHanko's dummy TSA is RSA-only
    tsa = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "motcua Test TSA")]))
        .issuer_name(root_name)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    return root, tsa_key, tsa


@pytest.fixture(scope="session")
def tsa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tsa]:
    """An RFC 3161 timestamp authority on 127.0.0.1 (a random free port), stopped after the session."""
    root, tsa_key, tsa_cert = _tsa_certificates(datetime.now(UTC))
    key_info = asn1_keys.PrivateKeyInfo.load(
        tsa_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    embedded = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    embedded.register(to_asn1(root))
    stamper = DummyTimeStamper(tsa_cert=to_asn1(tsa_cert), tsa_key=key_info, certs_to_embed=embedded)
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            requests.append(self.headers.get("Content-Type", ""))
            response = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(response)))
            self.end_headers()
            self.wfile.write(response)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    root_pem = tmp_path_factory.mktemp("tsa") / "tsa-root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    try:
        yield Tsa(f"http://127.0.0.1:{server.server_address[1]}/tsa", root_pem, requests)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def tsa(tsa_server: Tsa, monkeypatch: pytest.MonkeyPatch) -> Tsa:
    """The timestamp authority, configured for this test (MOTCUA_TSA_URL, its root in MOTCUA_TRUST_ROOTS)."""
    monkeypatch.setenv("MOTCUA_TSA_URL", tsa_server.url)
    monkeypatch.setenv("MOTCUA_TRUST_ROOTS", str(tsa_server.root_pem))
    return tsa_server


# ---------------------------------------------------------------- reading PDFs back


def pdf_text(data: bytes) -> str:
    """All text of a PDF, extracted by pypdf (an independent reader)."""
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found is None and os.environ.get("CI"):
        pytest.fail(f"CI must have {name} (Debian: poppler-utils, zbar-tools)", pytrace=False)
    return found


def page_png(data: bytes, name: str, *, dpi: int = 110) -> Path:
    """Page 1 rendered by pdftoppm into tests/artifacts/documents/<name>.png, for a person to look at."""
    tool = _tool("pdftoppm")
    if tool is None:
        pytest.skip("pdftoppm is not installed (Debian: poppler-utils)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    subprocess.run(
        [tool, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", "-", str(target)],
        input=data,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return target.with_suffix(".png")


def decode_qr(png: Path) -> list[str]:
    """The payloads of the QR codes in an image (zbarimg)."""
    tool = _tool("zbarimg")
    if tool is None:
        pytest.skip("zbarimg is not installed (Debian: zbar-tools)")
    done = subprocess.run(
        [tool, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return [line for line in done.stdout.splitlines() if line]
