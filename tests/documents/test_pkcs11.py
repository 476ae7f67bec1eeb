"""Production signing with a PKCS#11 token, on SoftHSM (Debian: softhsm2).

Needs the `python-pkcs11` package, which is not a motcua dependency (see docs/decisions/0004): without it, or
without SoftHSM, these tests are skipped with the reason. The token gets a unit key and certificate issued by a
throwaway CA (as a production CA would), labelled with the unit id as `Pkcs11KeyStore` looks them up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from motcua.documents import samples
from motcua.documents.pki import LocalPki, Pkcs11KeyStore, UnitIdentity
from motcua.documents.render import render_pdf
from motcua.documents.settings import DocumentSettings
from motcua.documents.signing import SignatureBox, sign_pdf
from motcua.documents.verification import verify_pdf

pkcs11 = pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed (optional: PKCS#11 signing)")
SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "123456"
WARD = UnitIdentity("phuong-sai-gon", "Phường Sài Gòn", "068.00.70.H29")


@pytest.fixture
def token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pkcs11KeyStore:
    """A SoftHSM token "motcua" holding the ward's key and certificate (from a CA outside the token)."""
    if not (Path(SOFTHSM_LIBRARY).exists() and shutil.which("softhsm2-util")):
        pytest.skip("SoftHSM is not installed (Debian: softhsm2)")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    config = tmp_path / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n", encoding="utf-8")
    monkeypatch.setenv("SOFTHSM2_CONF", str(config))
    env = {**os.environ, "SOFTHSM2_CONF": str(config)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "motcua", "--so-pin", "654321", "--pin", PIN],
        check=True,
        capture_output=True,
        env=env,
    )
    ca = LocalPki(tmp_path / "ca")  # stands in for the production CA that issued the unit's certificate
    ca.signer_for(WARD, now=samples.SAMPLE_AT)
    key_path, cert_path = ca.unit_paths(WARD.id)
    subprocess.run(
        [
            "softhsm2-util",
            "--import",
            str(key_path),
            "--token",
            "motcua",
            "--label",
            WARD.id,
            "--id",
            "01",
            "--pin",
            PIN,
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    library = pkcs11.lib(SOFTHSM_LIBRARY)
    with library.get_token(token_label="motcua").open(user_pin=PIN, rw=True) as session:
        session.create_object(
            {
                pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                pkcs11.Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                pkcs11.Attribute.TOKEN: True,
                pkcs11.Attribute.LABEL: WARD.id,
                pkcs11.Attribute.ID: b"\x01",
                pkcs11.Attribute.SUBJECT: certificate.subject.public_bytes(),
                pkcs11.Attribute.ISSUER: certificate.issuer.public_bytes(),
                pkcs11.Attribute.VALUE: certificate.public_bytes(serialization.Encoding.DER),
            }
        )
    settings = DocumentSettings.from_env(
        {
            "MOTCUA_SIGNING_BACKEND": "pkcs11",
            "MOTCUA_PKCS11_MODULE": SOFTHSM_LIBRARY,
            "MOTCUA_PKCS11_TOKEN_LABEL": "motcua",
            "MOTCUA_PKCS11_PIN": PIN,
        }
    )
    assert settings.pkcs11 is not None
    return Pkcs11KeyStore(settings.pkcs11, ca.trust_roots())


def test_a_document_signed_on_the_token_verifies(token: Pkcs11KeyStore) -> None:
    rendered = render_pdf(
        "giay_tiep_nhan",
        samples.sample_context("giay_tiep_nhan"),
        document_id="Hsm",
        url="https://motcua.test/xac-minh/Hsm",
        issued_at=samples.SAMPLE_AT,
    )
    assert rendered.signature_page is not None and rendered.signature_rect is not None
    signer = token.signer_for(WARD, now=samples.SAMPLE_AT)
    assert token.signer_for(WARD, now=samples.SAMPLE_AT) is signer  # the session and signer are kept
    signed = sign_pdf(
        rendered.pdf,
        signer,
        at=samples.SAMPLE_AT,
        reason="Tiếp nhận hồ sơ",
        location="Phường Sài Gòn",
        box=SignatureBox(rendered.signature_page, rendered.signature_rect),
    )
    result = verify_pdf(signed, token.trust_roots())
    assert (result.intact, result.valid, result.trusted, result.modified) == (True, True, True, False)
    assert result.signatures[0].unit_id == WARD.id
