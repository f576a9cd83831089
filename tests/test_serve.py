"""`mimo-select serve`: the HTTP service, in-process (httpx over ASGI) and as a real server
process on a free 127.0.0.1 port; the OpenAPI document fuzzed with schemathesis."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimo_select import MemoryUsage, MimoSelectError, Selector, Traits
from mimo_select._contract import DecisionOut
from mimo_select.errors import UsageError, UsageStoreWarning
from mimo_select.serve import add_arguments, create_app, run
from mimo_select.serve._openapi import ExplanationOut, ModelDetail, TokenCountOut, UsageOut

from .conftest import JSON, ROOT, run_cli
from .hostile import corpus
from .redis_server import RedisServer, redis_server, redis_url
from .serve_client import AppClient, ServerProcess

__all__ = ["redis_server", "redis_url"]  # the fixtures this module uses

PROBLEM = "application/problem+json"
README = (ROOT / "README.md").read_text(encoding="utf-8")
WEATHER = json.loads((ROOT / "examples" / "weather.json").read_text())
PINNED = json.loads((ROOT / "examples" / "bodies" / "pinned-flash.json").read_text())

# an OpenAI chat body as the official SDK sends it (client.chat.completions.create(...))
OPENAI = {
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is in this image? Call a tool if you need one."},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png",
                                                "detail": "auto"}},
        ]},
    ],
    "model": "auto",
    "max_completion_tokens": 1024,
    "stream": False,
    "tool_choice": "auto",
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}],
}  # fmt: skip


@pytest.fixture(scope="module")
def client() -> Iterator[AppClient]:
    with AppClient(create_app(echo=True)) as c:
        yield c


def problem(response: Any, status: int) -> dict[str, Any]:
    """The problem details of `response`, checked for their RFC 9457 shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:mimo-select:problem:")
    assert body["title"]
    assert body["detail"]
    return dict(body)


# --- route -------------------------------------------------------------------------------------


def test_route_answers_the_decision_contract_as_the_library_does(client: AppClient) -> None:
    for body in (OPENAI, WEATHER):
        response = client.post("/v1/route", json=body)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        DecisionOut.model_validate(response.json())
        assert response.json() == Selector.default().route(body).to_json()
    assert client.post("/v1/route", json=OPENAI).json()["model"] == "mimo-v2.5"


def test_route_exact_reports_the_count_as_the_cli_does(client: AppClient) -> None:
    code, out, _ = run_cli("route", "examples/weather.json", "--json")
    assert code == 0
    got = client.post("/v1/route?exact=true", json=WEATHER).json()
    assert got == json.loads(out)
    assert got["tokens"] == {**got["tokens"], "input": 310, "exact": True}


def _readme_curls() -> list[tuple[list[str], list[str]]]:
    """(curl's arguments, the lines it shows) for every `$ curl` in the README's Serve
    section: the examples a reader pastes first."""
    serve = README.split("\n## Serve\n", 1)[1].split("\n## ", 1)[0]
    found = []
    for block in re.findall(r"```console\n(.*?)```", serve, re.S):
        for session in re.split(r"^(?=\$ )", block, flags=re.M):
            if not session.startswith("$ curl"):
                continue
            command, *shown = session.replace("\\\n", " ").splitlines()
            found.append((shlex.split(command[2:]), shown))
    return found


