"""Finding prompt files and reading them: correct on ordinary repositories, safe on hostile input.

`discover` turns command-line paths into files: a file you name is always checked; directories
are walked (and quoted globs expanded) skipping hidden directories, vendored trees, virtualenvs
and whatever the applicable `.gitignore` files ignore, from the repository root down. Problems
met on the way (an unreadable directory or `.gitignore`) are returned, not raised, so a run
reports them and fails instead of checking less than it says.

`read_items` turns one file into the prompt-bearing values in it: refusing anything but regular
files, reading at most a size cap measured while reading, refusing binary and non-UTF-8 text,
strict JSON (no NaN or Infinity, bounded nesting), JSONL line by line and YAML through the same
guarded loader as the data files. Nothing but `MimoSelectError` escapes from this module; bad
file contents come back as `ReadError` values.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import DataError, Problem, UsageError

__all__ = [
    "FORMATS",
    "MAX_DEPTH",
    "MAX_PROMPT_BYTES",
    "Discovery",
    "Item",
    "ReadError",
    "discover",
    "read_bytes_items",
    "read_items",
    "read_limited",
]

FORMATS: Mapping[str, str] = MappingProxyType(
    {
        ".txt": "text", ".md": "text", ".markdown": "text", ".prompt": "text", ".tmpl": "text",
        ".json": "json", ".jsonl": "jsonl", ".yaml": "yaml", ".yml": "yaml",
    }
)  # fmt: skip
KINDS = frozenset(FORMATS.values())
MAX_PROMPT_BYTES = 256 << 20  # one prompt file; the largest MiMo window is 1M tokens, ~4 MiB
MAX_GITIGNORE_BYTES = 1 << 20
MAX_DEPTH = 128  # nested JSON/YAML in a prompt file: bodies, content parts, tool schemas
MAX_YAML_NODES = 2_000_000  # a YAML prompt file, aliases expanded
BINARY_PROBE = 8192  # a NUL byte this early means a binary file, as git and grep decide
SKIP_DIRS = frozenset(("node_modules", "__pycache__", "site-packages"))
STDIN = "-"

_MAGIC = re.compile(r"[*?[]")
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Item:
    """One prompt-bearing value read from a file.

    `data` is the text for the "text" format, else the parsed JSON or YAML value; `line` is
    set for JSONL (1-based), None otherwise.
    """

    path: str
    line: int | None
    data: Any
    format: str


@dataclass(frozen=True, slots=True)
class ReadError:
    """A file, line or directory that could not be read, and why (exit code 2)."""

    path: str
    line: int | None
    message: str


@dataclass(frozen=True, slots=True)
class Discovery:
    """The files to check, in order and each once, and the problems met finding them."""

    files: tuple[str, ...]
    errors: tuple[ReadError, ...] = ()


# --- reading -------------------------------------------------------------------------------


def read_limited(path: str | Path, limit: int, *, what: str = "files") -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them.

    The type is checked before the file is opened (a FIFO or a device is never opened) and
    again on the open descriptor; the size is measured while reading, never taken from `stat`,
    so `/dev/zero`, `/proc` files and files that grow while read are bounded too.

    Raises `UsageError` (with `where` set to the path) whose message says what is wrong:
    "cannot read file: <reason>", "not a regular file (a named pipe)" or
    "file is over 1 MiB; <what> are limited to 1 MiB". Callers turn it into their own error.
    """
    name = str(path)
    try:
        _require_regular(os.stat(name).st_mode, name)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        fd = os.open(name, flags | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise UsageError(_os_message(exc), where=name) from None
    except ValueError:  # a NUL in the path, or a name the file system cannot encode
        raise UsageError("not a valid path", where=name) from None
    try:
        info = os.fstat(fd)
        _require_regular(info.st_mode, name)  # it may have been swapped since `stat`
        chunks: list[bytes] = []
        total = 0
        while True:
            want = min(max(info.st_size - total + 1, _CHUNK), limit + 1 - total)
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                size = format_size(limit)
                raise UsageError(f"file is over {size}; {what} are limited to {size}", where=name)
        return b"".join(chunks)
    except OSError as exc:
        raise UsageError(_os_message(exc), where=name) from None
    finally:
        os.close(fd)


def _require_regular(mode: int, name: str) -> None:
    if stat.S_ISREG(mode):
        return
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    kind = next((text for test, text in kinds if test(mode)), "not a file")
    raise UsageError(f"not a regular file ({kind})", where=name)


def _os_message(exc: OSError) -> str:
    return f"cannot read file: {exc.strerror or exc}"


def format_size(limit: int) -> str:
    """`1048576` -> "1 MiB"; sizes that are not whole units in bytes."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit:,} bytes"


def read_items(path: str | Path, format_in: str | None = None) -> list[Item | ReadError]:
    """The prompt-bearing values in the file `path`, or why it cannot be read.

    The format is `format_in` or else the extension's (`FORMATS`; text when unknown). Never
    raises for any file: unreadable, too large, binary or malformed files give `ReadError`s.
    Raises `UsageError` only for a `format_in` that is not a format.
    """
    name = str(path)
    kind = _kind(name, format_in)
    try:
        raw = read_limited(name, MAX_PROMPT_BYTES, what="prompt files")
    except UsageError as exc:
        return [ReadError(name, None, exc.message)]
    return _parse(raw, name, kind)


def read_bytes_items(raw: bytes, name: str, format_in: str | None = None) -> list[Item | ReadError]:
    """As `read_items`, for bytes already read (standard input, "-"), named `name`.

    The caller bounds what it reads (e.g. `stdin.buffer.read(MAX_PROMPT_BYTES + 1)`); more
    than `MAX_PROMPT_BYTES` is refused here as it would be from a file.
    """
    kind = _kind(name, format_in)
    if len(raw) > MAX_PROMPT_BYTES:
        size = format_size(MAX_PROMPT_BYTES)
        return [ReadError(name, None, f"file is over {size}; prompt files are limited to {size}")]
    return _parse(raw, name, kind)


def _kind(name: str, format_in: str | None) -> str:
    if format_in is None:
        return FORMATS.get(os.path.splitext(name)[1].lower(), "text")
    if format_in not in KINDS:
        raise UsageError(f"unknown input format {format_in!r} (one of {', '.join(sorted(KINDS))})")
    return format_in


def _parse(raw: bytes, name: str, kind: str) -> list[Item | ReadError]:
    nul = raw.find(b"\0", 0, BINARY_PROBE)
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        return [ReadError(name, line, "binary file (a NUL byte in its first 8 KB)")]
    skip = len(_BOM) if raw.startswith(_BOM) else 0
    try:
        text = raw[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start + skip
        return [ReadError(name, raw.count(b"\n", 0, at) + 1, f"not UTF-8 text (byte {at})")]
    if kind == "text":
        return [Item(name, None, text, kind)]
    if kind == "json":
        return [_json_item(text, name, None)]
    if kind == "jsonl":
        return _jsonl_items(text, name)
    return _yaml_items(text, name)


def _jsonl_items(text: str, name: str) -> list[Item | ReadError]:
    """One value per line, split on "\\n" only: U+2028, U+0085 and the like are characters
    inside a line (JSON allows them raw in strings), not line breaks."""
    items: list[Item | ReadError] = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip(" \t\r"):  # JSON's own whitespace; anything else is a malformed line
            items.append(_json_item(line, name, number))
    return items


def _json_item(text: str, name: str, line: int | None) -> Item | ReadError:
    kind = "json" if line is None else "jsonl"
    refused: list[tuple[str, str]] = []  # (token, message) from the hooks below

    def no_constant(token: str) -> Any:
        refused.append((token, f"{token} is not valid JSON (JSON has no NaN or Infinity)"))
        raise ValueError(token)

    def finite_float(token: str) -> float:
        value = float(token)  # a JSON number always converts; too large ones to infinity
        if value in (_INF, -_INF):
            refused.append((token, f"the number {token} is out of range"))
            raise ValueError(token)
        return value

    try:
        data = json.loads(text, parse_constant=no_constant, parse_float=finite_float)
    except ValueError as exc:
        if refused:
            token, message = refused[0]
            return ReadError(name, line or _first_token(text, token), f"malformed JSON: {message}")
        if isinstance(exc, json.JSONDecodeError):
            return ReadError(name, (line or 1) + exc.lineno - 1, f"malformed JSON: {exc}")
        return ReadError(name, line, f"malformed JSON: {exc}")  # e.g. over 4,300 digits
    except RecursionError:
        return ReadError(name, line or _line_past_depth(text), _too_deep())
    problem = _check_value(data, surrogates=_SURROGATE_ESCAPE.search(text) is not None)
    if problem == "depth":
        return ReadError(name, line or _line_past_depth(text), _too_deep())
    if problem:
        return ReadError(name, line, f"malformed JSON: {problem}")
    return Item(name, line, data, kind)


_INF = float("inf")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_STRING_OR = r'"(?:[^"\\]|\\.)*"|'


def _first_token(text: str, token: str) -> int | None:
    """The line of the first `token` outside a string (the decoder reads left to right)."""
    rx = re.compile(_STRING_OR + r"(?<![\w.+-])(" + re.escape(token) + r")(?![\w.])")
    for match in rx.finditer(text):
        if match.group(1):
            return text.count("\n", 0, match.start()) + 1
    return None


def _line_past_depth(text: str) -> int | None:
    """The line where brackets outside strings first nest deeper than `MAX_DEPTH`."""
    depth = 0
    for match in re.finditer(_STRING_OR + r"[\[\]{}]", text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return text.count("\n", 0, match.start()) + 1
        elif char in "]}":
            depth -= 1
    return None


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep"


def _check_value(data: Any, *, surrogates: bool) -> str | None:
    """What is wrong with parsed JSON, or None: "depth" past `MAX_DEPTH`, or (looked for only
    with `surrogates`, when the text has a "\\ud800"-like escape) a string with a lone
    surrogate, which is not valid Unicode and cannot be encoded to count its tokens."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[Any] = [*value, *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            if surrogates and isinstance(value, str) and not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return "a \\u escape names a lone surrogate, which is not valid Unicode"
            continue
        if depth > MAX_DEPTH:
            return "depth"
        stack.extend((child, depth + 1) for child in children)
    return None


def _yaml_items(text: str, name: str) -> list[Item | ReadError]:
    from . import _yaml

    limits = _yaml.Limits(
        max_bytes=MAX_PROMPT_BYTES,
        max_nodes=MAX_YAML_NODES,
        max_depth=MAX_DEPTH,
        max_chars=MAX_PROMPT_BYTES,
        what="prompt files",
    )
    try:
        doc = _yaml.load(name, text=text, limits=limits, marks=False)
    except DataError as exc:
        return [ReadError(name, p.location.line, _yaml_message(p)) for p in exc.problems]
    return [Item(name, None, doc.data, "yaml")]


def _yaml_message(problem: Problem) -> str:
    message = problem.message.removeprefix("YAML syntax: ")
    if problem.hint:
        message += f" ({problem.hint})"
    if problem.location.path != "$":
        message = f"{problem.location.path}: {message}"
    return f"malformed YAML: {message}"


# --- finding -------------------------------------------------------------------------------


def discover(
    paths: Sequence[str],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    *,
    any_extension: bool = False,
) -> Discovery:
    """The files to check, in the order given, each once (by real path), and the problems met.

    - A file you name is always checked, whatever its extension or `.gitignore` says; "-" is
      passed through for standard input.
    - A directory is walked: hidden and vendored directories (`node_modules`, `__pycache__`,
      `site-packages`), virtualenvs (a `pyvenv.cfg`), hidden files and what the `.gitignore`
      files ignore are skipped (from the repository root down, with git's semantics); only
      files with a known extension are kept unless `any_extension`. Symbolic links to
      directories are not followed (as git, ripgrep and os.walk do not).
    - An argument with `*`, `?` or `[` that names no existing file is a glob, expanded here
      with `**` for any number of directories, following the walk's skipping rules for what
      its wildcards reach.
    - `include` / `exclude` are gitignore-style patterns over paths relative to the current
      directory (a pattern without a slash matches the name anywhere; `**` matches zero or
      more directories).

    Raises `UsageError` for a named path that does not exist, a glob that matches nothing, an
    include pattern that matches no file, an invalid pattern, or include/exclude leaving no file.
    """
    walker = _Walker(any_extension)
    for raw in paths:
        walker.add(raw)
    files = list(walker.found.values())
    if include or exclude:
        files = _filter(files, include, exclude)
    return Discovery(tuple(files), tuple(walker.errors))


def _filter(files: list[str], include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    keys = {f: _match_key(f) for f in files if f != STDIN}
    kept = files
    if include:
        spec = _patterns(include, "--include")
        for pattern in include:
            single = _patterns([pattern], "--include")
            if not pattern.startswith("!") and not any(map(single.match_file, keys.values())):
                raise UsageError(f"--include {pattern!r} matches no file")
        kept = [f for f in kept if f == STDIN or spec.match_file(keys[f])]
    if exclude:
        spec = _patterns(exclude, "--exclude")
        kept = [f for f in kept if f == STDIN or not spec.match_file(keys[f])]
    if files and not kept:
        raise UsageError("no file is left to check after --include / --exclude")
    return kept


def _patterns(patterns: Sequence[str], option: str) -> Any:
    from pathspec import GitIgnoreSpec

    for pattern in patterns:
        try:
            GitIgnoreSpec.from_lines([pattern])
        except (ValueError, re.error):
            raise UsageError(f"{option} {pattern!r} is not a valid pattern") from None
    return GitIgnoreSpec.from_lines(list(patterns))


def _match_key(path: str) -> str:
    """The path that patterns match: relative to the current directory when below it, else
    absolute without the leading slash (so `/abs/**` anchors at the root)."""
    full = os.path.abspath(path)
    try:
        rel = os.path.relpath(full)
    except ValueError:  # another drive, on Windows
        rel = full
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        rel = full.lstrip(os.sep)
    return rel.replace(os.sep, "/")


Ignores = tuple[tuple[str, Any], ...]  # (directory, GitIgnoreSpec), shallowest first
_State = tuple[str, str, Ignores, int, bool]  # a glob's directory, the part next, explicit


@dataclass
class _Walker:
    """One discovery run: what was found, what went wrong, what was already visited."""

    any_extension: bool
    found: dict[str, str] = field(default_factory=dict)  # real path -> path as shown
    errors: list[ReadError] = field(default_factory=list)
    visited: set[tuple[int, int] | None] = field(default_factory=set)  # (st_dev, st_ino)
    specs: dict[str, Any] = field(default_factory=dict)  # directory -> spec (None: no file)
    roots: dict[str, str | None] = field(default_factory=dict)  # directory -> repository root

    def add(self, raw: str) -> None:
        if raw == STDIN:
            self.found.setdefault(STDIN, STDIN)
            return
        if "\0" in raw:
            raise UsageError(f"{raw!r}: not a valid path (it holds a NUL character)")
        try:
            info = os.lstat(raw)
        except (FileNotFoundError, NotADirectoryError):
            info = None
        except (OSError, ValueError) as exc:
            if not _MAGIC.search(raw):
                self.errors.append(ReadError(raw, None, _access_message(exc)))
                return
            info = None
        if info is not None:
            self._named(str(Path(raw)), info)  # as Path shows it: no "./", no double slash
        elif _MAGIC.search(raw):
            self._glob(raw)
        else:
            raise UsageError(f"{raw}: no such file or directory")

    # -- named paths

    def _named(self, raw: str, info: os.stat_result) -> None:
        if stat.S_ISLNK(info.st_mode):
            try:
                info = os.stat(raw)
            except (OSError, ValueError) as exc:
                gone = isinstance(exc, FileNotFoundError)
                self.errors.append(
                    ReadError(raw, None, "broken symbolic link" if gone else _access_message(exc))
                )
                return
        try:
            real = os.path.realpath(raw)
        except (OSError, ValueError) as exc:
            self.errors.append(ReadError(raw, None, _access_message(exc)))
            return
        if stat.S_ISDIR(info.st_mode):
            self._walk(raw, real, self._ignores_above(real), explicit=True)
        else:  # regular or not: named files are always checked; the reader refuses FIFOs
            self.found.setdefault(real, raw)

    # -- .gitignore files

    def _repository(self, directory: str) -> str | None:
        """The nearest directory at or above `directory` holding `.git`, or None."""
        chain = []
        here: str | None = None
        probe = directory
        while True:
            if probe in self.roots:
                here = self.roots[probe]
                break
            chain.append(probe)
            if os.path.lexists(os.path.join(probe, ".git")):
                here = probe
                break
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
        for seen in chain:
            self.roots[seen] = here
        return here

    def _ignores_above(self, real: str) -> Ignores:
        """The specs of the `.gitignore` files from the repository root down to `real`'s
        parent; dropped when they ignore `real` itself, since a directory you name is
        walked (the `.gitignore` files inside it still apply)."""
        root = self._repository(real)
        if root is None or root == real:
            return ()
        chain = [os.path.dirname(real)]
        while chain[-1] != root:
            chain.append(os.path.dirname(chain[-1]))
        ignores: Ignores = ()
        for directory in reversed(chain):
            spec = self._spec(directory, os.path.join(directory, ".gitignore"))
            if spec is not None:
                ignores = (*ignores, (directory, spec))
        if _ignored(ignores, real, is_dir=True):
            return ()
        return ignores

    def _spec(self, directory: str, shown: str) -> Any:
        """The compiled `.gitignore` of `directory` (None if it has none), read once."""
        if directory in self.specs:
            return self.specs[directory]
        path = os.path.join(directory, ".gitignore")
        spec = None
        if os.path.lexists(path) and not os.path.isdir(path):  # git skips a directory too
            try:
                raw = read_limited(path, MAX_GITIGNORE_BYTES, what=".gitignore files")
            except UsageError as exc:
                self.errors.append(ReadError(shown, None, exc.message))
            else:
                spec = _compile_gitignore(raw)
        self.specs[directory] = spec
        return spec

    # -- walking

    def _list(self, shown: str, real: str) -> list[os.DirEntry[str]] | None:
        """The entries of a directory, sorted by name; None if it cannot be read (recorded)."""
        try:
            with os.scandir(real) as it:
                return sorted(it, key=lambda e: e.name)
        except (OSError, ValueError) as exc:
            message = f"cannot read directory: {getattr(exc, 'strerror', None) or exc}"
            self.errors.append(ReadError(shown, None, message))
            return None

    def _inside(
        self, shown: str, real: str, entries: list[os.DirEntry[str]], ignores: Ignores,
        *, explicit: bool,
    ) -> Ignores | None:  # fmt: skip
        """The ignore rules that apply inside a directory: those above plus its own
        `.gitignore` (only its own in a nested repository); None for a virtualenv that was
        reached by walking rather than named."""
        names = {e.name for e in entries}
        if not explicit and "pyvenv.cfg" in names:
            return None
        if not explicit and ".git" in names:
            ignores = ()  # a nested repository: its own .gitignore files, not ours
        if ".gitignore" in names:
            spec = self._spec(real, _join(shown, ".gitignore"))
            if spec is not None:
                ignores = (*ignores, (real, spec))
        return ignores

    def _walk(self, shown: str, real: str, ignores: Ignores, *, explicit: bool) -> None:
        todo = [(shown, real, ignores, explicit)]
        while todo:
            shown, real, ignores, explicit = todo.pop()
            key = _identity(real)  # None when it cannot be statted: the listing says why
            if key in self.visited:  # a bind mount, or two roots, can lead here twice
                continue
            entries = self._list(shown, real)
            inner = None
            if entries is not None:
                inner = self._inside(shown, real, entries, ignores, explicit=explicit)
                if inner is None:  # a virtualenv on the way: not marked, so a named one is walked
                    continue
            if key is not None:
                self.visited.add(key)
            if entries is None or inner is None:
                continue
            below = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                child_shown = _join(shown, entry.name)
                child_real = os.path.join(real, entry.name)
                kind = self._kind(entry, child_shown)
                if kind == "dir":
                    if entry.name not in SKIP_DIRS and not _ignored(inner, child_real, is_dir=True):
                        below.append((child_shown, child_real, inner, False))
                elif (
                    kind == "file"
                    and self._wanted(entry.name)
                    and not _ignored(inner, child_real, is_dir=False)
                ):
                    self._file(entry, child_shown, child_real)
            todo.extend(reversed(below))

    def _wanted(self, name: str) -> bool:
        return self.any_extension or os.path.splitext(name)[1].lower() in FORMATS

    def _kind(self, entry: os.DirEntry[str], shown: str) -> str | None:
        """The kind of an entry met while walking: "dir" for a directory (not a link to one),
        "file" for a regular file or a link to one, None for anything else (FIFOs, sockets,
        devices, broken links), which is skipped and never opened."""
        try:
            if entry.is_dir(follow_symlinks=False):
                return "dir"
            if entry.is_file():
                return "file"
        except OSError as exc:
            self.errors.append(ReadError(shown, None, _access_message(exc)))
        return None

    def _file(self, entry: os.DirEntry[str], shown: str, real: str) -> None:
        if entry.is_symlink():
            with contextlib.suppress(OSError, ValueError):
                real = os.path.realpath(real)
        self.found.setdefault(real, shown)

    # -- globs

    def _glob(self, pattern: str) -> None:
        """Expand `pattern` as a shell would, but in-process: `**` is any number of
        directories, wildcards do not match a leading dot, `**` never follows a symbolic
        link, and what wildcards reach is skipped as a walk would skip it."""
        parts = pattern.replace(os.sep, "/").split("/")
        absolute = pattern.startswith("/")
        dir_only = pattern.endswith("/")
        parts = [p for p in parts if p]
        split = next((i for i, p in enumerate(parts) if _MAGIC.search(p)), len(parts))
        base_parts, rest = parts[:split], parts[split:]
        rest = [p for i, p in enumerate(rest) if not (p == "**" and rest[i - 1 : i] == ["**"])]
        shown = ("/" if absolute else "") + "/".join(base_parts)
        base = shown or "."
        before = (len(self.found), len(self.errors))
        matched, real, is_dir = False, base, False
        try:
            real = os.path.realpath(base)
            is_dir = os.path.isdir(base)
        except (OSError, ValueError):
            pass
        if is_dir:
            glob = _Glob(self, rest, dir_only)
            glob.run(shown, real, self._ignores_above(real))
            matched = glob.matched
        if not matched and (len(self.found), len(self.errors)) == before:
            raise UsageError(f"{pattern}: no file matches this pattern")


@dataclass
class _Glob:
    walker: _Walker
    rest: list[str]
    dir_only: bool
    matched: bool = False
    seen: set[tuple[int, int, int]] = field(default_factory=set)

    def run(self, shown: str, real: str, ignores: Ignores) -> None:
        todo: list[_State] = [(shown, real, ignores, 0, True)]
        while todo:
            shown, real, ignores, i, explicit = todo.pop()
            identity = _identity(real)
            if identity is None or (*identity, i) in self.seen:
                continue
            self.seen.add((*identity, i))
            # listed even for a literal part: its .gitignore applies below, and a
            # virtualenv reached by a wildcard is skipped
            entries = self.walker._list(shown, real)
            if entries is None:
                continue
            inner = self.walker._inside(shown, real, entries, ignores, explicit=explicit)
            if inner is None:
                continue
            if _MAGIC.search(self.rest[i]) or self.rest[i] == "**":
                self._step(shown, real, (entries, inner), i, todo)
            else:
                self._literal(shown, real, inner, i, todo)

    def _literal(self, shown: str, real: str, ignores: Ignores, i: int, todo: list[_State]) -> None:
        part = self.rest[i]
        child_shown = _join(shown, part)
        try:
            child_real = os.path.realpath(os.path.join(real, part))
            is_dir = os.path.isdir(child_real)
            exists = os.path.lexists(os.path.join(real, part))
        except (OSError, ValueError):
            return
        if i + 1 < len(self.rest):
            if is_dir:
                todo.append((child_shown, child_real, ignores, i + 1, True))
        elif exists and (is_dir or not self.dir_only):
            self._match(child_shown, child_real, ignores, is_dir=is_dir, explicit=True)

    def _step(
        self,
        shown: str,
        real: str,
        scanned: tuple[list[os.DirEntry[str]], Ignores],
        i: int,
        todo: list[_State],
    ) -> None:
        entries, inner = scanned
        part = self.rest[i]
        last = i + 1 == len(self.rest)
        if part == "**":
            if last:  # `dir/**`: everything below, as a walk finds it
                self.matched = True
                self.walker._walk(shown, real, inner, explicit=True)
                return
            if _MAGIC.search(self.rest[i + 1]):
                self._step(shown, real, scanned, i + 1, todo)  # `**` as zero directories
            else:
                self._literal(shown, real, inner, i + 1, todo)
            below: list[_State] = []
            for entry in entries:
                child_real = os.path.join(real, entry.name)
                if (
                    not entry.name.startswith(".")
                    and entry.name not in SKIP_DIRS
                    and self.walker._kind(entry, _join(shown, entry.name)) == "dir"
                    and not _ignored(inner, child_real, is_dir=True)
                ):
                    below.append((_join(shown, entry.name), child_real, inner, i, False))
            todo.extend(reversed(below))
            return
        hidden_ok = part.startswith(".")
        below = []
        for entry in entries:
            if (entry.name.startswith(".") and not hidden_ok) or not fnmatch.fnmatchcase(
                entry.name, part
            ):
                continue
            child_shown = _join(shown, entry.name)
            child_real = os.path.join(real, entry.name)
            kind = self.walker._kind(entry, child_shown)  # links to directories: not followed
            if (
                kind is None
                or (kind == "dir" and entry.name in SKIP_DIRS)
                or _ignored(inner, child_real, is_dir=kind == "dir")
            ):
                continue
            if not last:
                if kind == "dir":
                    below.append((child_shown, child_real, inner, i + 1, False))
            elif kind == "dir":
                self._match(child_shown, child_real, inner, is_dir=True, explicit=False)
            elif not self.dir_only:
                self.matched = True
                self.walker._file(entry, child_shown, child_real)
        todo.extend(reversed(below))

    def _match(
        self, shown: str, real: str, ignores: Ignores, *, is_dir: bool, explicit: bool
    ) -> None:
        self.matched = True
        if is_dir:
            self.walker._walk(shown, real, ignores, explicit=explicit)
        else:
            self.walker.found.setdefault(real, shown)


def _identity(real: str) -> tuple[int, int] | None:
    try:
        info = os.stat(real)
    except (OSError, ValueError):
        return None  # the listing will say why
    return (info.st_dev, info.st_ino)


def _join(shown: str, name: str) -> str:
    """A child's path as shown: `name` below "." or a glob's empty base, as Path joins it."""
    return os.path.join(shown, name) if shown not in ("", ".") else name


def _access_message(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return "not a valid path"


def _compile_gitignore(raw: bytes) -> Any:
    """A GitIgnoreSpec from a `.gitignore`'s bytes, as git reads it: a UTF-8 BOM skipped,
    lines split on "\\n" with one "\\r" before it dropped, invalid lines ignored."""
    from pathspec import GitIgnoreSpec

    text = raw.removeprefix(_BOM).decode("utf-8", "surrogateescape")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    try:
        return GitIgnoreSpec.from_lines(lines)
    except (ValueError, re.error):
        good = []
        for line in lines:
            try:
                GitIgnoreSpec.from_lines([line])
            except (ValueError, re.error):
                continue
            good.append(line)
        return GitIgnoreSpec.from_lines(good)


def _ignored(ignores: Ignores, real: str, *, is_dir: bool) -> bool:
    """Whether the `.gitignore` files ignore `real`: the deepest file with a matching pattern
    decides, and within it the last matching pattern (negations included), as in git."""
    for directory, spec in reversed(ignores):
        prefix = directory if directory.endswith(os.sep) else directory + os.sep
        if not real.startswith(prefix):
            continue
        rel = real[len(prefix) :].replace(os.sep, "/")
        result = spec.check_file(rel + "/" if is_dir else rel).include
        if result is not None:
            return bool(result)
    return False
