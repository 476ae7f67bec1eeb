"""Content-addressed file storage (SHA-256). The local directory store writes atomically (temp file, fsync,
rename), so a file either exists whole under its hash or not at all — a kill -9 cannot leave half a file.

Types are recognised from the content (magic bytes), not from the name or the declared type.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from motcua.domain.errors import InvalidInput, NotFound
from motcua.store.schema.files import dossier_files, files

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
ALLOWED_UPLOAD_TYPES = frozenset(t for _, t in _SIGNATURES)


def sniff_media_type(data: bytes) -> str | None:
    for magic, media_type in _SIGNATURES:
        if data.startswith(magic):
            return media_type
    return None


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...
    def get(self, sha256: str) -> bytes: ...
    def exists(self, sha256: str) -> bool: ...


class LocalBlobStore:
    """Blobs under `root/ab/cd/<sha256>`; writing the same content twice is a no-op."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise NotFound("file.not_found", "Không tìm thấy tệp.")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        path = self._path(sha256)
        if not path.exists():
            raise NotFound("file.not_found", "Không tìm thấy tệp.")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise InvalidInput(
                "file.corrupted", "Tệp lưu trữ bị thay đổi so với mã băm; cần khôi phục từ bản sao."
            )
        return data

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()


def default_blob_store() -> LocalBlobStore:
    return LocalBlobStore(os.environ.get("MOTCUA_FILES_DIR", "var/files"))


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    media_type: str


def check_upload(data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> str:
    """The media type of an acceptable upload; InvalidInput if empty, too large or not PDF/JPEG/PNG."""
    if not data:
        raise InvalidInput("file.empty", "Tệp tải lên rỗng.")
    if len(data) > max_bytes:
        raise InvalidInput(
            "file.too_large",
            f"Tệp vượt quá dung lượng cho phép ({max_bytes // (1024 * 1024)} MB).",
            size=len(data),
        )
    media_type = sniff_media_type(data)
    if media_type not in ALLOWED_UPLOAD_TYPES:
        raise InvalidInput("file.bad_type", "Chỉ nhận tệp PDF, JPEG hoặc PNG.")
    return media_type


def store_file(
    conn: Connection, blobs: BlobStore, data: bytes, *, media_type: str, now: datetime
) -> StoredFile:
    """Write the blob first (idempotent), then its row; a crash in between leaves only an orphan blob."""
    digest = blobs.put(data)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(files)
        .values(sha256=digest, size=len(data), media_type=media_type, created_at=now)
        .on_conflict_do_nothing(index_elements=[files.c.sha256])
    )
    return StoredFile(digest, len(data), media_type)


def attach(
    conn: Connection,
    *,
    dossier_id: int,
    stored: StoredFile,
    kind: str,
    name: str,
    label: str | None,
    added_by: str,
    now: datetime,
) -> int:
    result = conn.execute(
        dossier_files.insert().values(
            dossier_id=dossier_id,
            sha256=stored.sha256,
            kind=kind,
            name=name[:255],
            label=label,
            added_by=added_by,
            added_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def dossier_file_list(conn: Connection, dossier_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(dossier_files, files.c.size, files.c.media_type)
        .join(files, files.c.sha256 == dossier_files.c.sha256)
        .where(dossier_files.c.dossier_id == dossier_id)
        .order_by(dossier_files.c.id)
    ).mappings()
    return [
        {
            "id": r["id"],
            "sha256": r["sha256"],
            "kind": r["kind"],
            "name": r["name"],
            "label": r["label"],
            "size": r["size"],
            "media_type": r["media_type"],
            "added_by": r["added_by"],
            "added_at": r["added_at"].isoformat(),
        }
        for r in rows
    ]
