"""The main navigation, by who is looking. Add a page's entry here (message key + path + who sees it)."""

from __future__ import annotations

from dataclasses import dataclass

from motcua.domain.lifecycle import Actor, ActorKind
from motcua.domain.workflow import Role

_HANDLING = frozenset({Role.RECEIVER, Role.PROCESSOR, Role.APPROVER, Role.RETURNER})


@dataclass(frozen=True)
class NavItem:
    key: str  # message key of the label
    href: str
    current: bool = False


def _visible(actor: Actor | None) -> list[tuple[str, str]]:
    if actor is None:
        return [("nav.procedures", "/thu-tuc"), ("nav.track", "/tra-cuu-ho-so")]
    if actor.kind is not ActorKind.OFFICER:
        return [
            ("nav.procedures", "/thu-tuc"),
            ("nav.my_dossiers", "/ho-so-cua-toi"),
            ("nav.track", "/tra-cuu-ho-so"),
        ]
    roles = actor.roles
    items = []
    if Role.RECEIVER in roles:
        items.append(("nav.queue_new", "/mot-cua/moi"))
    if roles & _HANDLING:
        items.append(("nav.queue_mine", "/mot-cua/cua-toi"))
    items.append(("nav.queue_unit", "/mot-cua/don-vi"))
    if Role.RECEIVER in roles:
        items.append(("nav.desk", "/mot-cua/tiep-nhan"))
    if Role.UNIT_ADMIN in roles:
        items.append(("nav.unit_admin", "/mot-cua/quan-tri/can-bo"))
    if Role.CITY_ADMIN in roles:
        items.append(("nav.city_admin", "/mot-cua/quan-tri/thu-tuc"))
        items.append(("outbox.nav", "/mot-cua/quan-tri/viec-nen"))
    items.append(("nav.procedures", "/thu-tuc"))
    return items


def nav_items(actor: Actor | None, path: str) -> list[NavItem]:
    """The entries this visitor sees; the one holding `path` is marked current (`aria-current="page"`)."""
    return [
        NavItem(key, href, current=path == href or path.startswith(f"{href}/"))
        for key, href in _visible(actor)
    ]
