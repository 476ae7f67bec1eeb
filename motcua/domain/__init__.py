"""Pure rules: no I/O, no clock, no database. Everything here is deterministic given its inputs.

Optional accelerator: `make compile` (`python -m motcua.domain._build`) compiles the engine's modules
(`COMPILED_MODULES`) with mypyc into `build/mypyc/` at the repository root, outside the source tree, with a
stamp holding the SHA-256 of every `domain/*.py` it was built from. On import, this package puts that directory
first on its `__path__` — so `motcua.domain.lifecycle` etc. load as C extensions — only when the stamp matches
the current sources byte for byte and the build is for this interpreter; otherwise (no build, no compiler, a
source edited since, another Python, or `MOTCUA_PURE=1`) everything runs as the pure Python beside this file.
`compiled()` says which. (The import-time check reads and hashes ≈ 200 kB once per process: ≈ 1 ms.)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
import sysconfig
from pathlib import Path

COMPILED_MODULES = ("clock", "workflow", "calendar", "lifecycle")
"""The modules the engine runs (`lifecycle.submit`/`decide`, its calendar and workflow), compiled together."""
GROUP = "motcua_domain"
"""mypyc's name for the group: its shared runtime library is the top-level module `motcua_domain__mypyc`."""

_HERE = Path(__file__).resolve().parent
_log = logging.getLogger(__name__)


def sources_digest(directory: Path = _HERE) -> str:
    """SHA-256 over every `*.py` of `directory` but `__init__.py` (names and bytes, in name order): any edit
    to any domain module — compiled or one they import — makes a build stale."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.py")):
        if path.name == "__init__.py":
            continue
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def build_directory() -> Path:
    """Where `make compile` puts the build: `$MOTCUA_MYPYC_DIR`, else `build/mypyc` at the repository root."""
    override = os.environ.get("MOTCUA_MYPYC_DIR")
    return Path(override) if override else _HERE.parents[1] / "build" / "mypyc"


def build_status(directory: Path | None = None) -> tuple[bool, str]:
    """(usable, why): whether the build in `directory` may run for these sources on this interpreter."""
    directory = build_directory() if directory is None else directory
    try:
        stamp = json.loads((directory / "stamp.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False, "no compiled build"
    except (OSError, ValueError) as exc:
        return False, f"unreadable stamp ({exc})"
    if not isinstance(stamp, dict) or stamp.get("modules") != list(COMPILED_MODULES):
        return False, "the build compiled other modules"
    if stamp.get("ext_suffix") != sysconfig.get_config_var("EXT_SUFFIX"):
        return False, f"the build is for another Python ({stamp.get('ext_suffix')})"
    if stamp.get("sources") != sources_digest():
        return False, "stale: domain/*.py changed since the build (run `make compile`)"
    suffix = stamp["ext_suffix"]
    missing = [
        name
        for name in (*(f"motcua/domain/{m}{suffix}" for m in COMPILED_MODULES), f"lib/{GROUP}__mypyc{suffix}")
        if not (directory / name).is_file()
    ]
    if missing:
        return False, f"incomplete build (missing {', '.join(missing)})"
    return True, f"mypyc {stamp.get('mypy', '?')}"


def _activate() -> str | None:
    """Put a usable build first on this package's path; its label, or None for pure Python."""
    if os.environ.get("MOTCUA_PURE", "") not in ("", "0"):
        return None
    directory = build_directory()
    usable, why = build_status(directory)
    if not usable:
        if why != "no compiled build":
            _log.warning("motcua.domain: compiled engine not used, %s; running pure Python", why)
        return None
    name = f"{GROUP}__mypyc"
    if name not in sys.modules:  # the group's runtime library, which each compiled module imports by name
        path = directory / "lib" / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            _log.warning("motcua.domain: cannot load %s; running pure Python", path)
            return None
        library = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(library)
        except ImportError as exc:
            _log.warning("motcua.domain: cannot load %s (%s); running pure Python", path, exc)
            return None
        sys.modules[name] = library
    __path__.insert(0, str(directory / "motcua" / "domain"))
    return why


_COMPILED = _activate()


def compiled() -> str | None:
    """The compiled engine's label (e.g. "mypyc 2.4.1") when its modules load from the build, else None."""
    return _COMPILED
