"""Finding and reading prompt files: ordinary repositories, and hostile input that must neither
hang, nor exhaust memory, nor raise anything but a `MimoSelectError`."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import string
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimo_select import files
from mimo_select.errors import MimoSelectError, UsageError
from mimo_select.files import Discovery, Item, ReadError, discover, read_bytes_items, read_items

HAS_FIFO = hasattr(os, "mkfifo")


def _write(root: Path, *names: str, text: str = "x") -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _found(discovery: Discovery) -> list[str]:
    assert discovery.errors == ()
    return list(discovery.files)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository as users have one: prompts next to package.json, workflows, node_modules,
    a virtualenv, build output and caches; the current directory is its root."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    _write(
        root,
        "package.json",
        ".github/workflows/ci.yml",
        "node_modules/lib/prompt.json",
        ".venv/lib/site.md",
        "venv/README.md",
        "src/__pycache__/x.json",
        "vendor/site-packages/p.md",
        "dist/bundle.json",
        "prompts/summary.json",
        "prompts/review.md",
        "prompts/a/b/c.json",
        "prompts/scratch.md",
        "prompts/team/notes.md",
        "prompts/team/old.md",
        "prompts/team/logo.png",
        "prompts/.draft.md",
    )
    _write(root, "venv/pyvenv.cfg", text="home = /usr/bin\n")
    (root / ".gitignore").write_text("dist/\nscratch.md\n*.log\n")
    (root / "prompts" / ".gitignore").write_text("old.md\n")
    monkeypatch.chdir(root)
    return root


# --- discovery: walking --------------------------------------------------------------------


def test_a_repository_walk_skips_what_git_and_tooling_would(repo: Path) -> None:
    assert _found(discover(["."])) == [
        "package.json",  # a .json like any other: whether it holds a prompt is check's call
        "prompts/review.md",
        "prompts/summary.json",
        "prompts/a/b/c.json",
        "prompts/team/notes.md",
    ]


def test_walking_a_subdirectory_honours_the_gitignores_above_it(repo: Path) -> None:
    # `scratch.md` is ignored by the root .gitignore, `old.md` by prompts/.gitignore: both
    # lie above the walked directory, and both apply, as `git status prompts/team` shows
    _write(repo, "prompts/team/scratch.md", "prompts/team/new.md")
    assert _found(discover(["prompts/team"])) == ["prompts/team/new.md", "prompts/team/notes.md"]
    assert _found(discover(["prompts"]))[:2] == ["prompts/review.md", "prompts/summary.json"]
    os.chdir(repo / "prompts")
    assert "scratch.md" not in _found(discover(["."]))


def test_gitignore_negations_and_the_deeper_file_win(repo: Path) -> None:
    (repo / ".gitignore").write_text("*.md\n!keep.md\nbuild/\n!build/inside.md\n")
    (repo / "prompts" / "team" / ".gitignore").write_text("!notes.md\n")
    _write(repo, "prompts/keep.md", "prompts/build/inside.md", "prompts/build/x.json")
    found = _found(discover(["prompts"]))
    assert "prompts/keep.md" in found  # negated in the same file
    assert "prompts/team/notes.md" in found  # re-included by a deeper file
    assert "prompts/review.md" not in found
    # as in git, nothing below an ignored directory can be re-included
    assert not [f for f in found if "/build/" in f]


def test_a_bom_at_the_start_of_gitignore_is_skipped_as_git_does(repo: Path) -> None:
    (repo / ".gitignore").write_bytes(b"\xef\xbb\xbfreview.md\r\nsummary.json\r\n")
    found = _found(discover(["prompts"]))
    assert "prompts/review.md" not in found
    assert "prompts/summary.json" not in found  # CRLF line endings too


def test_invalid_gitignore_lines_are_skipped_and_the_rest_applies(repo: Path) -> None:
    (repo / ".gitignore").write_text("[z-a]\nreview.md\n!\nfoo\\\n")
    assert "prompts/review.md" not in _found(discover(["prompts"]))


def test_outside_a_repository_only_gitignores_below_the_walk_apply(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.md\n")  # above the walk, and no .git anywhere
    _write(tmp_path, "p/a.md", "p/b.md")
    (tmp_path / "p" / ".gitignore").write_text("b.md\n")
    assert _found(discover([str(tmp_path / "p")])) == [str(tmp_path / "p" / "a.md")]


def test_a_nested_repository_follows_its_own_gitignore(repo: Path) -> None:
    (repo / ".gitignore").write_text("*.md\n")
    _write(repo, "prompts/sub/.git/HEAD", "prompts/sub/p.md")
    assert "prompts/sub/p.md" in _found(discover(["prompts"]))


def test_a_named_directory_is_walked_even_when_ignored(repo: Path) -> None:
    _write(repo, "dist/p.md")
    assert _found(discover(["dist"])) == ["dist/bundle.json", "dist/p.md"]


def test_a_named_virtualenv_is_walked_even_after_a_walk_skipped_it(repo: Path) -> None:
    assert "venv/README.md" in _found(discover([".", "venv"]))
    assert "venv/README.md" not in _found(discover(["*"]))  # reached by a wildcard: skipped


def test_named_files_are_always_checked(repo: Path) -> None:
    named = [
        "prompts/scratch.md",  # ignored
        "prompts/.draft.md",  # hidden
        "prompts/team/logo.png",  # no prompt extension
        "node_modules/lib/prompt.json",  # vendored
        "dist/bundle.json",  # inside an ignored directory
    ]
    assert _found(discover(named)) == named


def test_hidden_vendored_venvs_and_special_files_are_skipped(tmp_path: Path) -> None:
    _write(tmp_path, "a.md", "notes.csv", "__pycache__/c.json", "x/site-packages/s.md")
    _write(tmp_path, "env/pyvenv.cfg", "env/v.md", ".hidden/h.md", ".h.md")
    if HAS_FIFO:
        os.mkfifo(tmp_path / "pipe.md")
    with socket.socket(socket.AF_UNIX) as sock:
        with contextlib.suppress(OSError):  # a path too long for AF_UNIX: no socket, still fine
            sock.bind(str(tmp_path / "sock.md"))
        assert _found(discover([str(tmp_path)])) == [str(tmp_path / "a.md")]  # returns: no hang
    everything = _found(discover([str(tmp_path)], any_extension=True))
    assert everything == [str(tmp_path / "a.md"), str(tmp_path / "notes.csv")]


def test_symlinked_directories_are_not_followed_unless_named(tmp_path: Path) -> None:
    _write(tmp_path, "outside/o.md", "tree/t.md")
    (tmp_path / "tree" / "link").symlink_to(tmp_path / "outside")
    (tmp_path / "tree" / "root").symlink_to("/")
    assert _found(discover([str(tmp_path / "tree")])) == [str(tmp_path / "tree" / "t.md")]
    assert _found(discover([str(tmp_path / "tree" / "link")])) == [
        str(tmp_path / "tree" / "link" / "o.md")
    ]


def test_symlinked_files_are_checked_once_by_real_path(tmp_path: Path) -> None:
    _write(tmp_path, "p/a.md")
    (tmp_path / "p" / "b.md").symlink_to(tmp_path / "p" / "a.md")
    (tmp_path / "p" / "gone.md").symlink_to(tmp_path / "missing.md")
    root = str(tmp_path / "p")
    assert _found(discover([root])) == [f"{root}/a.md"]
    assert _found(discover([f"{root}/a.md", f"{root}/b.md", root, f"{root}//a.md"])) == [
        f"{root}/a.md"
    ]
    broken = discover([f"{root}/gone.md"])
    assert broken.errors == (ReadError(f"{root}/gone.md", None, "broken symbolic link"),)


def test_overlapping_roots_check_each_file_once(repo: Path) -> None:
    first = _found(discover(["prompts/team", "prompts", "prompts/team/notes.md"]))
    assert sorted(first) == sorted(set(first))
    assert first[0] == "prompts/team/notes.md"


def test_stdin_is_passed_through_once(repo: Path) -> None:
    assert _found(discover(["-", "prompts/review.md", "-"])) == ["-", "prompts/review.md"]
    assert _found(discover(["-", "prompts/review.md"], exclude=["*.md"])) == ["-"]


# --- discovery: globs and literal names ----------------------------------------------------


def test_literal_names_with_glob_characters_are_literal_when_they_exist(tmp_path: Path) -> None:
    _write(tmp_path, "p/[draft] a?.md", "p/d.md", "p/*.md")
    root = tmp_path / "p"
    for name in ("[draft] a?.md", "*.md"):
        assert _found(discover([str(root / name)])) == [str(root / name)]
    assert _found(discover([str(root / "[d].md")])) == [str(root / "d.md")]  # no such file


def test_double_star_matches_zero_or_more_directories(repo: Path) -> None:
    assert _found(discover(["prompts/**/*.json"])) == [
        "prompts/summary.json",
        "prompts/a/b/c.json",
    ]
    # what the wildcards reach is skipped as a walk skips it; literal parts are as named
    assert _found(discover(["**/*.json"])) == [
        "package.json",
        "prompts/summary.json",
        "prompts/a/b/c.json",
    ]
    assert _found(discover(["prompts/**"])) == _found(discover(["prompts"]))
    assert _found(discover(["*/team/*.md"])) == ["prompts/team/notes.md"]
    assert _found(discover([".github/*/*.yml"])) == [".github/workflows/ci.yml"]
    assert _found(discover([str(repo / "prompts" / "*.json")])) == [
        str(repo / "prompts" / "summary.json")
    ]


def test_a_glob_that_matches_nothing_is_a_usage_error(repo: Path) -> None:
    with pytest.raises(UsageError, match=r"^prompts/\*\.txt: no file matches this pattern$"):
        discover(["prompts/*.txt"])
    with pytest.raises(UsageError, match="no file matches"):
        discover(["nowhere/**/*.md"])
    with pytest.raises(UsageError, match="no file matches"):
        discover(["prompts/scratch*"])  # only an ignored file matches


def test_symlink_loops_neither_hang_nor_repeat_a_file(tmp_path: Path) -> None:
    _write(tmp_path, "p/a.md", "p/sub/b.json")
    for name in ("loop1", "loop2", "loop3"):
        (tmp_path / "p" / name).symlink_to(".")
    (tmp_path / "p" / "sub" / "up").symlink_to("..")
    root = str(tmp_path / "p")
    expected = [f"{root}/a.md", f"{root}/sub/b.json"]
    for pattern in (root, f"{root}/**", f"{root}/**/*", f"{root}/*", f"{root}/**/**/*.*"):
        assert sorted(_found(discover([pattern]))) == expected, pattern
    named_link = _found(discover([f"{root}/loop1/**/*.md"]))
    assert named_link == [f"{root}/loop1/a.md"]  # a link you name is followed, once


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.lists(
        st.sampled_from([*"ab.*?[]!^-/\\", "**", "\0", "\udc80", " ", "~", "é"]), max_size=24
    ).map("".join)
)
def test_any_argument_gives_files_or_a_usage_error(
    fuzz_tree: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(fuzz_tree)
    try:
        result = discover([name], include=["*"] if "a" in name else ())
    except UsageError:
        return
    assert all(isinstance(f, str) for f in result.files)


@pytest.fixture(scope="module")
def fuzz_tree() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, "a.md", "b.json", "[a].md", "a/b/c.md", ".x/y.md", "a*b.txt")
        (root / "a" / "loop").symlink_to(".")
        yield root


@settings(max_examples=80, deadline=None)
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_gitignore_content_is_handled(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, "p/a.md", "p/b/c.json")
        (root / "p" / ".gitignore").write_bytes(content)
        result = discover([str(root / "p")])
        assert set(result.files) <= {str(root / "p" / "a.md"), str(root / "p" / "b" / "c.json")}


# --- discovery: unreadable places ----------------------------------------------------------


def _chmod_is_effective(path: Path) -> bool:
    path.chmod(0)
    effective = not os.access(path, os.R_OK)
    if not effective:
        path.chmod(0o755)
    return effective


def test_an_unreadable_directory_is_reported_not_skipped(tmp_path: Path) -> None:
    _write(tmp_path, "p/a.md", "p/locked/b.md")
    locked = tmp_path / "p" / "locked"
    if not _chmod_is_effective(locked):
        pytest.skip("chmod does not restrict this user (root)")
    try:
        result = discover([str(tmp_path / "p")])
    finally:
        locked.chmod(0o755)
    assert result.files == (str(tmp_path / "p" / "a.md"),)
    assert result.errors == (
        ReadError(str(locked), None, "cannot read directory: Permission denied"),
    )


def test_an_unreadable_gitignore_is_reported(tmp_path: Path) -> None:
    _write(tmp_path, "p/a.md", "p/.gitignore")
    ignore = tmp_path / "p" / ".gitignore"
    if not _chmod_is_effective(ignore):
        pytest.skip("chmod does not restrict this user (root)")
    try:
        result = discover([str(tmp_path / "p")])
    finally:
        ignore.chmod(0o644)
    assert result.errors == (ReadError(str(ignore), None, "cannot read file: Permission denied"),)


def test_a_directory_that_cannot_be_listed_is_a_read_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same as the chmod test, for every user: listing fails with EACCES."""
    _write(tmp_path, "p/a.md", "p/locked/b.md")
    locked = str(tmp_path / "p" / "locked")
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if path == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = discover([str(tmp_path / "p")])
    assert result.files == (str(tmp_path / "p" / "a.md"),)
    assert result.errors == (ReadError(locked, None, "cannot read directory: Permission denied"),)


