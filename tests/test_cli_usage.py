"""`mimo-select usage`: what a shared Redis usage store holds, against a real redis-server.

Each test fills its own account through `RedisUsage` (admit, settle, throttled), as a gateway
would, then reads it through the command line. Times are real: they are checked within a
tolerance, and masked digit by digit where a whole output is compared.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mimo_select.usage import RedisUsage
from tests.redis_server import RedisServer, redis_server, redis_url

from .conftest import CASES, ROOT, RunCli

__all__ = ["redis_server", "redis_url"]  # the fixtures this module uses

SCRIPT = Path(sys.executable).parent / "mimo-select"
PRO, FLASH, OMNI = "mimo-v2.5-pro", "mimo-v2-flash", "mimo-v2.5"


@pytest.fixture
def account() -> str:
    """An account of the test's own on the shared server."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def gateway(redis_url: str, account: str) -> Iterator[RedisUsage]:
    """A store as a routing layer holds it: the default window and prefix."""
    with RedisUsage(redis_url, account=account, on_error="closed") as store:
        yield store


def admit(store: RedisUsage, model: str, tokens: int) -> Any:
    a = store.admit([(model, tokens)])
    assert a.model == model, a.refusals
    return a.lease


def fill(store: RedisUsage) -> None:
    """Three requests on pro (one settled lower), one on omni, two on flash and a 429."""
    admit(store, PRO, 1_200)
    admit(store, PRO, 30_000)
    admit(store, PRO, 5_400).settle({"total_tokens": 4_321})
    admit(store, OMNI, 1_000_000)
    admit(store, FLASH, 250_000)
    admit(store, FLASH, 800_000).throttled(30)


def masked(text: str) -> str:
    """Times ("59.6 s") with every digit as #: the layout stays, the clock goes."""
    return re.sub(r"\d+\.\d s", lambda m: re.sub(r"\d", "#", m[0]), text)


def strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- what it shows ----------------------------------------------------------------------------


def test_the_table_shows_counts_against_limits_and_the_cooling_model(
    cli: RunCli, gateway: RedisUsage, redis_url: str, account: str
) -> None:
    fill(gateway)
    code, out, err = cli("usage", "--redis", redis_url, "--account", account)
    assert (code, err) == (0, "")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- usage:begin -->\n```console\n\$ (.*?)\n(.*?)```", readme, re.S)
    assert block is not None
    url = "redis://127.0.0.1:6379/0"
    assert block[1] == f"mimo-select usage --redis {url} --account prod"
    shown = block[2].replace(url, redis_url).replace("'prod'", repr(account))
    assert masked(out) == masked(shown), "the README's usage block is the real output"
    assert max(len(line) for line in out.splitlines()[1:]) <= 80
    flash = next(line for line in out.splitlines() if line.startswith(FLASH))
    cooling, frees, empty = (float(t) for t in re.findall(r"(\d+\.\d) s", flash))
    assert 28.0 < cooling <= 30.0
    assert 58.0 < frees <= empty <= 60.0


def test_json_is_strict_and_carries_the_exact_numbers(
    cli: RunCli, gateway: RedisUsage, redis_url: str, account: str
) -> None:
    fill(gateway)
    code, out, err = cli("usage", "--redis", redis_url, "--account", account, "--json")
    assert (code, err) == (0, "")
    data = strict_json(out)
    assert {k: v for k, v in data.items() if k != "models"} == {
        "account": account,
        "redis": redis_url,
        "window": 60.0,
        "source": "redis",
        "clock": "redis",
        "no_limits": [],
    }
    rows = {m["model"]: m for m in data["models"]}
    assert len(rows) == 9
    assert set(rows[PRO]) == {
        "model", "requests", "rpm", "tokens", "tpm", "cooling_for", "frees_in", "empty_in",
    }  # fmt: skip
    assert (rows[PRO]["requests"], rows[PRO]["tokens"]) == (3, 1_200 + 30_000 + 4_321)
    assert (rows[OMNI]["requests"], rows[OMNI]["tokens"]) == (1, 1_000_000)
    assert (rows[FLASH]["requests"], rows[FLASH]["tokens"]) == (2, 1_050_000)
    assert (rows[FLASH]["rpm"], rows[FLASH]["tpm"]) == (100, 10_000_000)
    assert 28.0 < rows[FLASH]["cooling_for"] <= 30.0
    assert 58.0 < rows[PRO]["frees_in"] <= rows[PRO]["empty_in"] <= 60.0
    idle = rows["mimo-v2-pro"]
    assert (idle["requests"], idle["tokens"], idle["cooling_for"]) == (0, 0, 0.0)
    assert (idle["frees_in"], idle["empty_in"]) == (None, None)


