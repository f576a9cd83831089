"""Two ways to put mimo-select in front of MiMo, a few lines each.

1. Any Python gateway: call `choose(body)` before forwarding the request.
2. LiteLLM proxy: a custom pre-call hook. LiteLLM is not a dependency of mimo-select; this file
   imports it only inside the hook's module when LiteLLM loads it (`callbacks` in its config).
"""

from __future__ import annotations

from typing import Any

from mimo_select import MimoSelectError, Selector

SELECTOR = Selector.default()  # built once; thread-safe; no I/O per request


def choose(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The body to send (model set) and the models to try next if it fails, in order."""
    decision = SELECTOR.route(body)
    return decision.apply(body), list(decision.fallbacks)


def make_litellm_hook() -> Any:
    """A LiteLLM `CustomLogger` that sets `model` on every MiMo chat request."""
    from litellm.integrations.custom_logger import CustomLogger

    class MimoSelectHook(CustomLogger):  # type: ignore[misc]
        async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):  # type: ignore[no-untyped-def]
            if call_type not in ("completion", "acompletion"):
                return data
            try:
                decision = SELECTOR.route(data)
            except MimoSelectError as exc:  # a malformed body: let LiteLLM report it
                data.setdefault("metadata", {})["mimo_select_error"] = str(exc)
                return data
            if decision.model is None:
                raise ValueError(
                    f"no MiMo model fits this request: {decision.to_json()['rejected']}"
                )
            return decision.apply(data)

    return MimoSelectHook()
