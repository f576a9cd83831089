"""mimo-select: which MiMo model should this request go to, and what limits would it break?

The public names below load their modules on first use, so a command that needs only a few
of them (`mimo-select check` in a pre-commit hook) starts without importing the rest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    CatalogError,
    DataError,
    MimoSelectError,
    NoEligibleModelError,
    NotARequestError,
    RateLimitedError,
    RequestError,
    RulesError,
    TokenizerError,
    TraitsError,
    UnknownModelError,
    UsageError,
    UsageStoreError,
)

if TYPE_CHECKING:
    from .catalog import Catalog, GuideEntry, Length, Model, load_catalog
    from .decisions import (
        Candidate,
        Decision,
        Explanation,
        LoadPlan,
        Reason,
        Rejection,
        Share,
        Violation,
    )
    from .engine import Selector
    from .media import MediaRef, MediaSize
    from .requests import Request, read_request
    from .rules import RuleSet, load_rules
    from .sending import Sent, asend_with_limits, send_with_limits
    from .tokens import TokenCount, count_chat, count_tokens
    from .traits import Traits
    from .usage import (
        AsyncLease,
        AsyncRedisUsage,
        Lease,
        MemoryUsage,
        ModelUsage,
        RedisUsage,
        Refusal,
    )

_LAZY = {
    "AsyncLease": "usage",
    "AsyncRedisUsage": "usage",
    "Lease": "usage",
    "MemoryUsage": "usage",
    "ModelUsage": "usage",
    "RedisUsage": "usage",
    "Refusal": "usage",
    "Sent": "sending",
    "asend_with_limits": "sending",
    "send_with_limits": "sending",
    "Candidate": "decisions",
    "Catalog": "catalog",
    "Decision": "decisions",
    "Explanation": "decisions",
    "GuideEntry": "catalog",
    "Length": "catalog",
    "LoadPlan": "decisions",
    "MediaRef": "media",
    "MediaSize": "media",
    "Model": "catalog",
    "Reason": "decisions",
    "Rejection": "decisions",
    "Request": "requests",
    "RuleSet": "rules",
    "Selector": "engine",
    "Share": "decisions",
    "TokenCount": "tokens",
    "Traits": "traits",
    "Violation": "decisions",
    "count_chat": "tokens",
    "count_tokens": "tokens",
    "load_catalog": "catalog",
    "load_rules": "rules",
    "read_request": "requests",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name == "__version__":  # read from the installed metadata only when asked (30 ms)
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("mimo-select")
        except PackageNotFoundError:  # pragma: no cover - a bare checkout
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsyncLease",
    "AsyncRedisUsage",
    "Candidate",
    "Catalog",
    "CatalogError",
    "DataError",
    "Decision",
    "Explanation",
    "GuideEntry",
    "Lease",
    "Length",
    "LoadPlan",
    "MediaRef",
    "MediaSize",
    "MemoryUsage",
    "MimoSelectError",
    "Model",
    "ModelUsage",
    "NoEligibleModelError",
    "NotARequestError",
    "RateLimitedError",
    "Reason",
    "RedisUsage",
    "Refusal",
    "Rejection",
    "Request",
    "RequestError",
    "RuleSet",
    "RulesError",
    "Selector",
    "Sent",
    "Share",
    "TokenCount",
    "TokenizerError",
    "Traits",
    "TraitsError",
    "UnknownModelError",
    "UsageError",
    "UsageStoreError",
    "Violation",
    "__version__",
    "asend_with_limits",
    "count_chat",
    "count_tokens",
    "load_catalog",
    "load_rules",
    "read_request",
    "send_with_limits",
]
