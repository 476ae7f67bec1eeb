"""The officer queue pages' text box over HTTP: a part of a name without diacritics, of a code, odd input."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from motcua.domain.lifecycle import Actor, ActorKind
from tests.web.test_officer_pages import file_online, login, queue_codes, runtime

MAI = Actor(id="cd-079190004321", kind=ActorKind.CITIZEN, name="Nguyễn Thị Mai")


def _codes(client: TestClient[Any], path: str, **params: str) -> list[str]:
    page = client.get(path, params=params)
    assert page.status_code == 200, page.text
    return queue_codes(page.text)


def test_the_text_box_finds_a_name_typed_without_diacritics(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    mai = file_online(rt, citizen=MAI)
    an = file_online(rt)  # Nguyễn Văn An
    login(web_client, "sg.tiepnhan")
    for typed in ("nguyen thi mai", "NGUYỄN THỊ MAI", "thị mai", "Thi Mai"):
        assert _codes(web_client, "/mot-cua/moi", q=typed) == [mai], typed
        assert _codes(web_client, "/mot-cua/don-vi", status="all", q=typed) == [mai], typed
    assert set(_codes(web_client, "/mot-cua/don-vi", status="all", q="nguyen")) == {mai, an}
    # a part of a code, any case; a whole code and a whole personal ID as before
    assert _codes(web_client, "/mot-cua/don-vi", status="all", q=mai[-11:].lower()) == [mai]
    assert _codes(web_client, "/mot-cua/don-vi", status="all", q=an) == [an]
    assert _codes(web_client, "/mot-cua/moi", q="079190004321") == [mai]


@pytest.mark.parametrize("typed", ["%", "_", "\\", "%%", "thị%mai", "a" * 5000, "'; DROP TABLE dossiers; --"])
def test_odd_text_is_literal_and_answers_200(web_client: TestClient[Any], typed: str) -> None:
    file_online(runtime(web_client), citizen=MAI)
    login(web_client, "sg.tiepnhan")
    for path in ("/mot-cua/moi", "/mot-cua/don-vi", "/mot-cua/cua-toi"):
        assert _codes(web_client, path, status="all", q=typed) == []