@pytest.mark.parametrize(("argv", "shown"), _readme_curls(), ids=lambda v: str(v)[:60])
def test_the_readme_s_curl_examples_answer_what_they_show(
    argv: list[str], shown: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIMO_SELECT_TODAY", "2026-11-30")  # the day they were written
    url = next(a for a in argv if a.startswith("http"))
    data = argv[argv.index("-d") + 1] if "-d" in argv else None
    with AppClient(create_app()) as c:
        got = c.post(url, content=data, headers={"content-type": "application/json"})
    assert json.loads(shown[-1]) == got.json()
    if "-i" in argv:  # the status line and mimo-select's own headers, as shown
        assert shown[0] == f"HTTP/1.1 {got.status_code} {got.reason_phrase}"
        for line in shown[1:]:
            name, _, value = line.partition(": ")
            if name.startswith("x-mimo-select-"):
                assert got.headers[name] == value


def test_the_fields_one_can_ask_for_are_the_contract_s_keys() -> None:
    from mimo_select import Decision

    assert sorted(Decision.FIELDS) == sorted(DecisionOut.model_fields)


def test_fields_keep_only_the_keys_asked_for(client: AppClient) -> None:
    full = client.post("/v1/route", json=OPENAI).json()
    lean = client.post("/v1/route?fields=model,fallbacks", json=OPENAI)
    assert lean.status_code == 200
    assert lean.json() == {"model": "mimo-v2.5", "fallbacks": full["fallbacks"]}
    spaced = client.post("/v1/recommend?fields=model, rejected", json={"features": ["web_search"]})
    assert spaced.json().keys() == {"model", "rejected"}
    wrong = problem(client.post("/v1/route?fields=model,fallback", json=OPENAI), 422)
    assert "unknown name 'fallback' (did you mean 'fallbacks'?)" in wrong["detail"]
    assert wrong["where"] == "fields"
    # a lease taken is handed over whatever the fields
    with AppClient(create_app(usage=MemoryUsage(limits={"mimo-v2.5": {"rpm": 5}}))) as c:
        got = c.post("/v1/route?fields=model", json=OPENAI).json()
        assert got.keys() == {"model", "lease"}
        assert c.post(f"/v1/leases/{got['lease']['id']}/release").status_code == 200


def test_as_of_answers_from_that_day_s_catalog(client: AppClient) -> None:
    today = Selector.default(as_of="2026-11-30")
    ids = [m["id"] for m in client.get("/v1/models?as_of=2026-11-30").json()]
    assert ids == list(today.catalog.ids)
    assert "mimo-v2.6-flash" not in [m["id"] for m in client.get("/v1/models").json()]
    assert client.get("/v1/models/mimo-v2-flash?as_of=2026-11-30").json()["status"] == "retired"
    got = client.post("/v1/route?as_of=2026-11-30", json=OPENAI).json()
    assert got == today.route(OPENAI).to_json()
    traits = {"input_tokens": 1000, "max_cost": 0.001}
    got = client.post("/v1/recommend?as_of=2026-11-30", json=traits).json()
    assert got == today.select(Traits(**traits)).to_json()
    explained = client.post(
        "/v1/explain?as_of=2026-11-30", json={"model": "mimo-v2.6-pro", "traits": traits}
    ).json()
    assert explained["eligible"] is False
    early = problem(client.get("/v1/models?as_of=2020-01-01"), 422)
    assert "before the catalog's snapshot (2026-05-15)" in early["detail"]
    assert early["where"] == "as_of"
    assert (
        "give YYYY-MM-DD or 'today'" in problem(client.get("/v1/models?as_of=soon"), 422)["detail"]
    )
    # an app given its own selector, and no way to build another day's, says so
    with AppClient(create_app(Selector.default())) as c:
        alone = problem(c.post("/v1/route?as_of=today", json=OPENAI), 422)
        assert "answers for its own catalog only" in alone["detail"]


def test_route_apply_returns_the_body_to_send(client: AppClient) -> None:
    response = client.post("/v1/route?apply=true", json=OPENAI)
    assert response.status_code == 200
    assert response.json() == {**OPENAI, "model": "mimo-v2.5"}
    assert response.headers["x-mimo-select-model"] == "mimo-v2.5"
    assert response.headers["x-mimo-select-fallbacks"] == "mimo-v2-omni"
    assert "x-mimo-select-lease" not in response.headers  # no live limits here


def test_route_apply_keeps_a_pinned_model_unless_fallback(client: AppClient) -> None:
    best = Selector.default().route(PINNED).model  # the library's choice instead
    refused = problem(client.post("/v1/route?apply=true", json=PINNED), 422)
    assert refused["detail"] == (
        "the body asks for mimo-v2-flash, which does not fit (needs 100,000 output tokens; "
        f"maximum output is 65,536); {best} fits (?fallback=true switches to it)"
    )
    assert refused["pointer"] == "/model"
    assert refused["decision"]["requested"] == {"model": "mimo-v2-flash", "fits": False}
    switched = client.post("/v1/route?apply=true&fallback=true", json=PINNED)
    assert switched.json()["model"] == best
    assert switched.headers["x-mimo-select-switched-from"] == "mimo-v2-flash"


def test_a_bad_body_is_400_or_422_with_the_library_message_and_path(client: AppClient) -> None:
    bad = {"model": "auto", "messages": [{"role": "user", "content": 5}]}
    with pytest.raises(MimoSelectError) as raised:
        Selector.default().route(bad)
    got = problem(client.post("/v1/route", json=bad), 422)
    assert got["detail"] == raised.value.message
    assert got["where"] == "$.messages[0].content"
    assert got["pointer"] == "/messages/0/content"
    assert got["error"] == "RequestError"
    assert problem(client.post("/v1/route", json={"foo": 1}), 422)["error"] == "NotARequestError"
    unknown = problem(client.post("/v1/route", json={**OPENAI, "model": "mimo-v3"}), 422)
    assert unknown["detail"] == "unknown model 'mimo-v3' (did you mean 'mimo-v2.5'?)"
    assert unknown["pointer"] == "/model"
    for raw, line in ((b'{"messages": [\n  {"role": "user",', 2), (b'{"a": NaN}', 1)):
        malformed = problem(
            client.post("/v1/route", content=raw, headers={"content-type": "application/json"}), 400
        )
        assert "malformed JSON" in malformed["detail"]
        assert f"line {line}" in malformed["detail"]
    deep = "[" * 100_000 + "]" * 100_000  # past the reader's 128 levels, and Python's stack
    too_deep = problem(
        client.post("/v1/route", content=deep, headers={"content-type": "application/json"}), 400
    )
    assert "nested more than 128 levels" in too_deep["detail"]
    empty = problem(
        client.post("/v1/route", content=b"", headers={"content-type": "application/json"}), 422
    )
    assert empty["pointer"] == ""


def test_a_body_needs_json_content_type(client: AppClient) -> None:
    got = problem(client.post("/v1/route", content=json.dumps(OPENAI)), 415)
    assert "application/json" in got["detail"]
    form = client.post(
        "/v1/route", content=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    problem(form, 415)
    ok = client.post(
        "/v1/route",
        content=json.dumps(OPENAI),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200


def test_hostile_bodies_never_give_a_server_error(client: AppClient) -> None:
    for name, body in corpus().items():
        try:
            raw = json.dumps(body).encode()
        except RecursionError:  # deeper than json.dumps goes: sent as text below
            continue
        for path in ("/v1/route", "/v1/tokens", "/v1/route?apply=true&exact=true"):
            response = client.post(path, content=raw, headers={"content-type": "application/json"})
            assert response.status_code in (200, 400, 422), (name, path, response.text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=JSON, path=st.sampled_from(["/v1/route?apply=true", "/v1/recommend", "/v1/explain",
                                        "/v1/tokens", "/v1/route?exact=true"]))  # fmt: skip
def test_any_json_is_answered_without_a_server_error(body: Any, path: str) -> None:
    with AppClient(_APP) as c:
        response = c.post(path, content=json.dumps(body),
                          headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code in (200, 400, 422), response.text
    if response.status_code != 200:
        assert response.headers["content-type"] == PROBLEM


_APP = create_app()


# --- recommend, explain, tokens, models ----------------------------------------------------------


def test_recommend_takes_the_traits_names(client: AppClient) -> None:
    traits = {"input_modalities": ["text", "image"], "features": ["function_call"]}
    got = client.post("/v1/recommend", json=traits).json()
    assert got == Selector.default().select(Traits.from_json(traits)).to_json()
    assert got["model"] == "mimo-v2.5"
    bad = problem(client.post("/v1/recommend", json={"input_modalities": ["imag"]}), 422)
    assert bad["detail"] == ("unknown value 'imag' (did you mean 'image'?); allowed: audio, "
                             "image, text, video")  # fmt: skip
    assert (bad["where"], bad["pointer"], bad["error"]) == (
        "input_modalities",
        "/input_modalities",
        "TraitsError",
    )
    unknown = problem(client.post("/v1/recommend", json={"vision": True}), 422)
    assert unknown["pointer"] == "/vision"
    scenario = problem(client.post("/v1/recommend", json={"scenario": "tts"}), 422)
    assert scenario["pointer"] == "/scenario"
    assert problem(client.post("/v1/recommend", json=[1]), 422)["pointer"] == ""


def test_a_tiny_max_cost_is_a_decision_not_a_server_error(client: AppClient) -> None:
    """Found by schemathesis: `max_cost` 5e-324 made a violation's `parts` infinite."""
    response = client.post("/v1/recommend", json={"max_cost": 5e-324})
    assert response.status_code == 200, response.text
    assert response.json()["model"] is None


def test_recommend_plans_a_load(client: AppClient) -> None:
    got = client.post("/v1/recommend", json={"latency": "low", "expected_rpm": 500}).json()
    assert got["model"] is None
    assert got["plan"]["covers"] is True


def test_explain_is_the_library_explanation(client: AppClient) -> None:
    body = {"model": "mimo-v2-flash", "traits": {"input_tokens": 300_000}}
    got = client.post("/v1/explain", json=body).json()
    ExplanationOut.model_validate(got)
    assert (
        got == Selector.default().explain("mimo-v2-flash", Traits(input_tokens=300_000)).to_json()
    )
    assert got["violations"][0]["rule"] == "context-window"
    bad = problem(client.post("/v1/explain", json={"model": "mimo-x"}), 422)
    assert bad["pointer"] == "/model"
    assert "did you mean 'mimo-v2.5'" in bad["detail"]
    trait = problem(
        client.post("/v1/explain", json={"model": "mimo-v2.5", "traits": {"voice": "clon"}}), 422
    )
    assert trait["pointer"] == "/traits/voice"
    assert problem(client.post("/v1/explain", json={"model": "mimo-v2.5", "x": 1}),
                   422)["pointer"] == "/x"  # fmt: skip


def test_tokens_counts_as_the_cli_does(client: AppClient) -> None:
    _code, out, _ = run_cli("tokens", "examples/weather.json", "--json")
    (expected,) = json.loads(out)["files"]
    del expected["path"]
    got = client.post("/v1/tokens", json=WEATHER).json()
    assert got == expected
    TokenCountOut.model_validate(got)
    text = client.post(
        "/v1/tokens", content="hello world", headers={"content-type": "text/plain; charset=utf-8"}
    ).json()
    assert (text["api"], text["input"], text["exact"]) == ("text", 2, True)
    audio = {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {
        "data": "https://example.com/a.mp3", "format": "mp3"}}]}]}  # fmt: skip
    got = client.post("/v1/tokens", json=audio).json()
    assert got["exact"] is False
    assert got["notes"]


