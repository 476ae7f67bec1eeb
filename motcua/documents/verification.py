"""Check a PDF's signatures: integrity (`intact`), cryptographic validity (`valid`), trust (`trusted`: chains
to a configured root) — always together — and whether anything was added after the signature."""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from motcua.documents.pki import cert_fingerprint
from motcua.documents.run_sync import off_running_loop
from motcua.domain.clock import to_vn

log = logging.getLogger("motcua.documents")
# WeasyPrint writes <meta name="motcua-document-id"> to the document information without the hyphens.
DOCUMENT_ID_KEY = "/motcuadocumentid"


@dataclass(frozen=True)
class SignatureReport:
    signer: str
    unit_name: str | None
    agency_code: str | None
    unit_id: str | None
    issuer: str
    certificate_serial: str
    certificate_fingerprint: str
    signing_time: datetime | None
    timestamp: datetime | None  # from an RFC 3161 token, when the signature carries one
    timestamp_trusted: bool | None
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_file: bool  # nothing was appended after this signature
    signed_revision_sha256: str  # the file as it was when signed (to find what motcua issued)

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted and self.covers_whole_file


@dataclass(frozen=True)
class PdfVerification:
    sha256: str
    signatures: list[SignatureReport] = field(default_factory=list)
    claimed_document_id: str | None = None
    readable: bool = True

    @property
    def signed(self) -> bool:
        return bool(self.signatures)

    @property
    def intact(self) -> bool:
        return self.signed and all(s.intact for s in self.signatures)

    @property
    def valid(self) -> bool:
        return self.signed and all(s.valid for s in self.signatures)

    @property
    def trusted(self) -> bool:
        return self.signed and all(s.trusted for s in self.signatures)

    @property
    def modified(self) -> bool:
        """Changed after signing: a signed byte differs, or content was appended after the last signature."""
        return not self.readable or any(not (s.intact and s.covers_whole_file) for s in self.signatures)


def _name_part(name: asn1_x509.Name, key: str) -> str | None:
    value = name.native.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value else None


def _validation_context(roots: list[asn1_x509.Certificate]) -> ValidationContext:
    # Development and internal CAs publish no revocation information: check what is there, fetch nothing.
    return ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")


def _timestamp(status: PdfSignatureStatus) -> tuple[datetime | None, bool | None]:
    ts = status.timestamp_validity
    if ts is None:
        return None, None
    return to_vn(ts.timestamp), bool(ts.intact and ts.valid and ts.trusted)


def _report(data: bytes, sig: EmbeddedPdfSignature, roots: list[asn1_x509.Certificate]) -> SignatureReport:
    cert = sig.signer_cert
    subject = cert.subject
    byte_range = sig.byte_range
    revision_end = int(byte_range[2]) + int(byte_range[3])
    base: dict[str, Any] = {
        "signer": _name_part(subject, "common_name") or subject.human_friendly,
        "unit_name": _name_part(subject, "organization_name"),
        "agency_code": _name_part(subject, "organizational_unit_name"),
        "unit_id": _name_part(subject, "user_id"),
        "issuer": _name_part(cert.issuer, "common_name") or cert.issuer.human_friendly,
        "certificate_serial": f"{cert.serial_number:x}",
        "certificate_fingerprint": cert_fingerprint(cert),
        "signed_revision_sha256": hashlib.sha256(data[:revision_end]).hexdigest(),
    }
    try:
        status = off_running_loop(
            lambda: validate_pdf_signature(
                sig,
                signer_validation_context=_validation_context(roots),
                ts_validation_context=_validation_context(roots),
            )
        )
    except (SignatureValidationError, PdfError, ValueError, KeyError) as exc:
        log.info("signature could not be validated: %s", exc)
        return SignatureReport(
            **base,
            signing_time=None,
            timestamp=None,
            timestamp_trusted=None,
            intact=False,
            valid=False,
            trusted=False,
            covers_whole_file=False,
        )
    timestamp, timestamp_trusted = _timestamp(status)
    return SignatureReport(
        **base,
        signing_time=to_vn(status.signer_reported_dt) if status.signer_reported_dt else None,
        timestamp=timestamp,
        timestamp_trusted=timestamp_trusted,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
    )


def _claimed_id(reader: PdfFileReader) -> str | None:
    """The document id motcua wrote into the document information (a claim: checked against the store)."""
    try:
        info = reader.trailer_view.get("/Info")
        value = info.get_object().get(DOCUMENT_ID_KEY) if info is not None else None
    except (PdfError, KeyError, AttributeError, TypeError):
        return None
    return str(value) if value else None


def verify_pdf(data: bytes, roots: list[asn1_x509.Certificate]) -> PdfVerification:
    """Every signature of the file, checked against `roots`; an unreadable file is reported, not raised."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = list(reader.embedded_signatures)
        reports = [_report(data, sig, roots) for sig in signatures]
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        log.info("unreadable PDF: %s", exc)
        return PdfVerification(sha256=digest, readable=False)
    return PdfVerification(sha256=digest, signatures=reports, claimed_document_id=_claimed_id(reader))
