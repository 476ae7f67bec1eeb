"""All tables, on one MetaData. Import this package to register every table."""

import importlib
import pkgutil

from sqlalchemy import MetaData

from motcua.store.schema.base import metadata

__all__ = ["load_all", "metadata"]


def load_all() -> MetaData:
    """Import every module of this package (each area registers its tables) and return the shared metadata."""
    for module in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        importlib.import_module(module.name)
    return metadata