def test_models_as_the_cli_lists_them(client: AppClient) -> None:
    assert client.get("/v1/models").json() == json.loads(run_cli("models", "--json")[1])
    for model in Selector.default().catalog.ids:
        got = client.get(f"/v1/models/{model}").json()
        ModelDetail.model_validate(got)
        assert got == json.loads(run_cli("models", model, "--json")[1])
    missing = problem(client.get("/v1/models/mimo-v25"), 404)
    assert missing["detail"] == "unknown model 'mimo-v25' (did you mean 'mimo-v2.5'?)"


def test_unknown_paths_and_methods_are_problems(client: AppClient) -> None:
    problem(client.get("/v1/nope"), 404)
    got = problem(client.get("/v1/route"), 405)
    assert got["detail"] == "GET is not allowed here; use POST"
    off = problem(client.get("/v1/usage"), 404)
    assert "--redis" in off["detail"]
    problem(client.post("/v1/leases/abc.1.mimo-v2.5/settle", json={"total_tokens": 1}), 404)


def test_health_and_readiness(client: AppClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "models": 9, "usage": None}


# --- safety ------------------------------------------------------------------------------------


def test_the_size_limit_is_413_before_and_while_reading() -> None:
    with AppClient(create_app(max_body=1000)) as c:
        big = json.dumps({"prompt": "x" * 2000})
        assert problem(
            c.post("/v1/route", content=big, headers={"content-type": "application/json"}), 413
        )["detail"] == ("the request body is over 1,000 bytes, this server's limit (--max-body)")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as read
            yield b'{"prompt": "'
            for _ in range(20):
                yield b"x" * 100
            yield b'"}'

        problem(
            c.post("/v1/tokens", content=chunks(), headers={"content-type": "application/json"}),
            413,
        )
        assert c.post("/v1/tokens", json={"prompt": "x" * 900}).status_code == 200


