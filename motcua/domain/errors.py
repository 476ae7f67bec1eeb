"""Domain errors carry a stable machine-readable code and a Vietnamese message.

The API maps `kind` to an HTTP status; the CLI prints the message and exits non-zero.
"""

from __future__ import annotations

from typing import Any, Literal

ErrorKind = Literal["invalid", "forbidden", "not_found", "conflict", "unauthenticated"]


class DomainError(Exception):
    """A rule was broken by the input. Nothing has been changed."""

    kind: ErrorKind = "invalid"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details


class InvalidInput(DomainError):
    kind: ErrorKind = "invalid"


class Forbidden(DomainError):
    kind: ErrorKind = "forbidden"


class NotFound(DomainError):
    kind: ErrorKind = "not_found"


class Conflict(DomainError):
    kind: ErrorKind = "conflict"


class Unauthenticated(DomainError):
    kind: ErrorKind = "unauthenticated"
