"""Media token formulas and size sniffing from data: URLs."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from mimo_select import media
from mimo_select.errors import RequestError
from mimo_select.tokens import count_chat

P = media.default_params()
assert P is not None
assert P.image
assert P.audio
assert P.video


def data_url(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(payload).decode()


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def jpeg(width: int, height: int, exif: int = 0) -> bytes:
    app1 = b"\xff\xe1" + struct.pack(">H", exif + 2) + b"\0" * exif if exif else b""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app1 + sof + b"\xff\xd9"


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\0" * 10


def webp(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0" * 4
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def wav(seconds: float, rate: int = 16000) -> bytes:
    data = b"\0" * int(seconds * rate * 2)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data))
    return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [(1024, 1024, 1024), (1920, 1080, 2040), (10, 10, 9), (20000, 20000, 8100), (64, 64, 9)],
)
def test_image_formula_with_the_documented_examples(width: int, height: int, tokens: int) -> None:
    assert media.image_tokens(width, height, P.image) == tokens  # type: ignore[union-attr]


def test_audio_is_6_25_tokens_per_second() -> None:
    assert media.audio_tokens(60, P.audio) == 375  # type: ignore[union-attr]


def test_a_60s_1080p_video_at_defaults_is_about_17240_tokens() -> None:
    part = media.video_tokens(60, P.video, P.audio, width=1920, height=1080)  # type: ignore[arg-type]
    wrapper = 2  # <|vision_start|> ... <|vision_end|>
    assert part + wrapper == 17_240


@pytest.mark.parametrize("make", [png, jpeg, gif, webp], ids=lambda f: f.__name__)
def test_image_size_is_read_from_the_header(make) -> None:  # type: ignore[no-untyped-def]
    part = {"type": "image_url", "image_url": {"url": data_url("image/x", make(1920, 1080))}}
    estimate = media.estimate_part(part, "$")
    assert (estimate.tokens, estimate.upper, estimate.exact_size) == (2040, 2040, True)


def test_jpeg_frame_after_a_large_exif_block() -> None:
    url = data_url("image/jpeg", jpeg(1024, 1024, exif=60_000))
    assert media.estimate_part({"type": "image_url", "image_url": {"url": url}}, "$").tokens == 1024


def test_an_image_url_is_bounded_by_the_documented_maximum() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}}
    estimate = media.estimate_part(part, "$")
    assert (estimate.tokens, estimate.lower, estimate.upper, estimate.exact_size) == (
        8192,
        8,
        8192,
        False,
    )


def test_anthropic_image_block() -> None:
    data = base64.b64encode(png(1024, 1024)).decode()
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    assert media.estimate_part(block, "$").tokens == 1024


def test_wav_duration_from_the_header_and_unknown_audio_is_unbounded() -> None:
    part = {
        "type": "input_audio",
        "input_audio": {"data": data_url("audio/wav", wav(2.0)), "format": "wav"},
    }
    assert media.estimate_part(part, "$").tokens == 13  # ceil(2 x 6.25)
    bare = {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav(4.0)).decode()}}
    assert media.estimate_part(bare, "$").tokens == 25
    mp3 = {"type": "input_audio", "input_audio": {"data": "https://example.invalid/a.mp3"}}
    assert media.estimate_part(mp3, "$").upper is None


def test_a_video_url_is_bounded_by_the_frame_limit() -> None:
    part = {"type": "video_url", "video_url": {"url": "https://example.invalid/v.mp4"}}
    estimate = media.estimate_part(part, "$")
    # 2,048 frames at 2 fps: 1,024 s, 1,024 groups of at most 300 + 5 tokens, plus the audio
    assert estimate.upper == 1024 * 305 + 3 + 6400
    assert media.estimate_part({**part, "fps": 1}, "$").upper == 1024 * 305 + 3 + 12800


def test_chat_with_media_is_inexact_and_never_counts_base64_as_text() -> None:
    big = data_url("image/png", png(1024, 1024) + b"\0" * 3_000_000)
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": big}},
    ]}]  # fmt: skip
    count = count_chat(messages, thinking=False)
    assert not count.exact
    assert dict(count.parts)["image"] == 1024
    assert count.tokens < 1200  # 4 MB of base64 counted as text would be millions


def test_bad_media_parts_name_the_path() -> None:
    with pytest.raises(RequestError) as info:
        media.estimate_part({"type": "image_url", "image_url": {}}, "$.messages[0].content[1]")
    assert info.value.where == "$.messages[0].content[1].image_url"
    with pytest.raises(RequestError, match=r"fps must be a number from 0\.1 to 60"):
        media.estimate_part({"type": "video_url", "video_url": {"url": "x"}, "fps": 0}, "$")