def test_an_api_key_guards_the_api_not_the_page() -> None:
    with AppClient(create_app(api_key="s3cret")) as c:
        missing = problem(c.get("/v1/models"), 401)
        assert missing["detail"].startswith("this server needs an API key")
        assert c.get("/v1/models").headers["www-authenticate"] == 'Bearer realm="mimo-select"'
        wrong = problem(c.get("/v1/models", headers={"authorization": "Bearer nope"}), 401)
        assert "wrong" in wrong["detail"]
        problem(c.post("/v1/route", json=OPENAI, headers={"x-api-key": "s3cret!"}), 401)
        assert c.get("/v1/models", headers={"authorization": "Bearer s3cret"}).status_code == 200
        assert c.post("/v1/route", json=OPENAI, headers={"x-api-key": "s3cret"}).status_code == 200
        for open_path in ("/", "/assets/app.js", "/openapi.json", "/healthz", "/readyz"):
            assert c.get(open_path).status_code == 200
        doc = c.get("/openapi.json").json()
        assert doc["security"] == [{"bearer": []}, {"apiKey": []}]


def test_no_cors_unless_configured() -> None:
    origin = {"origin": "https://gateway.example"}
    with AppClient(create_app()) as c:
        assert "access-control-allow-origin" not in c.get("/v1/models", headers=origin).headers
        assert c.options("/v1/route", headers={**origin, "access-control-request-method": "POST"}
                         ).status_code == 405  # fmt: skip
    with AppClient(create_app(cors_origins=["https://gateway.example"])) as c:
        got = c.get("/v1/models", headers=origin)
        assert got.headers["access-control-allow-origin"] == "https://gateway.example"
        preflight = c.options("/v1/route", headers={
            **origin, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, authorization"})  # fmt: skip
        assert preflight.status_code == 200
        other = c.get("/v1/models", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_only_the_allowed_host_names_are_served() -> None:
    with AppClient(create_app(allowed_hosts=["127.0.0.1", "localhost", "[::1]"])) as c:
        assert c.get("/healthz").status_code == 200  # 127.0.0.1:8787
        assert c.get("/healthz", headers={"host": "[::1]:8787"}).status_code == 200
        rebound = problem(c.get("/", headers={"host": "attacker.example"}), 421)
        assert "attacker.example" in rebound["detail"]


def test_the_page_is_served_with_a_strict_policy(client: AppClient) -> None:
    page = client.get("/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    html = page.text
    for script in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S):
        assert not script.strip(), "no inline script"
    assert not re.search(r"\son\w+\s*=", html), "no inline event handlers"
    assert not re.search(r"\sstyle\s*=", html), "no inline styles"
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == [], "nothing from elsewhere"
    for path, kind in (("/assets/app.js", "text/javascript"), ("/assets/style.css", "text/css")):
        asset = client.get(path)
        assert asset.headers["content-type"].startswith(kind)
        again = client.get(path, headers={"if-none-match": asset.headers["etag"]})
        assert again.status_code == 304
    assert "innerHTML" not in client.get("/assets/app.js").text
    assert "http" not in re.sub(r"//.*|/openapi\.json", "", client.get("/assets/app.js").text)


# --- live rate limits ----------------------------------------------------------------------------


def test_memory_leases_are_ended_over_http() -> None:
    usage = MemoryUsage(limits={"mimo-v2.5": {"rpm": 1}})
    with AppClient(create_app(usage=usage)) as c:
        first = c.post("/v1/route", json=OPENAI).json()
        lease = first["lease"]
        assert lease["model"] == "mimo-v2.5"
        assert lease["source"] == "memory"
        assert re.fullmatch(r"[0-9a-f]{16}\.\d+\.mimo-v2\.5", lease["id"])
        # the one slot is taken: the next request goes to the fallback, with the numbers
        second = c.post("/v1/route", json=OPENAI).json()
        assert second["model"] == "mimo-v2-omni"
        (full,) = (r for r in second["rejected"] if r["model"] == "mimo-v2.5")
        (live,) = full["violations"]
        assert live["rule"] == "rpm-live"
        assert live["message"].startswith("1 of 1 requests")
        c.post(f"/v1/leases/{second['lease']['id']}/release")
        # a body pinned to the full model: 429 with Retry-After, its slot given back
        pinned = c.post("/v1/route?apply=true", json={**OPENAI, "model": "mimo-v2.5"})
        refused = problem(pinned, 429)
        assert int(pinned.headers["retry-after"]) >= 1
        assert refused["retry_after"] > 0
        # settle with the API's usage object, as the OpenAI SDK returns it
        settled = c.post(
            f"/v1/leases/{lease['id']}/settle",
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
            },
        )
        assert settled.json() == {"lease": lease["id"], "model": "mimo-v2.5",
                                  "state": "settled", "tokens": 150}  # fmt: skip
        again = c.post(f"/v1/leases/{lease['id']}/release").json()
        assert again["state"] == "settled"  # the first call wins
        view = c.get("/v1/usage?active=true").json()
        UsageOut.model_validate(view)
        assert view["models"] == [{"model": "mimo-v2.5", "requests": 1, "rpm": 1, "tokens": 150,
                                   "tpm": 10_000_000, "cooling_for": 0.0,
                                   "frees_in": view["models"][0]["frees_in"],
                                   "empty_in": view["models"][0]["empty_in"]}]  # fmt: skip
        assert (view["source"], view["clock"], view["redis"]) == ("memory", "process", None)
        unknown = problem(c.post("/v1/leases/0123456789abcdef.10.mimo-v2.5/settle",
                                 json={"total_tokens": 1}), 404)  # fmt: skip
        assert "unknown" in unknown["detail"]
        problem(c.post("/v1/leases/x/settle", json={"total_tokens": 1}), 404)
        bad = problem(c.post(f"/v1/leases/{lease['id']}/settle", json={"tokens": 1}), 422)
        assert bad["error"] == "UsageValueError"


def test_a_body_that_is_not_sent_gives_its_slot_back() -> None:
    usage = MemoryUsage()
    with AppClient(create_app(usage=usage)) as c:
        messages = OPENAI["messages"]  # a bare messages list routes, but is no body to send
        problem(c.post("/v1/route?apply=true", json=messages), 422)
        assert c.get("/v1/usage?active=true").json()["models"] == []


def test_large_bodies_are_decided_in_a_thread_as_small_ones_are() -> None:
    from mimo_select.serve._app import OFFLOAD_BYTES

    text = "The quarterly report, again and again. " * (OFFLOAD_BYTES // 30)
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    expected = Selector.default().route(body).to_json(exact_count=True)
    with AppClient(create_app(usage=MemoryUsage())) as c:
        got = c.post("/v1/route?exact=true", json=body).json()
        assert got["lease"]["tokens"] > expected["tokens"]["input"]
        del got["lease"]
        assert got == expected
        count = c.post("/v1/tokens", json=body).json()
        assert count["input"] == expected["tokens"]["input"]
        applied = c.post("/v1/route?apply=true", json=body)
        assert applied.json()["model"] == expected["model"]


def test_a_throttled_lease_cools_the_model_down() -> None:
    usage = MemoryUsage()
    with AppClient(create_app(usage=usage)) as c:
        lease = c.post("/v1/route", json=OPENAI).json()["lease"]["id"]
        bad = problem(c.post(f"/v1/leases/{lease}/throttled", json={"retry_after": -1}), 422)
        assert bad["pointer"] == "/retry_after"
        got = c.post(f"/v1/leases/{lease}/throttled", json={"retry_after": 30}).json()
        assert got["state"] == "throttled"
        after = c.post("/v1/route", json=OPENAI).json()
        assert after["model"] == "mimo-v2-omni"
        assert any(v["rule"] == "cooldown-live" for r in after["rejected"]
                   for v in r["violations"])  # fmt: skip
        page = c.post("/v1/route?reserve=false", json=OPENAI).json()
        assert "lease" not in page  # the page's paste box never takes a slot


def test_openapi_has_live_paths_only_with_a_store() -> None:
    with AppClient(create_app()) as c:
        paths = c.get("/openapi.json").json()["paths"]
        assert not any(p.startswith("/v1/leases") for p in paths)
        assert "/v1/usage" not in paths
    with AppClient(create_app(usage=MemoryUsage())) as c:
        paths = c.get("/openapi.json").json()["paths"]
        assert {"/v1/leases/{lease_id}/settle", "/v1/usage"} <= set(paths)


def test_leases_admitted_by_one_worker_are_settled_by_another(redis_url: str) -> None:
    """Two apps (two workers, or two replicas) on one Redis: a lease taken through one is
    settled through the other, and both read the same counts."""
    from mimo_select import AsyncRedisUsage, RedisUsage

    prefix = "serve-" + os.urandom(4).hex()

    def store() -> AsyncRedisUsage:
        return AsyncRedisUsage(redis_url, account="prod", prefix=prefix)

    with (
        AppClient(create_app(usage=store(), close_usage=True)) as a,
        AppClient(create_app(usage=store(), close_usage=True)) as b,
    ):
        assert a.get("/readyz").json()["usage"] == "redis"
        decision = a.post("/v1/route", json=OPENAI).json()
        lease = decision["lease"]
        assert lease["source"] == "redis"
        assert lease["model"] == "mimo-v2.5"
        applied = b.post("/v1/route?apply=true", json=OPENAI)
        other = applied.headers["x-mimo-select-lease"]
        got = b.post(f"/v1/leases/{lease['id']}/settle",
                     json={"input_tokens": 700, "output_tokens": 100})  # fmt: skip
        assert got.json()["state"] == "settled"
        assert got.json()["tokens"] == 800
        assert a.post(f"/v1/leases/{other}/release").json()["state"] == "released"
        view = b.get("/v1/usage?active=true").json()
        assert view["source"] == "redis"
        assert view["clock"] == "redis"
        assert view["redis"].startswith("redis://127.0.0.1:")
        assert [(m["model"], m["requests"], m["tokens"]) for m in view["models"]] == [
            ("mimo-v2.5", 1, 800)
        ]
        with RedisUsage(redis_url, account="prod", prefix=prefix) as python_side:
            row = next(u for u in python_side.usage() if u.model == "mimo-v2.5")
            assert (row.requests, row.tokens) == (1, 800)  # a Python gateway sees the same


def test_readiness_follows_redis(redis_server: RedisServer) -> None:
    from mimo_select import AsyncRedisUsage

    usage = AsyncRedisUsage(redis_server.url, timeout=0.2, retry_interval=0.1)
    with AppClient(create_app(usage=usage, close_usage=True)) as c:
        assert c.get("/readyz").status_code == 200
        redis_server.stop()
        with pytest.warns(UsageStoreWarning):
            problem(c.get("/readyz"), 503)
        assert c.get("/healthz").status_code == 200
        routed = c.post("/v1/route", json=OPENAI).json()  # open: on a local count
        assert routed["lease"]["source"] == "local"


def test_a_closed_store_that_cannot_count_answers_503() -> None:
    from mimo_select import AsyncRedisUsage

    from .serve_client import free_port

    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    usage = AsyncRedisUsage(nowhere, on_error="closed", timeout=0.2)
    with AppClient(create_app(usage=usage, close_usage=True)) as c:
        down = problem(c.post("/v1/route", json=OPENAI), 503)
        assert down["error"] == "UsageStoreError"
        assert "127.0.0.1" in down["detail"]
        problem(c.get("/readyz"), 503)
        assert c.post("/v1/route?reserve=false", json=OPENAI).status_code == 200


# --- the command line ----------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog")
    parser.add_argument("--rules", action="append", default=[])
    add_arguments(parser)
    return parser.parse_args(argv)


def test_options_and_their_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    args = _args()
    assert (args.host, args.port, args.workers, args.max_body) == ("127.0.0.1", 8787, 1, 32 << 20)
    assert args.cors_origin == []
    assert args.redis is None
    assert _args("--max-body", "4K").max_body == 4096
    for argv, message in (
        (["--memory-usage", "--workers", "2"], "--memory-usage counts in one process"),
        (["--redis", "http://x"], "--redis: bad Redis url"),
        (["--api-key-env", "MIMO_TEST_UNSET_KEY"], "MIMO_TEST_UNSET_KEY is not set"),
        (["--redis", "redis://x", "--memory-usage"], "give one of them"),
    ):
        monkeypatch.delenv("MIMO_TEST_UNSET_KEY", raising=False)
        with pytest.raises(UsageError, match=re.escape(message)):
            run(_args(*argv))


def test_serve_stays_off_the_cli_start_path() -> None:
    """The command line builds its parser (serve's options included) without Starlette,
    uvicorn or pydantic; only the command line reaches for the service."""
    code = (
        "import sys, argparse; from mimo_select import serve; from mimo_select import cli; "
        "cli.build_parser(); serve.add_arguments(argparse.ArgumentParser()); "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for path in (ROOT / "mimo_select").glob("*.py"):
        if path.name in ("cli.py", "_commands.py"):
            continue
        assert not re.search(r"^\s*(from|import)\s+.*\bserve\b", path.read_text(), re.M), path


# --- the real server process ---------------------------------------------------------------------


def test_the_real_server_process(tmp_path: Path) -> None:
    env = {"MIMO_TEST_KEY": "k-123"}
    server = ServerProcess(tmp_path, "--api-key-env", "MIMO_TEST_KEY", "--max-body", "64K", env=env)
    try:
        key = {"authorization": "Bearer k-123", "content-type": "application/json"}
        status, headers, body = server.call("POST", "/v1/route", json.dumps(OPENAI).encode(), key)
        assert status == 200
        assert json.loads(body)["model"] == "mimo-v2.5"
        assert "server" not in headers
        status, _, body = server.call("POST", "/v1/route?apply=true",
                                      json.dumps(WEATHER).encode(), key)  # fmt: skip
        assert status == 200
        assert json.loads(body)["model"] == "mimo-v2.5-pro"
        status, headers, _ = server.call("POST", "/v1/route", json.dumps(OPENAI).encode(),
                                         {"content-type": "application/json"})  # fmt: skip
        assert status == 401
        assert headers["content-type"] == PROBLEM
        status, _, body = server.call("POST", "/v1/route", b'{"messages": [', key)
        assert status == 400
        assert b"malformed JSON" in body
        big = json.dumps({"prompt": "x" * 70_000}).encode()
        status, _, body = server.call("POST", "/v1/tokens", big, key)
        assert status == 413
        assert b"over 64 KiB" in body
        status, headers, body = server.call("GET", "/")
        assert status == 200
        assert "script-src 'self'" in headers["content-security-policy"]
        status, _, _ = server.call("GET", "/healthz", headers={"host": "rebound.example"})
        assert status == 421
    finally:
        log = server.stop()
    assert "mimo-select serve: http://127.0.0.1:" in log
    assert "Traceback" not in log


def test_two_workers_share_leases_through_redis(tmp_path: Path, redis_url: str) -> None:
    prefix = "workers-" + os.urandom(4).hex()
    server = ServerProcess(tmp_path, "--workers", "2", "--redis", redis_url, "--prefix", prefix)
    try:
        json_type = {"content-type": "application/json", "connection": "close"}
        leases = []
        for _ in range(8):  # new connections: the kernel spreads them over both workers
            status, _, body = server.call("POST", "/v1/route", json.dumps(OPENAI).encode(),
                                          json_type)  # fmt: skip
            assert status == 200
            leases.append(json.loads(body)["lease"]["id"])
        for lease in leases:
            status, _, body = server.call("POST", f"/v1/leases/{lease}/settle",
                                          b'{"total_tokens": 100}', json_type)  # fmt: skip
            assert status == 200
            assert json.loads(body)["state"] == "settled"
        status, _, body = server.call("GET", "/v1/usage?active=true")
        rows = json.loads(body)["models"]
        assert [(r["model"], r["requests"], r["tokens"]) for r in rows] == [("mimo-v2.5", 8, 800)]
    finally:
        server.stop()


# --- property-based API testing of the OpenAPI document --------------------------------------------


FUZZ = bool(os.environ.get("MIMO_SELECT_FUZZ"))


def _schema() -> Any:
    import schemathesis

    return schemathesis.openapi.from_asgi("/openapi.json", create_app(usage=MemoryUsage()))


schema = _schema()


@schema.parametrize()
@settings(max_examples=500 if FUZZ else 50, deadline=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_the_api_matches_its_openapi_document(case: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    from schemathesis.checks import not_a_server_error

    # Hypothesis seeds the global `random` alike for every example, and lease ids come from
    # it: ids drawn in two examples would collide in the one MemoryUsage the app keeps
    monkeypatch.setattr("mimo_select.usage._new_id", lambda: secrets.token_hex(8))
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    case.call_and_validate(checks=[
        not_a_server_error, status_code_conformance, content_type_conformance,
        response_headers_conformance, response_schema_conformance,
    ])  # fmt: skip
