"""Two ways to put mimo-select in front of MiMo, a few lines each.

1. Any Python gateway: call `choose(body)` before forwarding the request.
2. LiteLLM proxy: a custom pre-call hook. LiteLLM is not a dependency of mimo-select; this file
   imports it only inside the hook's module when LiteLLM loads it (`callbacks` in its config).

A body that names a model keeps it. When that model does not fit, these examples switch to the
best one that does (`fallback=True`) and log the switch, so nobody downstream is surprised;
drop `fallback=True` to refuse such requests instead.
"""

from __future__ import annotations

import logging
from typing import Any

from mimo_select import MimoSelectError, Selector

SELECTOR = Selector.default()  # built once; thread-safe; no I/O per request
log = logging.getLogger("mimo_select.gateway")


def choose(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The body to send (model set) and the models to try next if it fails, in order."""
    decision = SELECTOR.route(body)
    new = decision.apply(body, fallback=True)
    if decision.requested is not None and not decision.requested_fits:
        why = decision.rejection(decision.requested)
        log.warning(
            "switched %s -> %s: %s",
            decision.requested,
            new["model"],
            why.violations[0].message if why else "does not fit",
        )
    return new, list(decision.fallbacks)


def make_litellm_hook() -> Any:
    """A LiteLLM `CustomLogger` that sets `model` on every MiMo chat request."""
    from litellm.integrations.custom_logger import CustomLogger

    class MimoSelectHook(CustomLogger):  # type: ignore[misc]
        async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):  # type: ignore[no-untyped-def]
            if call_type not in ("completion", "acompletion"):
                return data
            try:
                body, _ = choose(data)
            except MimoSelectError as exc:  # a malformed body, or nothing fits: say why
                raise ValueError(f"mimo-select: {exc}") from exc
            return body

    return MimoSelectHook()