@pytest.mark.skipif(not HAS_FIFO, reason="no FIFOs here")
def test_a_gitignore_that_is_a_fifo_is_reported_without_blocking(tmp_path: Path) -> None:
    _write(tmp_path, "p/a.md")
    os.mkfifo(tmp_path / "p" / ".gitignore")
    result = discover([str(tmp_path / "p")])
    assert result.files == (str(tmp_path / "p" / "a.md"),)
    assert result.errors == (
        ReadError(str(tmp_path / "p" / ".gitignore"), None, "not a regular file (a named pipe)"),
    )


def test_named_paths_that_do_not_exist_or_are_invalid(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nope: no such file or directory"):
        discover([str(tmp_path / "nope")])
    with pytest.raises(UsageError, match="NUL"):
        discover(["a\0b"])


# --- include / exclude ---------------------------------------------------------------------


def test_include_and_exclude_are_gitignore_patterns(repo: Path) -> None:
    assert _found(discover(["prompts"], include=["prompts/**/*.json"])) == [
        "prompts/summary.json",
        "prompts/a/b/c.json",
    ]
    assert _found(discover(["."], include=["*.md"])) == [  # no slash: the name anywhere
        "prompts/review.md",
        "prompts/team/notes.md",
    ]
    assert _found(discover(["prompts"], exclude=["a/", "*.md"])) == ["prompts/summary.json"]
    assert _found(discover(["prompts"], include=["*.json", "!c.json"])) == ["prompts/summary.json"]
    assert _found(discover([str(repo / "prompts")], include=["prompts/*.md"])) == [
        str(repo / "prompts" / "review.md")  # matched relative to the current directory
    ]


def test_include_exclude_usage_errors_name_the_pattern(repo: Path) -> None:
    with pytest.raises(UsageError, match=r"--include 'docs/\*\*' matches no file"):
        discover(["prompts"], include=["*.md", "docs/**"])
    with pytest.raises(UsageError, match="no file is left"):
        discover(["prompts"], exclude=["*"])
    with pytest.raises(UsageError, match=r"--exclude '\[z-a\]' is not a valid pattern"):
        discover(["prompts"], exclude=["[z-a]"])


# --- reading -------------------------------------------------------------------------------


def _one(items: list[Item | ReadError]) -> Item | ReadError:
    assert len(items) == 1
    return items[0]


def test_text_files_are_one_item_and_a_bom_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "p.md"
    path.write_bytes(b"\xef\xbb\xbfhello\n")
    assert read_items(path) == [Item(str(path), None, "hello\n", "text")]
    (tmp_path / "empty.txt").write_bytes(b"")
    assert _one(read_items(tmp_path / "empty.txt")) == Item(
        str(tmp_path / "empty.txt"), None, "", "text"
    )
    body = {"messages": [{"role": "user", "content": "hi"}]}
    item = _one(read_bytes_items(b"\xef\xbb\xbf" + json.dumps(body).encode(), "b.json"))
    assert item == Item("b.json", None, body, "json")


def test_binary_and_invalid_utf8_are_read_errors_with_their_line() -> None:
    assert read_bytes_items(b"a\nb\n\0c", "x.txt") == [
        ReadError("x.txt", 3, "binary file (a NUL byte in its first 8 KB)")
    ]
    assert read_bytes_items(b"a\nb\n\xffc", "x.txt") == [
        ReadError("x.txt", 3, "not UTF-8 text (byte 4)")
    ]
    assert read_bytes_items(b"\xef\xbb\xbf\n\xed\xa0\x80", "x.json") == [
        ReadError("x.json", 2, "not UTF-8 text (byte 4)")  # an encoded surrogate is not UTF-8
    ]
    late_nul = b"x" * 9000 + b"\0"  # past the probe: not binary, but still not a prompt
    assert _one(read_bytes_items(late_nul, "x.txt")) == Item(
        "x.txt", None, "x" * 9000 + "\0", "text"
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{"a": NaN}', 1, "NaN is not valid JSON (JSON has no NaN or Infinity)"),
        ('{\n"a": "NaN",\n"b": [1,\nInfinity]}', 4, "Infinity is not valid JSON"),
        ("[\n-Infinity]", 2, "-Infinity is not valid JSON"),
        ('{"a": "1e999",\n "b": 1e999}', 2, "the number 1e999 is out of range"),
        ('{"a": 1,\n"b": }', 2, "Expecting value: line 2 column 6"),
        ("", 1, "Expecting value"),
    ],
)
def test_json_is_strict_and_errors_carry_the_line(text: str, line: int, message: str) -> None:
    error = _one(read_bytes_items(text.encode(), "p.json"))
    assert isinstance(error, ReadError)
    assert (error.line, error.message.startswith("malformed JSON: ")) == (line, True)
    assert message in error.message


