"""Compile the engine's domain modules with mypyc: `python -m motcua.domain._build` (`make compile`).

The sources (`motcua/__init__.py` and `motcua/domain/*.py`) are copied to a temporary directory, hashed
there and compiled from the copy, so the stamp describes exactly the bytes compiled; the result replaces
`build/mypyc/` (or `$MOTCUA_MYPYC_DIR`, or `--out`) in one rename, the stamp written last. Without mypyc or
a C compiler it prints one line and exits 0 (the product then runs pure Python); `--require` makes that
an error. Not part of the pure domain: a build tool that lives beside the modules it compiles.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from motcua.domain import _HERE, COMPILED_MODULES, GROUP, build_directory, build_status, sources_digest


def _toolchain() -> str | None:
    """Why a build cannot run here (None when it can)."""
    try:
        import mypy.version  # noqa: F401
        from mypyc.build import mypycify  # noqa: F401
        from setuptools import Distribution  # noqa: F401
    except ImportError as exc:
        return f"mypyc is not installed ({exc.name}; it comes with the dev extras)"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    if not sysconfig.get_config_var("EXT_SUFFIX"):
        return "this Python cannot build extension modules"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "no Python headers (Python.h: the python3-dev package)"
    return None


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the C compiler runs)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def build(out: Path) -> dict[str, object]:
    """Compile `COMPILED_MODULES` into `out` (replaced); the stamp written."""
    import mypy.version
    from mypyc.build import mypycify
    from setuptools import Distribution

    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mypyc-", dir=out.parent))
    began = _cpu_seconds()
    wall = time.monotonic()
    cwd = os.getcwd()
    try:
        source = work / "src"
        (source / "motcua" / "domain").mkdir(parents=True)
        shutil.copy2(_HERE.parent / "__init__.py", source / "motcua" / "__init__.py")
        for path in _HERE.glob("*.py"):
            shutil.copy2(path, source / "motcua" / "domain" / path.name)
        digest = sources_digest(source / "motcua" / "domain")
        os.chdir(source)  # module names from paths; no project config, the options below instead
        extensions = mypycify(
            [
                "--strict",
                "--ignore-missing-imports",
                "--python-version",
                f"{sys.version_info.major}.{sys.version_info.minor}",
                "--cache-dir",
                str(work / "mypy-cache"),
                *(f"motcua/domain/{name}.py" for name in COMPILED_MODULES),
            ],
            opt_level="3",
            target_dir=str(work / "c"),
            group_name=GROUP,
        )
        distribution = Distribution({"name": "motcua-domain-mypyc", "ext_modules": extensions})
        distribution.script_name = "motcua.domain._build"
        command = distribution.get_command_obj("build_ext")
        command.build_lib = str(work / "lib")
        command.build_temp = str(work / "temp")
        distribution.run_command("build_ext")
        os.chdir(cwd)
        result = work / "result"
        (result / "motcua" / "domain").mkdir(parents=True)
        (result / "lib").mkdir()
        for name in COMPILED_MODULES:
            built = work / "lib" / "motcua" / "domain" / f"{name}{suffix}"
            shutil.copy2(built, result / "motcua" / "domain" / built.name)
        shutil.copy2(work / "lib" / f"{GROUP}__mypyc{suffix}", result / "lib")
        stamp: dict[str, object] = {
            "sources": digest,
            "modules": list(COMPILED_MODULES),
            "ext_suffix": suffix,
            "python": sys.version.split()[0],
            "mypy": mypy.version.__version__,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_cpu_seconds": round(_cpu_seconds() - began, 1),
            "build_wall_seconds": round(time.monotonic() - wall, 1),
        }
        (result / "stamp.json").write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        # Replace the old build: move it aside, move the new one in, delete the old (a process starting in
        # between finds no stamp and runs pure Python; never a mix of old and new).
        old = work / "old"
        if out.exists():
            out.rename(old)
        result.rename(out)
        return stamp
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m motcua.domain._build", description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="build directory (default: build/mypyc)")
    parser.add_argument("--require", action="store_true", help="fail when mypyc or a C compiler is missing")
    parser.add_argument(
        "--if-stale", action="store_true", help="do nothing when the build matches the current sources"
    )
    args = parser.parse_args(argv)
    out: Path = args.out or build_directory()
    if args.if_stale:
        usable, why = build_status(out)
        if usable:
            print(f"motcua: compiled engine up to date ({why}) in {out}")
            return 0
    missing = _toolchain()
    if missing is not None:
        print(f"motcua: compiled engine not built: {missing}; the engine runs as pure Python")
        return 1 if args.require else 0
    try:
        stamp = build(out.resolve())
    except (Exception, SystemExit) as exc:  # a compiler error: setuptools exits; the product still runs pure
        print(
            f"motcua: compiled engine not built: {type(exc).__name__}: {exc}; the engine runs as pure Python"
        )
        return 1 if args.require else 0
    print(
        f"motcua: compiled engine built with mypyc {stamp['mypy']} into {out} "
        f"({stamp['build_cpu_seconds']} s CPU, {stamp['build_wall_seconds']} s wall)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
