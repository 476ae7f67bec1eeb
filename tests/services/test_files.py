"""Content-addressed storage: integrity, idempotence, type and size checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from motcua.domain.clock import FixedClock
from motcua.domain.errors import InvalidInput, NotFound
from motcua.services.files import LocalBlobStore, check_upload, store_file
from motcua.store.db import Database
from motcua.store.schema.files import files

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_a_blob_is_stored_under_its_sha256_and_read_back(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    digest = store.put(PDF)
    assert digest == hashlib.sha256(PDF).hexdigest()
    assert store.get(digest) == PDF
    assert store.put(PDF) == digest  # same content, same address, no second copy
    assert len(list(tmp_path.rglob(digest))) == 1
    assert not list(tmp_path.rglob(".tmp-*"))


def test_a_changed_blob_on_disk_is_reported_not_served(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    digest = store.put(PDF)
    next(tmp_path.rglob(digest)).write_bytes(PDF + b"tampered")
    with pytest.raises(InvalidInput) as err:
        store.get(digest)
    assert err.value.code == "file.corrupted"


def test_unknown_or_malformed_addresses_are_not_found(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    for address in ("0" * 64, "../../etc/passwd", "ABC"):
        with pytest.raises(NotFound):
            store.get(address)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "file.empty"),
        (b"MZ\x90\x00 an exe", "file.bad_type"),
        (b"%PDF-" + b"x" * 2048, "file.too_large"),
    ],
)
def test_uploads_are_checked_by_content(data: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_upload(data, max_bytes=1024)
    assert err.value.code == code


def test_upload_types_come_from_the_content() -> None:
    assert check_upload(PDF) == "application/pdf"
    assert check_upload(PNG) == "image/png"


def test_storing_the_same_file_twice_keeps_one_row(db: Database, tmp_path: Path, clock: FixedClock) -> None:
    store = LocalBlobStore(tmp_path)
    with db.transaction() as conn:
        first = store_file(conn, store, PDF, media_type="application/pdf", now=clock.now())
        second = store_file(conn, store, PDF, media_type="application/pdf", now=clock.now())
    assert first == second
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(files)).scalar_one() == 1
