"""Workflow definitions: packaged YAML files → validated → stored per version in the database.

A stored version is immutable: dossiers in flight keep the version they started with, so changing a
published version's file is refused; publish a new version (a new file `<id>.v<N+1>.yaml`) instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, select

from motcua.domain.errors import Conflict, InvalidInput, NotFound
from motcua.domain.workflow import Workflow, parse_workflow
from motcua.store.schema.workflows import workflow_definitions

PACKAGE_DIR = Path(str(resources.files("motcua") / "data" / "workflows"))


def _content_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def read_definition_files(directory: Path = PACKAGE_DIR) -> list[dict[str, Any]]:
    """Every workflow file in the folder, parsed and validated (raises InvalidInput naming the file)."""
    definitions = []
    for path in sorted(directory.glob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidInput(
                "workflow.bad_yaml", f"Tệp quy trình {path.name} không phải YAML hợp lệ: {exc}"
            ) from exc
        workflow = parse_workflow(data)
        if path.name != f"{workflow.id}.v{workflow.version}.yaml":
            raise InvalidInput(
                "workflow.bad_file_name",
                f"Tệp {path.name} phải có tên {workflow.id}.v{workflow.version}.yaml theo mã và phiên bản.",
            )
        definitions.append(data)
    return definitions


@lru_cache(maxsize=1)
def workflow_ids() -> frozenset[str]:
    """Ids of the packaged workflows (for validating the catalog)."""
    return frozenset(str(d["id"]) for d in read_definition_files())


@dataclass(frozen=True)
class SyncReport:
    created: int
    unchanged: int


def sync_workflows(conn: Connection, *, now: datetime, directory: Path = PACKAGE_DIR) -> SyncReport:
    """Store new workflow versions; refuse a changed definition for a version already stored."""
    stored = {
        (row.id, row.version): row.content_hash
        for row in conn.execute(
            select(
                workflow_definitions.c.id, workflow_definitions.c.version, workflow_definitions.c.content_hash
            )
        )
    }
    created = unchanged = 0
    for data in read_definition_files(directory):
        key = (str(data["id"]), int(data["version"]))
        digest = _content_hash(data)
        if key in stored:
            if stored[key] != digest:
                raise Conflict(
                    "workflow.version_changed",
                    f"Quy trình {key[0]} phiên bản {key[1]} đã được ban hành và không thể sửa; hãy tạo phiên bản mới.",
                )
            unchanged += 1
            continue
        conn.execute(
            workflow_definitions.insert().values(
                id=key[0],
                version=key[1],
                name=str(data.get("name") or key[0]),
                definition=data,
                content_hash=digest,
                loaded_at=now,
            )
        )
        created += 1
    return SyncReport(created, unchanged)


class WorkflowRegistry:
    """Loaded workflow versions, cached: a stored version never changes, so caching is always safe."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], Workflow] = {}

    def get(self, conn: Connection, workflow_id: str, version: int) -> Workflow:
        key = (workflow_id, version)
        if key not in self._cache:
            row = conn.execute(
                select(workflow_definitions.c.definition).where(
                    workflow_definitions.c.id == workflow_id, workflow_definitions.c.version == version
                )
            ).first()
            if row is None:
                raise NotFound(
                    "workflow.not_found", f"Không tìm thấy quy trình {workflow_id} phiên bản {version}."
                )
            self._cache[key] = parse_workflow(row.definition)
        return self._cache[key]

    def latest(self, conn: Connection, workflow_id: str) -> Workflow:
        version = conn.execute(
            select(workflow_definitions.c.version)
            .where(workflow_definitions.c.id == workflow_id)
            .order_by(workflow_definitions.c.version.desc())
            .limit(1)
        ).scalar()
        if version is None:
            raise NotFound("workflow.not_found", f"Không tìm thấy quy trình {workflow_id}.")
        return self.get(conn, workflow_id, int(version))
