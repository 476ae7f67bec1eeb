"""Keys, PAdES signatures and their verification, without a database: the development CA and unit keys, a
signature that pyHanko finds intact, valid and trusted together, tampered copies reported as modified, and
RFC 3161 timestamps from a local timestamp authority."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from motcua.documents import samples
from motcua.documents.pki import CA_NAME, LocalPki, UnitIdentity, load_pem_certificates
from motcua.documents.render import render_pdf
from motcua.documents.settings import DocumentSettings
from motcua.documents.signing import SignatureBox, SigningFailed, sign_pdf, timestamper_for
from motcua.documents.verification import verify_pdf
from motcua.domain.clock import VN_TZ
from tests.documents.conftest import Tsa

WARD = UnitIdentity("phuong-sai-gon", "Phường Sài Gòn", "068.00.70.H29")
AT = samples.SAMPLE_AT


@pytest.fixture(scope="module")
def receipt() -> tuple[bytes, SignatureBox]:
    rendered = render_pdf(
        "giay_tiep_nhan",
        samples.sample_context("giay_tiep_nhan"),
        document_id="TestDoc",
        url="https://motcua.test/xac-minh/TestDoc",
        issued_at=AT,
    )
    assert rendered.signature_page is not None and rendered.signature_rect is not None
    return rendered.pdf, SignatureBox(rendered.signature_page, rendered.signature_rect)


@pytest.fixture
def pki(tmp_path: Path) -> LocalPki:
    return LocalPki(tmp_path / "pki")


def _signed(pki: LocalPki, receipt: tuple[bytes, SignatureBox], **kwargs: object) -> bytes:
    pdf, box = receipt
    return sign_pdf(
        pdf,
        pki.signer_for(WARD, now=AT),
        at=AT,
        reason="Tiếp nhận hồ sơ",
        location="Phường Sài Gòn",
        box=box,
        **kwargs,
    )  # type: ignore[arg-type]


# ---------------------------------------------------------------- keys and certificates


def test_the_development_ca_and_unit_keys_are_created_once_and_kept_private(pki: LocalPki) -> None:
    signer = pki.signer_for(WARD, now=AT)
    key_path, cert_path = pki.unit_paths(WARD.id)
    for key in (pki.ca_key_path, key_path):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(pki.ca_cert_path.read_bytes())
    assert ca.subject.rfc4514_string() == f"CN={CA_NAME},O=motcua,C=VN"
    unit = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert unit.issuer == ca.subject
    assert unit.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == "Phường Sài Gòn"
    assert (
        unit.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "068.00.70.H29"
    )
    assert unit.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert pki.signer_for(WARD, now=AT) is signer  # cached in the process
    again = LocalPki(pki.directory).signer_for(WARD, now=AT)  # another process: loads the same files
    assert again.fingerprint == signer.fingerprint


def test_a_renamed_unit_gets_a_new_certificate_and_the_old_one_is_kept(pki: LocalPki) -> None:
    before = pki.signer_for(WARD, now=AT)
    renamed = UnitIdentity(WARD.id, "Phường Sài Gòn Mới", WARD.agency_code)
    after = pki.signer_for(renamed, now=AT + timedelta(days=1))
    assert after.fingerprint != before.fingerprint
    assert "Phường Sài Gòn Mới" in after.subject
    archived = [p.name for p in (pki.directory / "units").iterdir() if p.name.count(".") == 3]
    assert len(archived) == 2  # the old key and certificate, under their serial number


def test_an_expiring_certificate_is_renewed(pki: LocalPki) -> None:
    first = pki.signer_for(WARD, now=AT)
    assert pki.signer_for(WARD, now=AT + timedelta(days=3 * 365 - 20)).fingerprint != first.fingerprint


def _create_ca(directory: str, queue: multiprocessing.Queue[str]) -> None:
    _, cert = LocalPki(directory).ca(now=datetime(2026, 3, 2, tzinfo=VN_TZ))
    queue.put(cert.fingerprint(cert.signature_hash_algorithm).hex())  # type: ignore[arg-type]


def test_two_processes_starting_together_share_one_ca(tmp_path: Path) -> None:
    queue: multiprocessing.Queue[str] = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_create_ca, args=(str(tmp_path), queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert len({queue.get(timeout=5), queue.get(timeout=5)}) == 1


def test_settings_come_from_the_environment() -> None:
    settings = DocumentSettings.from_env({"MOTCUA_PUBLIC_URL": "https://dichvucong.hochiminhcity.gov.vn/"})
    assert settings.verification_url("abc") == "https://dichvucong.hochiminhcity.gov.vn/xac-minh/abc"
    assert DocumentSettings.from_env({}).verification_url("abc") == "http://127.0.0.1:8000/xac-minh/abc"
    assert DocumentSettings.from_env({}).pki_dir == Path("var/pki")
    with pytest.raises(Exception) as bad:
        DocumentSettings.from_env({"MOTCUA_SIGNING_BACKEND": "pkcs11"})
    assert getattr(bad.value, "code", "") == "documents.pkcs11_config"


# ---------------------------------------------------------------- signatures


def test_a_signed_document_is_intact_valid_and_trusted(
    pki: LocalPki, receipt: tuple[bytes, SignatureBox]
) -> None:
    signed = _signed(pki, receipt)
    result = verify_pdf(signed, pki.trust_roots())
    assert (result.intact, result.valid, result.trusted, result.modified) == (True, True, True, False)
    (signature,) = result.signatures
    assert signature.unit_name == "Phường Sài Gòn" and signature.agency_code == "068.00.70.H29"
    assert signature.unit_id == WARD.id and signature.issuer == CA_NAME
    assert signature.signing_time == AT  # motcua's clock, not the machine's
    assert signature.timestamp is None
    assert result.claimed_document_id == "TestDoc"


def test_signing_and_verifying_work_on_a_thread_whose_event_loop_is_running(
    pki: LocalPki, receipt: tuple[bytes, SignatureBox]
) -> None:
    """An async handler, or a process driving Playwright's sync API, has a running loop on its thread; pyHanko's
    sync calls wrap asyncio.run and failed there ("cannot be called from a running event loop")."""

    async def inside_a_running_loop() -> tuple[bool, bool]:
        result = verify_pdf(_signed(pki, receipt), pki.trust_roots())
        return result.valid, result.trusted

    # On a thread of its own: the test process may itself hold a running loop (Playwright's sync API).
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(asyncio.run, inside_a_running_loop()).result() == (True, True)


def test_a_signature_from_another_ca_is_valid_but_not_trusted(
    pki: LocalPki, receipt: tuple[bytes, SignatureBox], tmp_path: Path
) -> None:
    signed = _signed(pki, receipt)
    stranger = LocalPki(tmp_path / "other")
    stranger.ca(now=AT)
    result = verify_pdf(signed, stranger.trust_roots())
    assert (result.intact, result.valid, result.trusted) == (True, True, False)


def test_one_changed_byte_in_the_content_is_reported_as_modified(
    pki: LocalPki, receipt: tuple[bytes, SignatureBox]
) -> None:
    signed = _signed(pki, receipt)
    position = signed.index(b"stream\n", len(signed) // 4) + 40  # inside a page content stream
    tampered = signed[:position] + bytes([signed[position] ^ 0x20]) + signed[position + 1 :]
    result = verify_pdf(tampered, pki.trust_roots())
    assert result.modified and not result.intact
    assert not (result.intact and result.valid and result.trusted)


def test_an_incremental_update_appended_after_signing_is_reported_as_modified(
    pki: LocalPki, receipt: tuple[bytes, SignatureBox]
) -> None:
    signed = _signed(pki, receipt)
    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    overlay = writer.add_object(generic.StreamObject(stream_data=b"q 1 0 0 rg 300 700 200 40 re f Q"))
    page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), overlay])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    result = verify_pdf(out.getvalue(), pki.trust_roots())
    (signature,) = result.signatures
    assert signature.intact and signature.valid  # the signed bytes themselves are untouched …
    assert not signature.covers_whole_file and result.modified  # … but something was added after them
    assert signature.signed_revision_sha256 != result.sha256


def test_garbage_is_reported_not_raised(pki: LocalPki) -> None:
    result = verify_pdf(b"%PDF-1.7\nnot really a pdf", pki.trust_roots())
    assert not result.readable and result.modified and not result.signed


# ---------------------------------------------------------------- timestamps


def test_a_timestamp_from_the_configured_authority_is_embedded_and_trusted(
    pki: LocalPki, receipt: tuple[bytes, SignatureBox], tsa: Tsa
) -> None:
    signed = _signed(pki, receipt, timestamper=timestamper_for(tsa.url))
    assert tsa.requests and tsa.requests[-1] == "application/timestamp-query"
    roots = pki.trust_roots() + load_pem_certificates(tsa.root_pem)
    result = verify_pdf(signed, roots)
    (signature,) = result.signatures
    assert signature.timestamp is not None and signature.timestamp_trusted is True
    assert (result.intact, result.valid, result.trusted, result.modified) == (True, True, True, False)
    untrusted_tsa = verify_pdf(signed, pki.trust_roots()).signatures[0]
    assert untrusted_tsa.timestamp is not None and untrusted_tsa.timestamp_trusted is False


def test_an_unreachable_timestamp_authority_fails_the_signing(
    pki: LocalPki, receipt: tuple[bytes, SignatureBox]
) -> None:
    with pytest.raises(SigningFailed) as failed:
        _signed(pki, receipt, timestamper=timestamper_for("http://127.0.0.1:9/tsa"))
    assert failed.value.code == "documents.tsa_unavailable"