def test_deep_json_is_refused_at_its_line() -> None:
    deep = "[" * (files.MAX_DEPTH + 1) + "]" * (files.MAX_DEPTH + 1)
    assert read_bytes_items(("\n" + deep).encode(), "p.json") == [
        ReadError("p.json", 2, f"nested more than {files.MAX_DEPTH} levels deep")
    ]
    very = "[" * 100_000  # past the interpreter's recursion limit
    assert read_bytes_items(very.encode(), "p.json") == [
        ReadError("p.json", 1, f"nested more than {files.MAX_DEPTH} levels deep")
    ]
    line = json.dumps({"messages": [{"content": [[[1]]]}]})
    assert isinstance(_one(read_bytes_items(line.encode(), "p.json")), Item)


def test_a_lone_surrogate_escape_is_refused() -> None:
    error = _one(read_bytes_items(b'{"prompt": "a\\ud800b"}', "p.json"))
    assert isinstance(error, ReadError)
    assert "lone surrogate" in error.message
    pair = _one(read_bytes_items(b'{"prompt": "\\ud83d\\ude00"}', "p.json"))
    assert isinstance(pair, Item)
    assert pair.data == {"prompt": "\U0001f600"}


def test_jsonl_splits_on_newlines_only_and_keeps_line_numbers() -> None:
    raw = (
        '{"prompt": "a\u2028b\u0085c"}\r\n'  # raw U+2028 and U+0085 inside a string: fine
        "\n"
        "   \r\n"
        '{"prompt": "\x1c"}\n'  # a raw control character: JSON wants it escaped
        '{"prompt": "\\u001c"}\n'
        "{nope\n"
        '["last"]'
    ).encode()
    items = read_bytes_items(raw, "p.jsonl")
    assert [(i.line, type(i).__name__) for i in items] == [
        (1, "Item"),
        (4, "ReadError"),
        (5, "Item"),
        (6, "ReadError"),
        (7, "Item"),
    ]
    first = items[0]
    assert isinstance(first, Item)
    assert (first.data, first.format) == ({"prompt": "a\u2028b\u0085c"}, "jsonl")
    error = items[3]
    assert isinstance(error, ReadError)
    assert error.message.startswith("malformed JSON: Expecting property name")
    nan = read_bytes_items(b'{"a": 1}\n{"a": NaN}\n', "p.jsonl")[1]
    assert nan == ReadError(
        "p.jsonl", 2, "malformed JSON: NaN is not valid JSON (JSON has no NaN or Infinity)"
    )


