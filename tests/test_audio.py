"""Audio durations read from base64 headers: real files, truncations, fuzzing, bounded decoding."""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimo_select import _audio, _payload
from mimo_select._audio import audio_seconds
from mimo_select.errors import RequestError

from .conftest import CASES

AUDIO = CASES / "audio"
EXPECTED: dict[str, dict[str, Any]] = json.loads((AUDIO / "expected.json").read_text())
FILES = {name: (AUDIO / name).read_bytes() for name in EXPECTED}
MIMES = (*_audio._MIME, "", "audio/aac", "audio/webm", "application/octet-stream")
HINTS = (None, *_audio._HINT, "MP3", "pcm16", "aac", "")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def data_url(mime: str, raw: bytes) -> str:
    return f"data:{mime};base64,{b64(raw)}"


def outcome(data: str, fmt: str | None = None) -> float | RequestError | None:
    """audio_seconds' answer, holding it to its promise: a sane float, None or a RequestError."""
    try:
        seconds = audio_seconds(data, format=fmt)
    except RequestError as error:
        caught = error
    else:
        assert seconds is None or (isinstance(seconds, float) and math.isfinite(seconds))
        assert seconds is None or seconds >= 0
        return seconds
    assert caught.where is None  # the caller adds the JSON path
    assert caught.message
    return caught


@pytest.fixture
def payloads(monkeypatch: pytest.MonkeyPatch) -> list[_audio.Payload]:
    """Every `Payload` made while the test runs, to count the bytes decoded."""
    made: list[_audio.Payload] = []

    class Counted(_audio.Payload):
        __slots__ = ()

        def __init__(self, text: str, start: int) -> None:
            super().__init__(text, start)
            made.append(self)

    monkeypatch.setattr(_audio, "Payload", Counted)
    return made


# --- real files -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXPECTED)
def test_fixture_durations_as_the_sdks_send_them(name: str) -> None:
    case, raw = EXPECTED[name], FILES[name]
    ways = [
        (data_url(case["mime"], raw), None),  # image_url-style data URL
        (b64(raw), case["format"]),  # OpenAI input_audio: bare base64 and a format hint
        (b64(raw), None),
        (data_url("application/octet-stream", raw), "wav"),  # a wrong label: content decides
    ]
    for data, fmt in ways:
        seconds = audio_seconds(data, format=fmt)
        if case["seconds"] is None:
            assert seconds is None
        else:
            assert seconds == pytest.approx(case["seconds"], rel=0.01), (name, fmt)


@pytest.mark.parametrize("name", [n for n in EXPECTED if EXPECTED[n]["seconds"] is not None])
def test_only_an_mp3_without_a_header_is_an_estimate(name: str) -> None:
    length = _audio.audio_length(b64(FILES[name]), None)
    assert length is not None
    assert length.exact is not EXPECTED[name].get("estimate", False)


@pytest.mark.parametrize("name", EXPECTED)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_line_wrapped_base64_reads_the_same(name: str, newline: str) -> None:
    lines = base64.encodebytes(FILES[name]).decode().replace("\n", newline)
    assert audio_seconds(lines) == audio_seconds(b64(FILES[name]))
    text = b64(FILES[name])
    pem = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    assert audio_seconds(pem) == audio_seconds(text)


def test_misplaced_line_breaks_are_an_error_not_a_wrong_answer() -> None:
    text = base64.encodebytes(FILES["vorbis-2s.ogg"]).decode()
    broken = text[:200] + text[201:]  # one line short: everything after it shifts
    assert isinstance(outcome(broken), RequestError)


def test_unpadded_base64() -> None:
    for name, raw in FILES.items():
        assert audio_seconds(b64(raw).rstrip("=")) == audio_seconds(b64(raw)), name


def test_vbri_header() -> None:
    """Fraunhofer's VBRI header (no encoder here writes one): frames at byte 14 of the tag."""
    raw = FILES["no-header-cbr-2s.mp3"]
    start = _audio._skip_id3(_audio.Payload(b64(raw), 0))
    header = raw[start : start + 4]
    frame = _audio._frame(header, 0)
    assert frame is not None
    assert frame.length
    vbri = b"VBRI" + struct.pack(">HHHII", 1, 576, 75, len(raw), 200)
    first = header + b"\0" * 32 + vbri
    first += b"\0" * (frame.length - len(first))
    data = raw[:start] + first + raw[start:]
    assert audio_seconds(b64(data)) == pytest.approx(200 * 1152 / 44100)


