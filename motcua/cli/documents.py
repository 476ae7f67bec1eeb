"""`motcua documents …`: verify a signed PDF, set up the development CA, render sample documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy import inspect

from motcua.documents.settings import DocumentSettings
from motcua.domain.clock import SystemClock


@click.group(help="Tài liệu điện tử: giấy tờ một cửa, kết quả, chữ ký số và xác minh.")
def documents() -> None:
    pass


def _offline_report(data: bytes, settings: DocumentSettings) -> dict[str, Any]:
    """Signatures only (no database to compare with)."""
    from motcua.documents.pki import trust_roots
    from motcua.documents.verification import verify_pdf

    result = verify_pdf(data, trust_roots(settings))
    ok = result.intact and result.valid and result.trusted and not result.modified
    last = result.signatures[-1] if result.signatures else None
    return {
        "ok": ok,
        "verdict": "valid_signature" if ok else ("modified" if result.modified else "invalid"),
        "message": "Chữ ký số hợp lệ (chưa đối chiếu với bản đã phát hành)."
        if ok
        else "Tài liệu đã bị sửa đổi hoặc chữ ký số không hợp lệ.",
        "sha256": result.sha256,
        "intact": result.intact,
        "valid": result.valid,
        "trusted": result.trusted,
        "modified": result.modified,
        "matches_issued": None,
        "signer": last.signer if last else None,
        "signing_time": last.signing_time.isoformat() if last and last.signing_time else None,
        "timestamp": last.timestamp.isoformat() if last and last.timestamp else None,
    }


@documents.command(help="Xác minh tệp PDF đã ký; thoát với mã 0 nếu hợp lệ, 1 nếu không.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--offline", is_flag=True, help="Chỉ kiểm tra chữ ký, không đối chiếu với cơ sở dữ liệu.")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
def verify(file: Path, offline: bool, as_json: bool) -> None:
    data = file.read_bytes()
    settings = DocumentSettings.from_env()
    if offline:
        report = _offline_report(data, settings)
    else:
        from motcua.services.documents import verify_upload
        from motcua.services.runtime import Runtime
        from motcua.store.db import Database
        from motcua.store.schema.documents import issued_documents

        db = Database()
        try:
            if not inspect(db.engine).has_table(issued_documents.name):
                report = _offline_report(data, settings)
            else:
                report = verify_upload(Runtime(db=db, clock=SystemClock()), data)
        finally:
            db.dispose()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(report["message"])
        for key, label in (
            ("signer", "Người ký"),
            ("signing_time", "Thời điểm ký"),
            ("timestamp", "Dấu thời gian"),
            ("intact", "Toàn vẹn"),
            ("valid", "Chữ ký hợp lệ"),
            ("trusted", "Tin cậy"),
            ("matches_issued", "Trùng bản đã phát hành"),
            ("sha256", "SHA-256"),
        ):
            click.echo(f"  {label}: {_show(report.get(key))}")
    raise SystemExit(0 if report["ok"] else 1)


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "có" if value else "không"
    return str(value)


@documents.command("pki", help="Tạo (nếu chưa có) CA phát triển tại MOTCUA_PKI_DIR và in thông tin.")
def pki_info() -> None:
    from motcua.documents.pki import LocalPki, cert_fingerprint, to_asn1

    settings = DocumentSettings.from_env()
    if settings.backend != "local":
        raise click.ClickException("MOTCUA_SIGNING_BACKEND=pkcs11: khoá nằm trên thiết bị PKCS#11.")
    store = LocalPki(settings.pki_dir)
    _, cert = store.ca(now=SystemClock().now())
    click.echo(f"CA: {cert.subject.rfc4514_string()}")
    click.echo(f"Chứng thư: {store.ca_cert_path}")
    click.echo(f"SHA-256: {cert_fingerprint(to_asn1(cert))}")
    click.echo(f"Hiệu lực đến: {cert.not_valid_after_utc:%d/%m/%Y}")


@documents.command(help="Dựng và ký mẫu mọi loại tài liệu (dữ liệu mẫu) vào thư mục OUT để xem.")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
def samples(out: Path) -> None:
    from motcua.documents import samples as sample_data
    from motcua.documents import templates
    from motcua.documents.pki import UnitIdentity, keystore
    from motcua.documents.render import render_pdf
    from motcua.documents.signing import SignatureBox, sign_pdf, timestamper_for

    settings = DocumentSettings.from_env()
    out.mkdir(parents=True, exist_ok=True)
    at = sample_data.SAMPLE_AT
    unit = UnitIdentity("phuong-sai-gon", "Phường Sài Gòn", "001.00.70.H29")
    signer = keystore(settings).signer_for(unit, now=at)
    for kind_id in templates.registry().kinds:
        document_id = f"mau-{kind_id.replace('_', '-')}"[:32]
        rendered = render_pdf(
            kind_id,
            sample_data.sample_context(kind_id),
            document_id=document_id,
            url=settings.verification_url(document_id),
            issued_at=at,
        )
        box = None
        if rendered.signature_page is not None and rendered.signature_rect is not None:
            box = SignatureBox(rendered.signature_page, rendered.signature_rect)
        signed = sign_pdf(
            rendered.pdf,
            signer,
            at=at,
            reason="Mẫu tài liệu",
            location=unit.name,
            box=box,
            timestamper=timestamper_for(settings.tsa_url),
        )
        path = out / f"{kind_id}.pdf"
        path.write_bytes(signed)
        click.echo(str(path))
