"""Every document kind renders to a PDF/A with correct Vietnamese text, deterministically, with a QR code that
opens its verification page. Page 1 of each goes to tests/artifacts/documents/sample-<kind>.png."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from pypdf import PdfReader

from motcua.documents import samples, templates
from motcua.documents.render import render_html, render_pdf
from motcua.domain.errors import InvalidInput, NotFound
from tests.documents.conftest import decode_qr, page_png, pdf_text

KINDS = sorted(templates.registry().kinds)
URL = "https://motcua.test/xac-minh/Ab3dEf_-9"
# Text each kind must show (from its sample context), besides its title and the dossier code.
EXPECTED = {
    "giay_tiep_nhan": [
        "Nguyễn Văn An",
        "Giấy chứng sinh",
        "09 giờ 30 phút, ngày 03/03/2026",
        "1 ngày làm việc",
    ],
    "phieu_yeu_cau_bo_sung": ["Văn bản ủy quyền", "Thành phần hồ sơ chưa đầy đủ theo quy định"],
    "phieu_tu_choi": ["không đủ điều kiện giải quyết", "không thuộc trường hợp được đăng ký khai sinh"],
    "phieu_xin_loi": ["16 giờ 00 phút, ngày 05/03/2026", "Bệnh viện Từ Dũ", "xin lỗi"],
    "thong_bao_dung": ["dừng giải quyết hồ sơ", "bổ sung giấy tờ gốc"],
    "phieu_kiem_soat": ["Lê Hoàng Phúc", "Trước hạn", "Đúng hạn", "Thẩm định, xử lý hồ sơ"],
    "trich_luc_khai_sinh": [
        "NGUYỄN MINH KHANG",
        "Ngày hai mươi bảy, tháng hai, năm hai nghìn không trăm hai mươi sáu",
        "Trần Thị Bích Ngọc",
        "125/2026",
    ],
    "ket_qua_chung": ["GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN", "Chưa đăng ký kết hôn với ai"],
}


def _render(kind: str, context: dict[str, Any] | None = None) -> bytes:
    rendered = render_pdf(
        kind,
        context or samples.sample_context(kind),
        document_id="Ab3dEf_-9",
        url=URL,
        issued_at=samples.SAMPLE_AT,
    )
    return rendered.pdf


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def rendered() -> dict[str, bytes]:
    return {kind: _render(kind) for kind in KINDS}


def test_the_registry_covers_the_one_stop_forms_and_results() -> None:
    registry = templates.registry()
    assert set(EXPECTED) == set(registry.kinds)
    assert registry.result_kind("1.001193").id == "trich_luc_khai_sinh"
    assert registry.result_kind("1.000894").id == "ket_qua_chung"
    assert registry.get("giay_tiep_nhan").form == "Mẫu số 01"
    with pytest.raises(NotFound) as unknown:
        registry.get("giay_gia")
    assert unknown.value.code == "documents.unknown_kind"


def test_a_broken_index_is_refused_with_the_kind_named(tmp_path: Path) -> None:
    index = yaml.safe_load((templates.DOCUMENTS_DIR / "index.yaml").read_text(encoding="utf-8"))
    del index["kinds"]["phieu_xin_loi"]["title"]
    with pytest.raises(InvalidInput) as missing_title:
        templates.parse_registry(index, templates.DOCUMENTS_DIR)
    assert "phieu_xin_loi" in missing_title.value.message
    index = yaml.safe_load((templates.DOCUMENTS_DIR / "index.yaml").read_text(encoding="utf-8"))
    with pytest.raises(InvalidInput) as no_template:
        templates.parse_registry(index, tmp_path)  # no template files there
    assert no_template.value.code == "documents.bad_index"
    index["results"]["default"] = "giay_tiep_nhan"  # a receipt is no result
    with pytest.raises(InvalidInput):
        templates.parse_registry(index, templates.DOCUMENTS_DIR)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_pdfa_with_its_vietnamese_text(kind: str, rendered: dict[str, bytes]) -> None:
    data = rendered[kind]
    reader = PdfReader(io.BytesIO(data))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="U"' in xmp
    assert "/OutputIntents" in reader.trailer["/Root"]
    text = _words(pdf_text(data))
    title = templates.registry().get(kind).title
    assert unicodedata.is_normalized("NFC", text)
    assert samples.SAMPLE_CODE in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    if kind not in ("trich_luc_khai_sinh", "ket_qua_chung"):  # results head with the result's name
        assert title.upper() in text
    for expected in EXPECTED[kind]:
        assert expected in text, expected
    assert "Ab3dEf_-9" in text  # the verification code is printed next to the QR code


@pytest.mark.parametrize("kind", KINDS)
def test_fonts_are_the_bundled_dejavu_embedded(kind: str, rendered: dict[str, bytes]) -> None:
    reader = PdfReader(io.BytesIO(rendered[kind]))
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor  # embedded TrueType, as PDF/A requires
            fonts.add(str(font["/BaseFont"]).split("+", 1)[1])
    assert fonts <= {"Motcua-Sans", "Motcua-Sans-Bold", "Motcua-Sans-Italic"}, fonts


def test_rendering_is_deterministic_given_its_inputs(rendered: dict[str, bytes]) -> None:
    assert _render("giay_tiep_nhan") == rendered["giay_tiep_nhan"]
    other = samples.sample_context("giay_tiep_nhan")
    other["applicant"]["name"] = "Lê Thị Hồng Nhung"
    assert _render("giay_tiep_nhan", other) != rendered["giay_tiep_nhan"]


def test_decomposed_input_comes_out_composed() -> None:
    context = samples.sample_context("phieu_tu_choi")
    context["event"]["reason"] = unicodedata.normalize("NFD", "Hồ sơ thiếu chữ ký của người yêu cầu")
    html = render_html("phieu_tu_choi", context, document_id="x", url=URL, issued_at=samples.SAMPLE_AT)
    assert "Hồ sơ thiếu chữ ký của người yêu cầu" in html
    assert unicodedata.normalize("NFD", "Hồ sơ thiếu") not in html
    assert "Hồ sơ thiếu chữ ký của người yêu cầu" in _words(pdf_text(_render("phieu_tu_choi", context)))


def test_the_signature_box_is_reserved_on_the_page(rendered: dict[str, bytes]) -> None:
    result = render_pdf(
        "giay_tiep_nhan",
        samples.sample_context("giay_tiep_nhan"),
        document_id="x",
        url=URL,
        issued_at=samples.SAMPLE_AT,
    )
    assert result.signature_page == 0 and result.signature_rect is not None
    x1, y1, x2, y2 = result.signature_rect
    assert 0 < x1 < x2 <= 595.3 and 0 < y1 < y2 <= 841.9  # inside an A4 page, in points
    assert 150 < x2 - x1 < 200 and 45 < y2 - y1 < 60  # 66 mm × 19 mm


@pytest.mark.parametrize("kind", KINDS)
def test_the_qr_code_opens_the_verification_page(kind: str, rendered: dict[str, bytes]) -> None:
    """Decoded from the rendered page itself: every kind fits on one page, QR code included."""
    assert len(PdfReader(io.BytesIO(rendered[kind])).pages) == 1
    png = page_png(rendered[kind], f"sample-{kind}")
    assert decode_qr(png) == [URL]