def test_id3v1_is_not_counted_as_audio() -> None:
    raw = FILES["no-header-cbr-2s.mp3"]
    assert raw[-128:-125] == b"TAG"
    with_tag, without = audio_seconds(b64(raw)), audio_seconds(b64(raw[:-128]))
    assert with_tag == without


# --- bounded decoding -----------------------------------------------------------------------

TEN_MB = 10_000_000


def _pad_mdat(raw: bytes, extra: int) -> bytes:
    at = raw.index(b"mdat") - 4
    size = int.from_bytes(raw[at : at + 4], "big")
    end = at + size
    return (
        raw[:at] + (size + extra).to_bytes(4, "big") + raw[at + 4 : end] + bytes(extra) + raw[end:]
    )


def _big_payloads() -> Iterator[tuple[str, bytes, float, int]]:
    """(name, ~10 MB of data, its duration, most bytes the reader may decode)."""
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    yield (
        "wav",
        b"RIFF" + struct.pack("<I", 36 + TEN_MB) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
        + b"data" + struct.pack("<I", TEN_MB) + bytes(TEN_MB),
        TEN_MB / 32000,
        1024,
    )  # fmt: skip
    raw = FILES["lame-cbr-2s.mp3"]
    yield "mp3 with an Info header", raw + bytes(TEN_MB), 2.0, 1024
    raw = FILES["no-header-cbr-2s.mp3"]
    start = _audio._skip_id3(_audio.Payload(b64(raw), 0))
    frames = raw[start:-128]
    copies = TEN_MB // len(frames) + 1
    body = frames * copies
    seconds = len(body) * 8 / 32000
    yield "mp3 estimate", raw[:start] + body + raw[-128:], seconds, 1024
    yield "flac", FILES["tone-1s.flac"] + bytes(TEN_MB), 1.0, 1024
    for name in ("vorbis-2s.ogg", "opus-2s.ogg"):
        raw = FILES[name]
        last = raw.rindex(b"OggS")
        yield name, raw[:last] + bytes(TEN_MB) + raw[last:], 2.0, 2 * _audio._OGG_MAX_PAGE
    yield "m4a, moov last", _pad_mdat(FILES["moov-last-2s.m4a"], TEN_MB), 2.0, 4096
    yield "m4a, moov first", _pad_mdat(FILES["faststart-2s.m4a"], TEN_MB), 2.0, 4096


BIG = list(_big_payloads())


@pytest.mark.parametrize(("name", "raw", "seconds", "budget"), BIG, ids=[b[0] for b in BIG])
@pytest.mark.parametrize("wrapped", [False, True], ids=["one-line", "wrapped"])
def test_a_10_mb_payload_decodes_only_slices(
    payloads: list[_audio.Payload],
    name: str,
    raw: bytes,
    seconds: float,
    budget: int,
    wrapped: bool,
) -> None:
    assert len(raw) >= TEN_MB
    text = base64.encodebytes(raw).decode() if wrapped else b64(raw)
    assert audio_seconds(text) == pytest.approx(seconds, rel=0.01)
    assert len(payloads) == 1
    assert 0 < payloads[0].decoded <= budget, name


def test_the_search_for_the_last_ogg_page_is_bounded(payloads: list[_audio.Payload]) -> None:
    with pytest.raises(RequestError, match="no complete Ogg page"):
        audio_seconds(b64(FILES["opus-2s.ogg"] + bytes(TEN_MB)))
    assert payloads[0].decoded <= 2 * _audio._OGG_MAX_PAGE + 1024


# --- truncated and malformed data -----------------------------------------------------------


def _prefix_lengths(size: int) -> list[int]:
    return [*range(min(size, 1200)), *range(1200, size, 53)]


@pytest.mark.parametrize("name", EXPECTED)
def test_every_truncation_is_a_float_none_or_a_request_error(name: str) -> None:
    raw, case = FILES[name], EXPECTED[name]
    for n in _prefix_lengths(len(raw)):
        outcome(b64(raw[:n]), case["format"])
        outcome(data_url(case["mime"], raw[:n]))
    text = b64(raw)
    for n in range(0, 1600, 1):  # cut inside a 4-character group too
        outcome(text[:n])


def _wav_header(rate: int, byte_rate: int) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, rate, byte_rate, 2, 16)
    return b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<I", 16) + fmt


def _patched(name: str, at: int, new: bytes) -> bytes:
    raw = FILES[name]
    return raw[:at] + new + raw[at + len(new) :]


