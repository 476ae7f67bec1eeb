"""The documents worker inside `motcua worker` (and the background thread of `motcua serve`): one round issues
what the actions queued and reports how many."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from motcua.cli.worker import worker_round
from motcua.integrations.gateway import Gateway
from motcua.services.runtime import Runtime
from tests.api.conftest import DossierApi


class _Portal:
    """Accepts every status change (the national portal is not what this test is about)."""

    def __init__(self) -> None:
        self.pushed: list[Any] = []

    def push_status(self, change: Any) -> None:
        self.pushed.append(change)


def test_a_worker_round_issues_the_queued_documents(api: DossierApi, runtime: Runtime) -> None:
    gateway = cast(Gateway, SimpleNamespace(portal=_Portal()))
    api.at("2026-03-02 09:00")
    code = api.submit("congdan")["code"]
    api.act("sg.tiepnhan", code, "accept")
    api.act("sg.tiepnhan", api.submit("congdan2")["code"], "refuse_reception", reason="Sai thẩm quyền")

    report = worker_round(runtime, gateway)
    assert report["documents_issued"] == 2
    listing = api.call("GET", f"/api/v1/dossiers/{code}/documents", "congdan", expect=200)
    assert [d["kind"] for d in listing["items"]] == ["giay_tiep_nhan"] and listing["pending"] == []
    assert worker_round(runtime, gateway)["documents_issued"] == 0