def test_yaml_prompts_go_through_the_guarded_loader() -> None:
    ok = _one(read_bytes_items(b"prompt: hi\ndate: 2026-06-01\n", "p.yaml"))
    assert ok == Item("p.yaml", None, {"prompt": "hi", "date": "2026-06-01"}, "yaml")
    assert read_bytes_items(b"prompt: a\nmodel: x\nprompt: b\n", "p.yml") == [
        ReadError(
            "p.yml",
            3,
            "malformed YAML: $.prompt: duplicate key 'prompt'; first defined at line 1"
            " (remove one of them: YAML keeps only the last)",
        )
    ]
    several = _one(read_bytes_items(b"a: 1\n---\nb: 2\n", "p.yaml"))
    assert isinstance(several, ReadError)
    assert "expected a single document" in several.message
    bad = _one(read_bytes_items(b"a: [1,\n", "p.yaml"))
    assert isinstance(bad, ReadError)
    assert bad.message.startswith("malformed YAML: ")
    assert bad.line == 2


def test_yaml_prompts_are_not_held_to_the_data_file_cap() -> None:
    big = b"prompt: " + b"x" * (2 << 20) + b"\n"
    assert isinstance(_one(read_bytes_items(big, "p.yaml")), Item)


def test_a_yaml_alias_bomb_is_refused_fast_and_without_building_it() -> None:
    text = f'm: &m "{"x" * 100_000}"\nl: [' + ", ".join(["*m"] * 20_000) + "]\n"
    raw = text.encode()
    assert 150_000 < len(raw) < 200_000
    error = _one(read_bytes_items(raw, "bomb.yaml"))
    assert isinstance(error, ReadError)
    assert "the document expands to 2,000,100,002 characters" in error.message
    tracemalloc.start()
    try:
        read_bytes_items(raw, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # the measure of a 180 KB file, not 2 GB of expanded text


def test_format_in_overrides_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "chat.data"
    path.write_text('[{"role": "user", "content": "hi"}]')
    item = _one(read_items(path, "json"))
    assert isinstance(item, Item)
    assert item.format == "json"
    assert _one(read_items(path)) == Item(str(path), None, path.read_text(), "text")
    with pytest.raises(UsageError, match="unknown input format 'xml'"):
        read_items(path, "xml")


# --- reading: only regular files, bounded ------------------------------------------------


@pytest.mark.skipif(not HAS_FIFO, reason="no FIFOs here")
def test_a_named_fifo_is_a_read_error_never_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    assert discover([str(fifo)]).files == (str(fifo),)  # named: handed to the reader
    assert read_items(fifo) == [ReadError(str(fifo), None, "not a regular file (a named pipe)")]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_devices_and_directories_are_refused(tmp_path: Path) -> None:
    assert read_items("/dev/zero") == [
        ReadError("/dev/zero", None, "not a regular file (a character device)")
    ]
    assert read_items(tmp_path) == [
        ReadError(str(tmp_path), None, "not a regular file (a directory)")
    ]
    assert read_items(tmp_path / "missing.md") == [
        ReadError(str(tmp_path / "missing.md"), None, "cannot read file: No such file or directory")
    ]


def test_read_limited_counts_what_it_reads(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_bytes(b"x" * 100)
    assert files.read_limited(path, 100) == b"x" * 100
    with pytest.raises(UsageError, match="file is over 99 bytes; files are limited to 99 bytes"):
        files.read_limited(path, 99)
    proc = Path("/proc/self/status")  # a regular file whose stat size is 0: the size is read
    if proc.exists() and proc.stat().st_size == 0:
        with pytest.raises(UsageError, match="over 10 bytes"):
            files.read_limited(proc, 10)
        assert files.read_limited(proc, 1 << 20)


def test_prompt_files_have_a_size_cap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(files, "MAX_PROMPT_BYTES", 1024)
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 1025)
    expected = "file is over 1 KiB; prompt files are limited to 1 KiB"
    assert read_items(path) == [ReadError(str(path), None, expected)]
    assert read_bytes_items(b"x" * 1025, "-") == [ReadError("-", None, expected)]


# --- never an uncaught exception -----------------------------------------------------------

JSONISH = st.lists(st.sampled_from([*'{}[]":,\\ \n\r\t-+.eE0123456789', "NaN", "Infinity",
                   "true", "null", "\\u", "d800", "\u2028", "\x1c", "é", "&a", "*a", "- ",
                   "? ", "!!", "<<"]), max_size=60).map("".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=300) | JSONISH.map(str.encode),
    kind=st.sampled_from(sorted(files.KINDS)),
    bom=st.booleans(),
)
def test_any_bytes_in_any_format_give_items_or_read_errors(
    raw: bytes, kind: str, bom: bool
) -> None:
    items = read_bytes_items((b"\xef\xbb\xbf" if bom else b"") + raw, f"fuzz.{kind}", kind)
    assert items is not None
    for item in items:
        assert isinstance(item, Item | ReadError)
        if isinstance(item, ReadError):
            assert item.message
        else:
            json.dumps(item.data, allow_nan=False)  # whatever is read is plain JSON data


@settings(max_examples=40, deadline=None)
@given(raw=st.binary(max_size=200), kind=st.sampled_from(sorted(files.FORMATS)))
def test_any_file_in_any_format_gives_items_or_read_errors(raw: bytes, kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{kind}"
        path.write_bytes(raw)
        try:
            items = read_items(path)
        except MimoSelectError:  # pragma: no cover - would be a bug, reported below
            pytest.fail("read_items raised")
        assert all(isinstance(i, Item | ReadError) for i in items)


def test_the_format_table_covers_every_documented_extension() -> None:
    assert dict(files.FORMATS) == {
        ".txt": "text", ".md": "text", ".markdown": "text", ".prompt": "text",
        ".tmpl": "text", ".json": "json", ".jsonl": "jsonl", ".yaml": "yaml", ".yml": "yaml",
    }  # fmt: skip
    assert set(string.ascii_lowercase) >= {c for ext in files.FORMATS for c in ext[1:]}