def _streaminfo_rate_zero() -> bytes:
    raw = FILES["tone-1s.flac"]
    info = bytearray(raw)
    info[8 + 10 : 8 + 13] = bytes([0, 0, info[8 + 12] & 0x0F])  # 20 bits of sample rate
    return bytes(info)


MALFORMED = {
    "wav with a zero byte rate": (
        _wav_header(16000, 0) + b"data" + struct.pack("<I", 4) + bytes(4), "wav", "byte rate is 0"
    ),
    "wav data before fmt": (
        b"RIFF" + struct.pack("<I", 12) + b"WAVEdata" + struct.pack("<I", 0), None, "before its fmt"
    ),
    "wav cut inside the fmt chunk": (_wav_header(16000, 32000)[:30], None, "truncated"),
    "flac with a zero sample rate": (_streaminfo_rate_zero(), None, "sample rate is 0"),
    "flac without streaminfo": (b"fLaC\x04\x00\x00\x22" + bytes(34), None, "STREAMINFO"),
    "vorbis with a zero sample rate": (
        _patched("vorbis-2s.ogg", FILES["vorbis-2s.ogg"].index(b"\x01vorbis") + 12, bytes(4)),
        None,
        "sample rate is 0",
    ),
    "ogg page version 1": (_patched("opus-2s.ogg", 4, b"\x01"), None, "version 1"),
    "mp4 moov running past the data": (
        _patched("faststart-2s.m4a", 28, struct.pack(">I", 10**8)), None, "outside its file"
    ),
    "mp4 with a zero timescale": (
        _patched("faststart-2s.m4a", FILES["faststart-2s.m4a"].index(b"mvhd") + 16, bytes(4)),
        None,
        "timescale is 0",
    ),
    "mp4 cut before moov": (FILES["moov-last-2s.m4a"][:3000], None, "outside its file"),
    "id3 with a size that is not syncsafe": (b"ID3\x04\x00\x00\x00\x00\x00\xff" + bytes(64), None, "ID3v2"),
    "id3 longer than the data": (b"ID3\x04\x00\x00\x00\x00\x10\x00" + bytes(64), None, "ID3v2"),
    "declared mp3 without a frame": (bytes(5000), "mp3", "no MPEG audio frame"),
    "declared flac but not flac": (bytes(64), "flac", "declared as flac"),
    "declared wav but empty": (b"", "wav", "empty"),
}  # fmt: skip


@pytest.mark.parametrize(("raw", "fmt", "message"), MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_headers_raise_a_request_error_without_a_path(
    raw: bytes, fmt: str | None, message: str
) -> None:
    with pytest.raises(RequestError, match=message) as info:
        audio_seconds(b64(raw), format=fmt)
    assert info.value.where is None


def test_invalid_base64_is_an_error_only_when_the_data_claims_audio() -> None:
    with pytest.raises(RequestError, match="invalid base64"):
        audio_seconds("data:audio/mpeg;base64,!!!!AAAA")
    with pytest.raises(RequestError, match="invalid base64"):
        audio_seconds("SUQz!!!!", format="mp3")
    with pytest.raises(RequestError, match="invalid base64"):  # the head says Ogg; the tail?
        audio_seconds(b64(FILES["opus-2s.ogg"])[:-400] + "é" * 400)
    # only what is read is checked: the samples of a WAV are never decoded
    assert audio_seconds(b64(FILES["tone-1s.wav"])[:400] + "é" * 10_640) == pytest.approx(1.0)
    assert audio_seconds("not base64 at all!") is None
    assert audio_seconds("A") is None  # an impossible base64 length


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        ("https://example.invalid/a.mp3", "mp3"),
        ("http://example.invalid/a.wav", None),
        ("data:audio/wav,RIFF....WAVE", None),  # not base64
        ("data:audio/wav;base64", None),  # no comma
        (data_url("audio/aac", b"\xff\xf1\x50\x80" + bytes(400)), None),  # ADTS AAC
        (b64(b"\x1aE\xdf\xa3" + bytes(400)), None),  # WebM
        (b64(bytes(4800)), "pcm16"),
        ("", None),
        (b64(b"OggS\x00\x02" + bytes(21) + b"\x01\x13" + b"Speex   " + bytes(64)), None),
    ],
)
def test_unknown_audio_has_no_length(data: str, fmt: str | None) -> None:
    assert audio_seconds(data, format=fmt) is None


