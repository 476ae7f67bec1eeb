"""Sample contexts for every document kind (the CLI's `motcua documents samples`, template checks).

The shape is the one `motcua.services.documents.document_context` builds from a real dossier.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from motcua.domain.clock import VN_TZ

SAMPLE_AT = datetime(2026, 3, 2, 9, 30, tzinfo=VN_TZ)
SAMPLE_CODE = "001.00.70.H29-260302-0001"


def _base() -> dict[str, Any]:
    return {
        "place": "Thành phố Hồ Chí Minh",
        "tracking_url": "http://127.0.0.1:8000/tra-cuu",
        "unit": {
            "id": "phuong-sai-gon",
            "name": "Phường Sài Gòn",
            "agency_code": "001.00.70.H29",
            "superior": "Ủy ban nhân dân",
            "header_name": "Phường Sài Gòn",
            "authority": "Ủy ban nhân dân phường Sài Gòn",
            "desk_name": "Bộ phận Một cửa phường Sài Gòn",
        },
        "dossier": {
            "code": SAMPLE_CODE,
            "procedure": {"code": "1.001193", "name": "Đăng ký khai sinh"},
            "channel": "Trực tuyến",
            "submitted_at": "2026-03-02T08:10:00+07:00",
            "accepted_at": "2026-03-02T09:30:00+07:00",
            "due_at": "2026-03-03T09:30:00+07:00",
            "legal_time": "1 ngày làm việc",
            "return_place": "Bộ phận Một cửa phường Sài Gòn",
            "receiving_unit": "Phường Sài Gòn",
            "competent_unit": "Phường Sài Gòn",
            "status": "Được tiếp nhận",
            "timeliness": "Trong hạn",
        },
        "applicant": {
            "name": "Nguyễn Văn An",
            "identifier": "079090012345",
            "phone": "0903123456",
            "email": "nguyenvanan@example.vn",
            "address": "25 Lê Thánh Tôn, phường Bến Thành, Thành phố Hồ Chí Minh",
        },
        "officer": {"name": "Trần Thị Bảo Ngọc", "role": "Cán bộ tiếp nhận"},
        "signature": {
            "signer": "Phường Sài Gòn (001.00.70.H29)",
            "at": SAMPLE_AT.isoformat(),
            "serial": "5a:3f:09:c4:e1:77:20:8b",
            "issuer": "motcua Development CA",
        },
        "event": {"at": SAMPLE_AT.isoformat(), "reason": "", "missing": [], "stage": "reception"},
    }


def sample_context(kind_id: str) -> dict[str, Any]:
    """A complete, realistic context for one kind (Vietnamese with every tone mark)."""
    context = _base()
    event = context["event"]
    if kind_id == "giay_tiep_nhan":
        context["documents"] = [
            {
                "name": "Tờ khai đăng ký khai sinh theo mẫu",
                "quantity": "1 bản chính",
                "files": ["to-khai.pdf"],
            },
            {"name": "Giấy chứng sinh", "quantity": "1 bản chính", "files": ["giay-chung-sinh.pdf"]},
            {"name": "Giấy tờ tùy thân của người yêu cầu", "quantity": "Xuất trình bản chính", "files": []},
        ]
        context["extra_files"] = []
    elif kind_id == "phieu_yeu_cau_bo_sung":
        event.update(
            missing=["Giấy chứng sinh bản chính (bản đã nộp bị mờ, không đọc được)", "Văn bản ủy quyền"],
            reason="Thành phần hồ sơ chưa đầy đủ theo quy định",
        )
    elif kind_id == "phieu_tu_choi":
        event.update(
            reason="Người yêu cầu không thuộc trường hợp được đăng ký khai sinh tại phường",
            stage="resolution",
        )
    elif kind_id == "phieu_xin_loi":
        event.update(
            reason="Cần xác minh thông tin nơi sinh với Bệnh viện Từ Dũ",
            previous_due_at="2026-03-03T09:30:00+07:00",
            new_due_at="2026-03-05T16:00:00+07:00",
        )
    elif kind_id == "thong_bao_dung":
        event.update(reason="Người yêu cầu đề nghị dừng giải quyết để bổ sung giấy tờ gốc")
    elif kind_id == "phieu_kiem_soat":
        context["history"] = _sample_history()
    elif kind_id in ("trich_luc_khai_sinh", "ket_qua_chung"):
        context["result"] = _sample_result(kind_id)
        context["birth"] = _sample_birth()
        if kind_id == "ket_qua_chung":
            context["dossier"]["procedure"] = {
                "code": "1.004873",
                "name": "Cấp Giấy xác nhận tình trạng hôn nhân",
            }
    return context


def _sample_history() -> list[dict[str, Any]]:
    rows = [
        (
            "Nộp hồ sơ",
            "Tiếp nhận hồ sơ",
            "Phường Sài Gòn",
            "Nguyễn Văn An",
            "2026-03-02T08:10:00+07:00",
            None,
            "",
        ),
        (
            "Tiếp nhận hồ sơ",
            "Tiếp nhận hồ sơ",
            "Phường Sài Gòn",
            "Trần Thị Bảo Ngọc",
            "2026-03-02T09:30:00+07:00",
            None,
            "",
        ),
        (
            "Chuyển bước tiếp theo",
            "Thẩm định, xử lý hồ sơ",
            "Phường Sài Gòn",
            "Lê Hoàng Phúc",
            "2026-03-02T14:00:00+07:00",
            "2026-03-03T07:06:00+07:00",
            "Trước hạn",
        ),
        (
            "Phê duyệt",
            "Phê duyệt",
            "Phường Sài Gòn",
            "Phạm Đức Thắng",
            "2026-03-03T08:00:00+07:00",
            "2026-03-03T08:42:00+07:00",
            "Đúng hạn",
        ),
    ]
    return [
        {
            "seq": i,
            "action": a,
            "step": s,
            "unit": u,
            "officer": o,
            "at": at,
            "step_due": due,
            "timeliness": t,
            "note": "",
        }
        for i, (a, s, u, o, at, due, t) in enumerate(rows, start=1)
    ]


def _sample_result(kind_id: str) -> dict[str, Any]:
    return {
        "name": "Giấy khai sinh" if kind_id == "trich_luc_khai_sinh" else "Giấy xác nhận tình trạng hôn nhân",
        "names": ["Giấy xác nhận tình trạng hôn nhân"],
        "registered_at": SAMPLE_AT.isoformat(),
        "register_number": "125/2026",
        "register_book": "01/2026",
        "legal_basis": ["Luật Hộ tịch 2014 (60/2014/QH13)", "Nghị định 123/2015/NĐ-CP"],
        "fields": [{"label": "Tình trạng hôn nhân", "value": "Chưa đăng ký kết hôn với ai"}],
        "note": "",
    }


def _sample_birth() -> dict[str, Any]:
    return {
        "child": {
            "ho_ten": "Nguyễn Minh Khang",
            "gioi_tinh": "Nam",
            "ngay_sinh": "2026-02-27",
            "noi_sinh": "Bệnh viện Từ Dũ, phường Cầu Ông Lãnh, Thành phố Hồ Chí Minh",
            "dan_toc": "Kinh",
            "quoc_tich": "Việt Nam",
            "que_quan": "Thành phố Hồ Chí Minh",
        },
        "parents": [
            {
                "title": "Mẹ",
                "ho_ten": "Trần Thị Bích Ngọc",
                "nam_sinh": "1993",
                "dan_toc": "Kinh",
                "quoc_tich": "Việt Nam",
                "noi_cu_tru": "25 Lê Thánh Tôn, phường Bến Thành, Thành phố Hồ Chí Minh",
            },
            {
                "title": "Cha",
                "ho_ten": "Nguyễn Văn An",
                "nam_sinh": "1990",
                "dan_toc": "Kinh",
                "quoc_tich": "Việt Nam",
                "noi_cu_tru": "25 Lê Thánh Tôn, phường Bến Thành, Thành phố Hồ Chí Minh",
            },
        ],
    }
