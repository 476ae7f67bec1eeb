"""Entry point: `motcua <group> <command>`. Each area registers its commands here, one line each."""

from __future__ import annotations

import sys

import click
from sqlalchemy.exc import DBAPIError

from motcua.domain.errors import DomainError


@click.group(help="motcua — hệ thống thông tin giải quyết thủ tục hành chính.")
def cli() -> None:
    pass


# --- command registrations (one line per area) ---
from motcua.cli.calendar import calendar as _calendar_commands  # noqa: E402 - registration block

cli.add_command(_calendar_commands)
# validate commands
from motcua.cli.units import units as _units_commands  # noqa: E402 - registration block
from motcua.cli.validate import validate as _validate_commands  # noqa: E402 - registration block

cli.add_command(_validate_commands)
cli.add_command(_units_commands)
# catalog commands
from motcua.cli.catalog import catalog as _catalog_commands  # noqa: E402 - registration block

cli.add_command(_catalog_commands)
from motcua.cli.audit import audit as _audit_commands  # noqa: E402 - registration block

cli.add_command(_audit_commands)
# db and serve commands
from motcua.cli.server import db_group as _db_commands  # noqa: E402 - registration block
from motcua.cli.server import serve_cmd as _serve_command  # noqa: E402 - registration block

cli.add_command(_db_commands)
cli.add_command(_serve_command)
from motcua.cli.documents import documents as _documents_commands  # noqa: E402 - registration block

cli.add_command(_documents_commands)
# import and bench commands (issue #6)
from motcua.cli.bench import bench_group as _bench_commands  # noqa: E402 - registration block
from motcua.cli.importer import import_group as _import_commands  # noqa: E402 - registration block

cli.add_command(_import_commands)
cli.add_command(_bench_commands)
# sandbox and worker commands (data-sharing gateway)
from motcua.cli.sandbox import sandbox_cmd as _sandbox_command  # noqa: E402 - registration block
from motcua.cli.worker import worker_cmd as _worker_command  # noqa: E402 - registration block

cli.add_command(_sandbox_command)
cli.add_command(_worker_command)
from motcua.cli.reorganize import reorganize as _reorganize_commands  # noqa: E402 - registration block

cli.add_command(_reorganize_commands)
from motcua.cli.outbox import outbox as _outbox_commands  # noqa: E402 - registration block

cli.add_command(_outbox_commands)


def main() -> None:
    """Run the CLI; a DomainError becomes a one-line reason and exit status 1."""
    try:
        cli(standalone_mode=True)
    except DomainError as exc:
        click.echo(f"Lỗi [{exc.code}]: {exc.message}", err=True)
        sys.exit(1)
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        click.echo(
            f"Lỗi [database.unavailable]: không dùng được cơ sở dữ liệu ({reason}); "
            "kiểm tra MOTCUA_DATABASE_URL và chạy `motcua db setup`.",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