def test_a_full_model_says_which_limit_and_when_its_oldest_request_leaves(
    cli: RunCli, gateway: RedisUsage, redis_url: str, account: str
) -> None:
    admit(gateway, FLASH, 10_000_000)  # the whole TPM in one request
    assert gateway.admit([(FLASH, 1)]).model is None
    code, out, _ = cli("usage", "--redis", redis_url, "--account", account, "--active")
    assert code == 0
    assert masked(out).splitlines()[1:] == [
        "MODEL          REQUESTS  TOKENS     COOLING  FREES IN  EMPTY IN",
        "mimo-v2-flash  1 / 100   10M / 10M  -        ##.# s    ##.# s",
        "",
        "mimo-v2-flash admits nothing now: at its TPM limit (10,000,000 of 10,000,000",
        "  tokens); its oldest request leaves in ##.# s.",
    ]


def test_active_shows_only_models_in_use_or_cooling(
    cli: RunCli, gateway: RedisUsage, redis_url: str, account: str
) -> None:
    code, out, _ = cli("usage", "--redis", redis_url, "--account", account, "--active")
    assert code == 0
    assert out.splitlines()[1:] == ["No requests in the window and no model cooling down."]
    fill(gateway)
    code, out, _ = cli("usage", "--redis", redis_url, "--account", account, "--active")
    assert [line.split()[0] for line in out.splitlines()[2:5]] == [PRO, OMNI, FLASH]
    code, out, _ = cli("usage", "--redis", redis_url, "--account", account, "--active", "--json")
    assert [m["model"] for m in strict_json(out)["models"]] == [PRO, OMNI, FLASH]


def test_accounts_are_counted_apart(cli: RunCli, redis_url: str) -> None:
    one, two = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    with RedisUsage(redis_url, account=one) as a, RedisUsage(redis_url, account=two) as b:
        admit(a, PRO, 1_000)
        admit(a, PRO, 2_000)
        admit(b, FLASH, 7_000)

    def rows(account: str) -> dict[str, tuple[int, int]]:
        code, out, err = cli("usage", "--redis", redis_url, "--account", account, "--json")
        assert (code, err) == (0, "")
        return {m["model"]: (m["requests"], m["tokens"]) for m in strict_json(out)["models"]}

    assert (rows(one)[PRO], rows(one)[FLASH]) == ((2, 3_000), (0, 0))
    assert (rows(two)[PRO], rows(two)[FLASH]) == ((0, 0), (1, 7_000))
    assert set(rows("default-" + one).values()) == {(0, 0)}


def test_window_and_prefix_read_what_the_stores_wrote(cli: RunCli, redis_url: str) -> None:
    account = f"w-{uuid.uuid4().hex[:8]}"
    with RedisUsage(redis_url, account=account, window=61, prefix="gw") as store:
        admit(store, PRO, 500)
    argv = ("usage", "--redis", redis_url, "--account", account, "--json")
    code, out, _ = cli(*argv, "--window", "61", "--prefix", "gw")
    data = strict_json(out)
    assert (code, data["window"]) == (0, 61.0)
    pro = next(m for m in data["models"] if m["model"] == PRO)
    assert (pro["requests"], pro["tokens"]) == (1, 500)
    assert 59.0 < pro["frees_in"] <= 61.0
    code, out, _ = cli(*argv, "--window", "61")  # another prefix: other keys
    assert all(m["requests"] == 0 for m in strict_json(out)["models"])


def test_models_without_published_limits_are_named_not_shown(
    cli: RunCli, redis_url: str, account: str, tmp_path: Path
) -> None:
    base = (CASES / "catalog" / "_base.yaml").read_text()
    catalog = tmp_path / "models.yaml"
    catalog.write_text(
        base.replace(
            "    rpm: 100\n    tpm: 10000000\nguide:",
            "    rate_limit_note: customized services are available, please contact us\nguide:",
        )
    )
    argv = ("usage", "--redis", redis_url, "--account", account, "--catalog", str(catalog))
    code, out, err = cli(*argv)
    assert (code, err) == (0, "")
    assert [line.split()[0] for line in out.splitlines()[1:3]] == ["MODEL", "mimo-v2-flash"]
    assert out.endswith("\nNot shown: mimo-v2-pro (the catalog gives no RPM or TPM limit).\n")
    code, out, _ = cli(*argv, "--json")
    data = strict_json(out)
    assert ([m["model"] for m in data["models"]], data["no_limits"]) == (
        ["mimo-v2-flash"],
        ["mimo-v2-pro"],
    )


# --- errors -----------------------------------------------------------------------------------


def test_unreachable_redis_is_exit_2_naming_the_url_and_what_to_do(cli: RunCli) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    for extra in ((), ("--json",)):
        code, out, err = cli("usage", "--redis", url, *extra)
        assert (code, out) == (2, "")
        assert err.startswith(f"mimo-select: error: cannot read usage from Redis at {url} (")
        assert "Connection refused" in err
        assert "Start one with `redis-server`" in err
        assert "Traceback" not in err
        assert err.count("\n") == 1


