"""HTML templates → PDF/A with WeasyPrint. The bundled DejaVu font is referenced by file URL, so rendering
never depends on the machine's fonts. Text is NFC-normalised; nothing here reads a clock: the same inputs
give the same bytes.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import segno
import weasyprint
from weasyprint.text.fonts import FontConfiguration

from motcua.documents import templates, text
from motcua.domain.clock import to_vn

FONT_DIR = Path(str(resources.files("motcua") / "data" / "fonts"))
# WeasyPrint 70 writes PDF/A-1b/2b/3b, -2u/3u (b + Unicode text), -1a/2a/3a (tagged) and -4*. A-3u: every
# glyph maps to Unicode (the text can be searched and extracted back) and PDF/A-3 allows signatures and
# embedded files; the tagged "a" levels are not claimed because the signature widget added afterwards is
# not part of the structure tree.
PDF_VARIANT = "pdf/a-3u"
SIGNATURE_ANCHOR = "chu-ky-so"
_PX_TO_PT = 0.75  # CSS px (1/96 in) → PDF points (1/72 in)
# One font configuration for the process: the bundled fonts are loaded once (rendering measured 2-3× faster).
# WeasyPrint does not promise that sharing it across threads is safe, so renders take turns.
_FONTS: FontConfiguration | None = None
_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class RenderedDocument:
    pdf: bytes
    html: str
    # where the template reserved the visible signature: page index and rectangle in PDF points
    signature_page: int | None
    signature_rect: tuple[float, float, float, float] | None


def qr_svg(url: str) -> str:
    """The verification URL as an inline SVG QR code (error correction M, no XML declaration)."""
    return str(
        segno.make(url, error="m", micro=False).svg_inline(scale=3, border=2, dark="#000", light="#fff")
    )


def font_faces() -> str:
    """@font-face rules for the bundled DejaVu Sans (regular, bold, oblique)."""
    faces = (
        ("DejaVuSans.ttf", "normal", "normal"),
        ("DejaVuSans-Bold.ttf", "bold", "normal"),
        ("DejaVuSans-Oblique.ttf", "normal", "italic"),
    )
    return "\n".join(
        f'@font-face {{ font-family: "Motcua Sans"; font-weight: {weight}; font-style: {style}; '
        f'src: url("{(FONT_DIR / name).resolve().as_uri()}"); }}'
        for name, weight, style in faces
    )


def render_html(
    kind_id: str, context: Mapping[str, Any], *, document_id: str, url: str, issued_at: datetime
) -> str:
    """The filled HTML of a document (NFC), ready for WeasyPrint."""
    kind = templates.registry().get(kind_id)
    page = {
        "id": document_id,
        "kind": kind.id,
        "title": kind.title,
        "form": kind.form,
        "legal_basis": kind.legal_basis,
        "page_size": kind.page,
        "signer_title": kind.signer_title,
        "issued_at": to_vn(issued_at),
        "issued_at_iso": to_vn(issued_at).isoformat(),
        "verification_url": url,
    }
    values = {**text.nfc(dict(context)), "doc": text.nfc(page)}
    values.setdefault("number", f"{values['dossier']['code']}/{kind.number_suffix}")
    template = templates.environment().get_template(kind.template)
    html = template.render(**values, font_faces=font_faces(), qr=qr_svg(url))
    return unicodedata.normalize("NFC", html)


def render_pdf(
    kind_id: str, context: Mapping[str, Any], *, document_id: str, url: str, issued_at: datetime
) -> RenderedDocument:
    """Render one document kind to PDF/A; also report where its signature box landed."""
    global _FONTS
    html = render_html(kind_id, context, document_id=document_id, url=url, issued_at=issued_at)
    with _RENDER_LOCK:
        _FONTS = _FONTS or FontConfiguration()
        document = weasyprint.HTML(string=html, base_url=str(templates.DOCUMENTS_DIR)).render(
            font_config=_FONTS
        )
        page_index, rect = _signature_box(document)
        pdf = document.write_pdf(pdf_variant=PDF_VARIANT, custom_metadata=True)
    assert isinstance(pdf, bytes)
    return RenderedDocument(pdf=pdf, html=html, signature_page=page_index, signature_rect=rect)


def _signature_box(document: Any) -> tuple[int | None, tuple[float, float, float, float] | None]:
    for index, page in enumerate(document.pages):
        box = page.anchors.get(SIGNATURE_ANCHOR)
        if box is None:
            continue
        x1, y1, x2, y2 = box
        height = page.height * _PX_TO_PT
        rect = (x1 * _PX_TO_PT, height - y2 * _PX_TO_PT, x2 * _PX_TO_PT, height - y1 * _PX_TO_PT)
        return index, (round(rect[0], 2), round(rect[1], 2), round(rect[2], 2), round(rect[3], 2))
    return None, None
