"""mimo-select: which MiMo model should this request go to, and what limits would it break?"""

from importlib.metadata import PackageNotFoundError, version

from .catalog import Catalog, GuideEntry, Length, Model, load_catalog
from .errors import (
    CatalogError,
    DataError,
    MimoSelectError,
    RequestError,
    RulesError,
    TraitsError,
    UnknownModelError,
)

try:
    __version__ = version("mimo-select")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0+unknown"

__all__ = [
    "Catalog",
    "CatalogError",
    "DataError",
    "GuideEntry",
    "Length",
    "MimoSelectError",
    "Model",
    "RequestError",
    "RulesError",
    "TraitsError",
    "UnknownModelError",
    "__version__",
    "load_catalog",
]