def test_streamed_wav_takes_its_size_from_the_payload() -> None:
    header = _wav_header(16000, 32000)
    body = bytes(64_000)
    for size in (0, 0xFFFFFFFF, 10**9):
        raw = header + b"data" + struct.pack("<I", size) + body
        assert audio_seconds(b64(raw)) == pytest.approx(2.0)


def test_chained_ogg_has_no_known_length() -> None:
    raw = FILES["opus-2s.ogg"]
    other = raw.replace(raw[14:18], b"\x01\x02\x03\x04")  # a second stream after the first
    assert audio_seconds(b64(raw + other)) is None


def _nested_moov() -> bytes:
    trak = b"\x00\x00\x03\x28trak" + b"\x00\x00\x00\x08free" * 100
    moov = trak * 2000
    return (
        b"\x00\x00\x00\x10ftypM4A \x00\x00\x00\x00"
        + struct.pack(">I", 8 + len(moov))
        + b"moov"
        + moov
    )


@pytest.mark.parametrize(
    ("raw", "fmt"),
    [
        (b"\x00\x00\x00\x10ftypM4A \x00\x00\x00\x00" + b"\x00\x00\x00\x08free" * 1_000_000, None),
        (_nested_moov(), None),
        (b"RIFF\0\0\0\0WAVE" + b"junk\0\0\0\0" * 1_000_000, None),
        (b"\xff\xfb\x90\x64" * 100_000, "mp3"),  # frame headers that never line up
        (b"ID3\x04\0\0\0\0\0\0" + b"\xff" * 400_000, None),
        (
            b"OggS\x00\x02"
            + bytes(20)
            + b"\x01\x13OpusHead\x01\x01\0\0\x80\xbb"
            + bytes(5)
            + b"OggS\x00" * 800_000,
            None,
        ),
    ],
    ids=[
        "a million boxes",
        "nested boxes",
        "a million chunks",
        "false syncs",
        "id3 then 0xff",
        "false pages",
    ],
)
def test_pathological_structures_give_up_within_a_bounded_number_of_reads(
    payloads: list[_audio.Payload], raw: bytes, fmt: str | None
) -> None:
    assert not isinstance(outcome(b64(raw), fmt), float)
    assert payloads[0]._reads <= _payload._MAX_READS
    assert payloads[0].decoded <= 4 * _audio._OGG_MAX_PAGE


def test_a_mime_type_given_as_the_format_hint_declares_the_format() -> None:
    with pytest.raises(RequestError, match="declared as flac"):
        audio_seconds(b64(bytes(64)), format="audio/flac")


# --- fuzzing --------------------------------------------------------------------------------

MAGIC = (
    b"", b"RIFF\x00\x00\x00\x00WAVE", b"RF64\xff\xff\xff\xffWAVEfmt ", b"ID3\x04\x00\x00",
    b"fLaC\x00\x00\x00\x22", b"OggS\x00\x02", b"\x00\x00\x00\x18ftypM4A ", b"\x00\x00\x00\x08moov",
    b"\xff\xfb\x90\x64", b"\xff\xf3", b"\xff\xe3", b"OggS\x00\x02" + bytes(20) + b"\x01\x1e\x01vorbis",
    b"OggS\x00\x02" + bytes(20) + b"\x01\x13OpusHead", b"\x7fFLAC\x01\x00\x00\x01fLaC",
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    magic=st.sampled_from(MAGIC),
    body=st.binary(max_size=3000),
    mime=st.sampled_from(MIMES),
    hint=st.sampled_from(HINTS),
    as_url=st.booleans(),
)
def test_random_bytes_behind_every_type_and_hint(
    magic: bytes, body: bytes, mime: str, hint: str | None, as_url: bool
) -> None:
    raw = magic + body
    outcome(data_url(mime, raw) if as_url else b64(raw), hint)


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(EXPECTED)),
    edits=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), min_size=1, max_size=8),
    from_end=st.booleans(),
    hint=st.sampled_from(HINTS),
)
def test_corrupted_fixtures(
    name: str, edits: list[tuple[int, int]], from_end: bool, hint: str | None
) -> None:
    raw = bytearray(FILES[name])
    for at, value in edits:
        raw[(len(raw) - 1 - at if from_end else at) % len(raw)] = value
    outcome(b64(bytes(raw)), hint)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200), mime=st.sampled_from(MIMES), hint=st.sampled_from(HINTS))
def test_random_text_is_never_worse_than_a_request_error(
    text: str, mime: str, hint: str | None
) -> None:
    outcome(text, hint)
    outcome(f"data:{mime};base64,{text}", hint)
