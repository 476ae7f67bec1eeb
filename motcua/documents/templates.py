"""The document kinds, as data: `motcua/data/documents/index.yaml` names each kind, its Vietnamese title,
form number, legal basis, page size, the template file and the kind of dossier file it is stored as; it also
says which result template each procedure uses. Templates are Jinja2 HTML in the same folder."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml

from motcua.documents import text
from motcua.domain.errors import InvalidInput, NotFound

DOCUMENTS_DIR = Path(str(resources.files("motcua") / "data" / "documents"))
_FILE_KINDS = frozenset({"receipt", "slip", "result", "control_sheet"})
_PAGE_SIZES = frozenset({"A4", "A5", "A4 landscape"})


@dataclass(frozen=True)
class DocumentKind:
    id: str
    title: str
    form: str
    legal_basis: str
    template: str
    page: str
    file_kind: str  # the dossier_files kind the signed PDF is attached as
    signer_title: str  # the heading above the signature ("NGƯỜI TIẾP NHẬN HỒ SƠ", …)
    number_suffix: str  # "Số: <dossier code>/<suffix>"


@dataclass(frozen=True)
class Registry:
    kinds: dict[str, DocumentKind]
    result_default: str
    result_by_procedure: dict[str, str]

    def get(self, kind_id: str) -> DocumentKind:
        try:
            return self.kinds[kind_id]
        except KeyError:
            raise NotFound(
                "documents.unknown_kind", f"Không có loại tài liệu «{kind_id}».", kind=kind_id
            ) from None

    def result_kind(self, procedure_code: str) -> DocumentKind:
        """The result template of a procedure (the generic decision when none is specific)."""
        return self.get(self.result_by_procedure.get(procedure_code, self.result_default))


def _bad(message: str, **details: Any) -> InvalidInput:
    return InvalidInput("documents.bad_index", f"Danh mục mẫu tài liệu: {message}", **details)


def parse_registry(data: Any, directory: Path) -> Registry:
    """Validate the index: every kind complete, templates present, result references known."""
    if not isinstance(data, dict) or not isinstance(data.get("kinds"), dict):
        raise _bad("thiếu mục «kinds».")
    kinds: dict[str, DocumentKind] = {}
    for kind_id, entry in data["kinds"].items():
        if not isinstance(entry, dict):
            raise _bad(f"loại «{kind_id}» phải là một bảng.", kind=kind_id)
        try:
            kind = DocumentKind(
                id=str(kind_id),
                title=text.nfc(str(entry["title"])),
                form=text.nfc(str(entry["form"])),
                legal_basis=text.nfc(str(entry["legal_basis"])),
                template=str(entry["template"]),
                page=str(entry.get("page", "A4")),
                file_kind=str(entry["file_kind"]),
                signer_title=text.nfc(str(entry["signer_title"])),
                number_suffix=str(entry["number_suffix"]),
            )
        except KeyError as missing:
            raise _bad(f"loại «{kind_id}» thiếu trường {missing}.", kind=kind_id) from None
        if kind.page not in _PAGE_SIZES or kind.file_kind not in _FILE_KINDS:
            raise _bad(f"loại «{kind_id}»: khổ giấy hoặc loại tệp không hợp lệ.", kind=kind_id)
        if not (directory / kind.template).is_file():
            raise _bad(f"loại «{kind_id}»: không có tệp mẫu {kind.template}.", kind=kind_id)
        kinds[kind.id] = kind
    results = data.get("results") or {}
    registry = Registry(
        kinds=kinds,
        result_default=str(results.get("default", "")),
        result_by_procedure={str(k): str(v) for k, v in (results.get("by_procedure") or {}).items()},
    )
    for kind_id in (registry.result_default, *registry.result_by_procedure.values()):
        if kind_id not in kinds or kinds[kind_id].file_kind != "result":
            raise _bad(f"mẫu kết quả «{kind_id}» không có hoặc không phải loại kết quả.", kind=kind_id)
    return registry


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The shipped registry (read once per process)."""
    index = DOCUMENTS_DIR / "index.yaml"
    return parse_registry(yaml.safe_load(index.read_text(encoding="utf-8")), DOCUMENTS_DIR)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Jinja2 over the templates folder: HTML autoescaping, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(DOCUMENTS_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        vn_datetime=text.vn_datetime,
        vn_date=text.vn_date,
        vn_long_date=text.vn_long_date,
        vn_time_and_date=text.vn_time_and_date,
        date_in_words=text.date_in_words,
        capitalize_first=text.capitalize_first,
    )
    return env
