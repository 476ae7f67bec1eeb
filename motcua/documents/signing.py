"""PAdES signatures with pyHanko: a certifying signature (no later change allowed), visible in the box the
template reserved, with an RFC 3161 timestamp when a timestamp authority is configured."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp.base import BaseStamp, BaseStampStyle

from motcua.documents.pki import UnitSigner
from motcua.documents.run_sync import off_running_loop
from motcua.domain.clock import require_aware, to_vn
from motcua.domain.errors import Conflict

FIELD_NAME = "ChuKySo"
TSA_TIMEOUT_SECONDS = 10
# Room for the signature container, so pyHanko need not sign a dummy first to measure it: the CMS with the
# unit and CA certificates is ~2 KB; a timestamp token with the TSA's certificates adds ~2-4 KB.
RESERVED_BYTES = 8192
RESERVED_BYTES_WITH_TIMESTAMP = 16384


class SigningFailed(Conflict):
    """The document could not be signed (timestamp authority down, token unavailable): nothing is issued."""


@dataclass(frozen=True)
class SignatureBox:
    """Where the visible signature goes: a page (0-based) and a rectangle in PDF points (x1, y1, x2, y2)."""

    page: int
    rect: tuple[float, float, float, float]


class _SignerAt(PdfSigner):
    """A PdfSigner whose signing time comes from the caller (motcua's clock), not the system clock."""

    def __init__(self, *args: Any, signing_time: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._signing_time
        return session


@dataclass(frozen=True)
class _FrameStampStyle(BaseStampStyle):
    """The widget's appearance: nothing drawn. The visible signature block (signer, time, certificate) is
    part of the page the template rendered in the bundled font, which the signature covers; the widget
    only makes that block clickable in PDF readers. (pyHanko's text stamps would need uharfbuzz for a
    Vietnamese font, and its built-in Courier is neither embedded — PDF/A — nor Vietnamese.)"""

    border_width: int = 0

    def create_stamp(self, writer: Any, box: Any, text_params: dict[str, Any]) -> BaseStamp:
        return _FrameStamp(writer, self, box)


class _FrameStamp(BaseStamp):
    def _render_inner_content(self) -> list[bytes]:
        return []


def _whole_points(rect: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (round(v) for v in rect)
    return x1, y1, x2, y2


def timestamper_for(tsa_url: str | None) -> TimeStamper | None:
    return HTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT_SECONDS) if tsa_url else None


def sign_pdf(
    pdf: bytes,
    unit_signer: UnitSigner,
    *,
    at: datetime,
    reason: str,
    location: str,
    box: SignatureBox | None = None,
    timestamper: TimeStamper | None = None,
) -> bytes:
    """Sign `pdf` for the unit (an incremental update); the signature covers the whole output file."""
    signing_time = to_vn(require_aware(at))
    meta = PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        reason=reason,
        location=location,
        subfilter=SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES,
    )
    field = SigFieldSpec(
        sig_field_name=FIELD_NAME,
        on_page=box.page if box else 0,
        box=_whole_points(box.rect) if box else None,
    )
    signer = _SignerAt(
        meta,
        unit_signer.signer,
        timestamper=timestamper,
        stamp_style=_FrameStampStyle(),
        new_field_spec=field,
        signing_time=signing_time,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    writer.document_meta.last_modified = signing_time  # not the system clock
    output = io.BytesIO()
    reserved = RESERVED_BYTES_WITH_TIMESTAMP if timestamper else RESERVED_BYTES
    try:
        off_running_loop(lambda: signer.sign_pdf(writer, output=output, bytes_reserved=reserved))
    except TimestampRequestError as exc:
        raise SigningFailed(
            "documents.tsa_unavailable",
            "Không lấy được dấu thời gian từ máy chủ cấp dấu thời gian; tài liệu chưa được ký.",
        ) from exc
    except SigningError as exc:
        raise SigningFailed("documents.signing_failed", f"Không ký được tài liệu: {exc}") from exc
    return output.getvalue()
