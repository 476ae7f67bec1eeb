"""`motcua documents verify FILE`: exit 0 for a valid document, 1 otherwise; with the database it also says
whether the file is the one motcua issued. `motcua documents samples` renders and signs every kind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from motcua.cli.main import cli
from tests.api.conftest import DossierApi


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["documents", *args])
    return result.exit_code, result.output


def test_samples_are_signed_and_verify_offline(tmp_path: Path) -> None:
    code, output = _run("samples", str(tmp_path))
    assert code == 0, output
    receipt = tmp_path / "giay_tiep_nhan.pdf"
    assert receipt.exists() and len(list(tmp_path.glob("*.pdf"))) == 8
    code, output = _run("verify", "--offline", str(receipt))
    assert code == 0, output
    assert "Chữ ký số hợp lệ" in output and "Tin cậy: có" in output
    data = bytearray(receipt.read_bytes())
    data[data.index(b"stream\n", len(data) // 4) + 40] ^= 0x20  # a byte of a page's content
    tampered = tmp_path / "sua.pdf"
    tampered.write_bytes(bytes(data))
    code, output = _run("verify", "--offline", str(tampered))
    assert code == 1 and "sửa đổi" in output


def test_verify_against_the_database(
    api: DossierApi, worker: Callable[[], int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.at("2026-03-02 09:00")
    code = api.submit("congdan")["code"]
    api.act("sg.tiepnhan", code, "accept")
    assert worker() == 1
    (receipt,) = api.call("GET", f"/api/v1/dossiers/{code}/documents", "congdan", expect=200)["items"]
    pdf = tmp_path / "bien-nhan.pdf"
    pdf.write_bytes(
        api.client.get(f"/api/v1/documents/{receipt['id']}/pdf", headers=api.auth("congdan")).content
    )
    monkeypatch.setenv("MOTCUA_DATABASE_URL", api.db.engine.url.render_as_string(hide_password=False))
    exit_code, output = _run("verify", str(pdf))
    assert exit_code == 0, output
    assert "trùng khớp từng byte" in output and "Trùng bản đã phát hành: có" in output
    pdf.write_bytes(pdf.read_bytes() + b"\n%%EOF\n")
    exit_code, output = _run("verify", str(pdf))
    assert exit_code == 1, output
