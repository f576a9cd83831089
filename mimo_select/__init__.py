"""mimo-select: which MiMo model should this request go to, and what limits would it break?"""

from typing import Any

from .catalog import Catalog, GuideEntry, Length, Model, load_catalog
from .engine import Candidate, Decision, Explanation, Reason, Rejection, Selector, Violation
from .errors import (
    CatalogError,
    DataError,
    MimoSelectError,
    RequestError,
    RulesError,
    TraitsError,
    UnknownModelError,
)
from .rules import RuleSet, load_rules
from .traits import Traits


def __getattr__(name: str) -> Any:
    """`__version__`, read from the installed metadata only when asked (it costs 30 ms)."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("mimo-select")
        except PackageNotFoundError:  # pragma: no cover - a bare checkout
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Candidate",
    "Catalog",
    "CatalogError",
    "DataError",
    "Decision",
    "Explanation",
    "GuideEntry",
    "Length",
    "MimoSelectError",
    "Model",
    "Reason",
    "Rejection",
    "RequestError",
    "RuleSet",
    "RulesError",
    "Selector",
    "Traits",
    "TraitsError",
    "UnknownModelError",
    "Violation",
    "__version__",
    "load_catalog",
    "load_rules",
]