def test_redis_stopped_after_a_gateway_counted_is_an_error_not_a_local_count(
    cli: RunCli, redis_server: RedisServer
) -> None:
    with RedisUsage(redis_server.url) as store:
        admit(store, PRO, 100)
    code, out, _ = cli("usage", "--redis", redis_server.url, "--json")
    assert next(m for m in strict_json(out)["models"] if m["model"] == PRO)["requests"] == 1
    redis_server.stop()
    code, out, err = cli("usage", "--redis", redis_server.url, "--json")
    assert (code, out) == (2, "")
    assert f"cannot read usage from Redis at {redis_server.url}" in err


def test_a_password_never_reaches_the_output(cli: RunCli, redis_url: str) -> None:
    port = free_port()
    code, _, err = cli("usage", "--redis", f"redis://:s3cret@127.0.0.1:{port}/0")
    assert code == 2
    assert f"at redis://127.0.0.1:{port}/0 (" in err
    assert "s3cret" not in err
    code, _, err = cli("usage", "--redis", "redis://user:s3cret@localhost:nope/0")
    assert code == 2
    assert "s3cret" not in err


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[int]:
    """A redis-server that wants the password s3cret; yields its port."""
    from tests.redis_server import find_redis_server

    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(tmp_path), "--requirepass", "s3cret"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.01)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_password_is_used_and_a_wrong_one_is_named_as_such(
    cli: RunCli, locked_redis: int
) -> None:
    where = f"redis://127.0.0.1:{locked_redis}/0"
    with RedisUsage(f"redis://:s3cret@127.0.0.1:{locked_redis}/0") as store:
        admit(store, PRO, 42)
    code, out, err = cli("usage", "--redis", f"redis://:s3cret@127.0.0.1:{locked_redis}/0")
    assert (code, err) == (0, "")
    assert out.startswith(f"Account 'default' at {where}, window 60 s")
    assert "3 / 100" not in out
    assert "1 / 100   42 / 10M" in out
    for url in (f"redis://:wrong@127.0.0.1:{locked_redis}/0", where):
        code, out, err = cli("usage", "--redis", url)
        assert (code, out) == (2, "")
        assert err.startswith(f"mimo-select: error: cannot read usage from Redis at {where} (")
        assert "AuthenticationError" in err
        assert err.endswith(
            "; check the user and password in the URL (redis://USER:PASSWORD@HOST:PORT/DB)\n"
        )
        assert "wrong" not in err


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("localhost:6379", ""),
        ("http://localhost:6379", ""),
        ("redis://", ""),
        ("redis://localhost:abc/0", " (Port could not be cast to integer value as 'abc')"),
        ("redis://localhost:99999/0", " (Port out of range 0-65535)"),
        ("redis://[::1/0", " (Invalid IPv6 URL)"),
    ],
)
def test_a_bad_url_is_one_clear_line(cli: RunCli, url: str, why: str) -> None:
    code, out, err = cli("usage", "--redis", url)
    assert (code, out) == (2, "")
    assert err == (
        f"mimo-select: error: --redis: bad Redis url {url!r}{why}; expected "
        "redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://... or unix:///PATH\n"
    )


@pytest.mark.parametrize("window", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_window_is_a_usage_error(cli: RunCli, window: str) -> None:
    code, out, err = cli("usage", "--redis", "redis://127.0.0.1:1/0", "--window", window)
    assert (code, out) == (2, "")
    assert err.startswith("mimo-select: error: usage: argument --window: expected seconds")


def test_a_bad_account_is_a_usage_error(cli: RunCli) -> None:
    code, _, err = cli("usage", "--redis", "redis://127.0.0.1:1/0", "--account", "{a}")
    assert code == 2
    assert err.startswith("mimo-select: error: account must be a non-empty name without braces")


def test_redis_is_required(cli: RunCli) -> None:
    code, _, err = cli("usage")
    assert code == 2
    assert "the following arguments are required: --redis" in err


# --- the installed command ----------------------------------------------------------------------


def test_the_console_script_from_a_fresh_directory(
    gateway: RedisUsage, redis_url: str, account: str, tmp_path: Path
) -> None:
    fill(gateway)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), "usage", "--redis", redis_url, "--account", account, *argv],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
            env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        )  # fmt: skip

    text = run()
    assert (text.returncode, text.stderr) == (0, "")
    assert "mimo-v2.5-pro              3 / 100   35,521 / 10M  -  " in text.stdout
    data = strict_json(run("--json").stdout)
    assert next(m for m in data["models"] if m["model"] == FLASH)["tokens"] == 1_050_000
    down = subprocess.run(
        [str(SCRIPT), "usage", "--redis", f"redis://127.0.0.1:{free_port()}/0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (down.returncode, down.stdout) == (2, "")
    assert down.stderr.startswith("mimo-select: error: cannot read usage from Redis at ")


def test_other_commands_never_import_redis_or_the_usage_store() -> None:
    code = (
        "import io, sys\n"
        "from mimo_select.cli import run\n"
        "from mimo_select.cli import parse_args\n"
        "rc = run(['models'], io.StringIO(), io.StringIO())\n"
        "assert parse_args(['usage', '--redis', 'redis://localhost']).window == 60.0\n"
        "print(rc, sorted(m for m in ('redis', 'mimo_select.usage') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 []"
