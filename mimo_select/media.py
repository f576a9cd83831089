"""How images, audio and video become tokens, by the platform's documented formulas.

The parameters live in the catalog (`media_tokens` per model), not here. Where the input
reveals its size (an image header in a `data:` URL, a WAV header) the count is computed from
it; where it does not (a URL, an unknown codec) the documented maximum per item is used and
the count is marked as an upper bound. Base64 payloads are never decoded whole and never
counted as text: only the first few kilobytes are read, to find the header.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._audio import audio_length
from ._payload import Payload, payload_source
from .catalog import AudioTokens, Catalog, ImageTokens, MediaTokens, VideoTokens
from .errors import RequestError

__all__ = [
    "MediaEstimate", "MediaRef", "MediaSize", "MediaSizes", "audio_tokens", "estimate_part",
    "image_tokens", "video_tokens",
]  # fmt: skip

_JPEG_SEGMENTS = 512  # segments walked before the frame header; real files have a dozen


@dataclass(frozen=True, slots=True)
class MediaEstimate:
    """Tokens for one media item: the estimate and the interval it lies in."""

    kind: str
    tokens: int
    lower: int
    upper: int | None  # None: no documented maximum, so no bound
    exact_size: bool  # the size came from the input itself (or the caller gave it)
    note: str | None = None  # what is not known, and how to settle it


@dataclass(frozen=True, slots=True)
class MediaSize:
    """What a caller knows of a media item that the request only links to: its length in
    seconds (audio, video), its pixel size (image, video), its frame rate (video)."""

    seconds: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None


class MediaRef(NamedTuple):
    """A media item whose size the request does not reveal: its kind (image, audio, video),
    its URL or data (the first 2,048 characters), and its place among the request's items of
    that kind (0, 1, ...)."""

    kind: str
    url: str
    position: int


# How a caller sizes linked media: a mapping from URL to size, or a function of the item.
MediaSizes = Mapping[str, MediaSize] | Callable[[MediaRef], MediaSize | None]


# --- formulas ------------------------------------------------------------------------------


def _resize(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """Sides rounded to multiples of `factor`, scaled to stay within the pixel range."""
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def image_tokens(width: int, height: int, p: ImageTokens) -> int:
    """Tokens for one image: (h/patch)(w/patch) after resizing, within the per-image range.

    1024 x 1024 -> 1,024; 1920 x 1080 -> 2,040.
    """
    h, w = _resize(height, width, p.patch, p.min_pixels, p.max_pixels)
    return min(p.max_tokens, max(p.min_tokens, (h // p.patch) * (w // p.patch)))


def audio_tokens(seconds: float, p: AudioTokens) -> int:
    return math.ceil(seconds * p.tokens_per_second)


def video_tokens(
    seconds: float,
    p: VideoTokens,
    audio: AudioTokens | None,
    *,
    fps: float | None = None,
    width: int | None = None,
    height: int | None = None,
    with_audio: bool = True,
) -> int:
    """Tokens for one video: frame groups at the frame budget, their overheads, the audio track.

    Frames = min(ceil(seconds x fps), max_frames), rounded up to a whole group. Without a
    resolution each group takes its full budget (an upper bound).
    """
    frames = min(math.ceil(seconds * (fps or p.default_fps)), p.max_frames)
    frames = max(p.temporal_patch, -(-frames // p.temporal_patch) * p.temporal_patch)
    groups = frames // p.temporal_patch
    per_group = p.max_tokens_per_frame
    if width and height:
        budget = p.max_tokens_per_frame * p.patch * p.patch
        h, w = _resize(height, width, p.patch, p.patch * p.patch, budget)
        per_group = min(per_group, (h // p.patch) * (w // p.patch))
    sound = audio_tokens(seconds, audio) if audio is not None and with_audio else 0
    return groups * (per_group + p.frame_overhead_tokens) + p.item_overhead_tokens + sound


# --- parameters ----------------------------------------------------------------------------


def params_of(catalog: Catalog) -> MediaTokens | None:
    """A catalog's media parameters: the largest per item across its models (every model that
    takes media documents the same ones today). Computed once per catalog."""
    cached = _PARAMS.get(id(catalog))
    if cached is not None and cached[0] is catalog:
        return cached[1]
    found = [m.media_tokens for m in catalog if m.media_tokens is not None]
    params = None
    if found:
        first = found[0]
        params = first if all(f == first for f in found) else max(found, key=_max_image)
    if len(_PARAMS) > 64:  # a process sees a handful of catalogs; never grow without bound
        _PARAMS.clear()
    _PARAMS[id(catalog)] = (catalog, params)
    return params


_PARAMS: dict[int, tuple[Catalog, MediaTokens | None]] = {}


def default_params() -> MediaTokens | None:
    """The bundled catalog's media parameters."""
    from .catalog import load_catalog

    return params_of(load_catalog())


def _max_image(p: MediaTokens) -> int:
    return p.image.max_tokens if p.image else 0


# --- request parts -------------------------------------------------------------------------


def estimate_part(
    part: Mapping[str, Any],
    where: str,
    params: MediaTokens | None = None,
    sizes: MediaSizes | None = None,
    index: int = 0,
) -> MediaEstimate:
    """Tokens for one media part, from its own header when it has one, else from `sizes`,
    else the documented maximum (or no bound), with a note saying how to settle it."""
    p = params or default_params()
    kind = part.get("type")
    if kind in ("image_url", "image"):
        source = _image_source(part, where)
        if p is None or p.image is None:
            raise RequestError("the catalog documents no image token parameters", where=where)
        size = _image_size(source, where)
        if size is None:
            given = _given(sizes, MediaRef("image", source, index))
            if given is not None and given.width and given.height:
                size = (given.width, given.height)
        if size is None:
            return MediaEstimate(
                "image", p.image.max_tokens, p.image.min_tokens, p.image.max_tokens, False,
                f"image size unknown: counted at the documented maximum of {p.image.max_tokens:,}"
                " tokens; give its size (--media image:WIDTHxHEIGHT, or media_sizes=)",
            )  # fmt: skip
        n = image_tokens(size[0], size[1], p.image)
        return MediaEstimate("image", n, n, n, True)
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, Mapping) or not isinstance(audio.get("data"), str):
            raise RequestError("input_audio needs a `data` string", where=f"{where}.input_audio")
        if p is None or p.audio is None:
            raise RequestError("the catalog documents no audio token parameters", where=where)
        hint = audio.get("format")
        try:
            length = audio_length(audio["data"], hint if isinstance(hint, str) else None)
        except RequestError as exc:
            raise RequestError(exc.message, where=f"{where}.input_audio.data") from None
        seconds, exact = (length.seconds, length.exact) if length else (None, False)
        if seconds is None:
            given = _given(sizes, MediaRef("audio", audio["data"][:2048], index))
            seconds, exact = (given.seconds, True) if given and given.seconds else (None, False)
        if seconds is None:
            bound = audio_tokens(p.audio.max_seconds, p.audio) if p.audio.max_seconds else None
            return MediaEstimate(
                "audio", bound or 0, 0, bound, False,
                "audio length unknown: give its duration (--media audio:DURATION, or"
                " media_sizes=)",
            )  # fmt: skip
        n = audio_tokens(seconds, p.audio)
        note = None if exact else "MP3 length estimated from its bitrate"
        return MediaEstimate("audio", n, n, n, exact, note)
    if kind in ("video_url", "video"):
        return _video(part, where, p, sizes, index)
    raise RequestError(
        f"unknown content part type {kind!r}; expected text, image_url, input_audio or video_url",
        where=f"{where}.type",
    )


def _video(
    part: Mapping[str, Any],
    where: str,
    p: MediaTokens | None,
    sizes: MediaSizes | None,
    index: int,
) -> MediaEstimate:
    video = part.get("video_url", part.get("video"))
    url = video.get("url") if isinstance(video, Mapping) else video
    if not isinstance(url, str):
        raise RequestError("video_url needs a `url` string", where=f"{where}.video_url")
    if p is None or p.video is None:
        raise RequestError("the catalog documents no video token parameters", where=where)
    fps = part.get("fps")
    if fps is not None and not _positive(fps):
        raise RequestError(
            f"fps must be a number from {_MIN_FPS} to {_MAX_FPS:g}, got {fps!r}",
            where=f"{where}.fps",
        )
    given = _given(sizes, MediaRef("video", url[:2048], index))
    fps = fps or (given.fps if given else None)
    if given is not None and given.seconds:
        n = video_tokens(given.seconds, p.video, p.audio, fps=fps, width=given.width,
                         height=given.height)  # fmt: skip
        return MediaEstimate("video", n, n, n, True)
    seconds = p.video.max_frames / (fps or p.video.default_fps)
    if p.video.max_seconds:
        seconds = min(seconds, p.video.max_seconds)
    n = video_tokens(seconds, p.video, p.audio, fps=fps)
    return MediaEstimate(
        "video", n, 0, n, False,
        f"video length unknown: counted at the documented maximum of {n:,} tokens; give its"
        " length (--media video:DURATION@RESOLUTION, or media_sizes=)",
    )  # fmt: skip


_MIN_FPS, _MAX_FPS = 0.1, 60.0  # a frame every 10 s to 60 a second: beyond, no real video


def _positive(value: Any) -> bool:
    """A frame rate in range (JSON gives Python 1e400, NaN and Infinity too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return _MIN_FPS <= value <= _MAX_FPS  # False for NaN and infinities


def _given(sizes: MediaSizes | None, ref: MediaRef) -> MediaSize | None:
    """The caller's size for `ref`, if any."""
    if sizes is None:
        return None
    found = sizes.get(ref.url) if isinstance(sizes, Mapping) else sizes(ref)
    if found is not None and not isinstance(found, MediaSize):
        raise RequestError(f"media_sizes gave {found!r} for {ref.kind} {ref.position}; expected a "
                           "MediaSize")  # fmt: skip
    return found


def _image_source(part: Mapping[str, Any], where: str) -> str:
    """The image's URL, data URL, or (Anthropic) bare base64 data."""
    if part.get("type") == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str):
            raise RequestError("image_url needs a `url` string", where=f"{where}.image_url")
        return url
    source = part.get("source")  # Anthropic: {"type": "base64", "data": ...} or {"type": "url"}
    if not isinstance(source, Mapping):
        raise RequestError("an image block needs a `source` object", where=f"{where}.source")
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        return str(source["data"])
    if isinstance(source.get("url"), str):
        return str(source["url"])
    raise RequestError("an image source needs `data` or `url`", where=f"{where}.source")


def _image_size(source: str, where: str) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, WebP or JPEG header; None for a URL or an unknown
    format. A header that states no pixels is an error: the platform would refuse it."""
    found = payload_source(source)
    if found is None:
        return None
    try:
        size = _header_size(Payload(source, found[1]))
    except RequestError as exc:  # invalid base64 in the header
        raise RequestError(exc.message, where=where) from None
    if size is not None and (size[0] <= 0 or size[1] <= 0):
        raise RequestError(
            f"the image header says {size[0]}x{size[1]} pixels; an image needs both sides",
            where=where,
        )
    return size


def _header_size(payload: Payload) -> tuple[int, int] | None:
    head = payload.read(0, 48)  # PNG, GIF and WebP state their size within 48 bytes
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _webp_size(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(payload)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30:
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg_size(payload: Payload) -> tuple[int, int] | None:
    """Walk the JPEG's segments to its frame header, reading each segment's four-byte head
    and jumping over its body (an EXIF block of a megabyte costs nothing to skip)."""
    i = 2
    for _ in range(_JPEG_SEGMENTS):
        head = payload.read(i, 9)
        if len(head) < 4 or head[0] != 0xFF:
            return None
        marker = head[1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if len(head) < 9:
                return None
            h, w = struct.unpack(">HH", head[5:9])
            return w, h
        i += 2 + int.from_bytes(head[2:4], "big")
    return None


# --- sizes a person gives --------------------------------------------------------------------

_RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080),
                "1440p": (2560, 1440), "2160p": (3840, 2160), "4k": (3840, 2160)}  # fmt: skip
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d{1,2}(?:\.\d+)?)$")
_PIXELS = re.compile(r"^(\d+)x(\d+)$")
MEDIA_SYNTAX = "image:1920x1080, audio:40m (or 90s, 1h30m, 1:30), video:90s@720p (or @1280x720)"


def parse_media(spec: str) -> tuple[str, MediaSize]:
    """A size as a person types it: `image:1920x1080`, `audio:40m`, `video:90s@720p`.
    Raises `RequestError` saying the syntax."""
    kind, _, rest = spec.strip().lower().partition(":")
    if kind == "image":
        pixels = _PIXELS.match(rest)
        if pixels and int(pixels[1]) > 0 and int(pixels[2]) > 0:
            return kind, MediaSize(width=int(pixels[1]), height=int(pixels[2]))
    elif kind == "audio":
        seconds = _seconds(rest)
        if seconds:
            return kind, MediaSize(seconds=seconds)
    elif kind == "video":
        length, _, shape = rest.partition("@")
        seconds = _seconds(length)
        pixels = _PIXELS.match(shape)
        size = _RESOLUTIONS.get(shape) or ((int(pixels[1]), int(pixels[2])) if pixels else None)
        if seconds and (size or not shape):
            width, height = size or (None, None)
            return kind, MediaSize(seconds=seconds, width=width, height=height)
    raise RequestError(f"cannot read media size {spec!r}; write {MEDIA_SYNTAX}", where="--media")


def _seconds(text: str) -> float | None:
    clock = _CLOCK.match(text)
    if clock:
        return float(clock[1] or 0) * 3600 + float(clock[2]) * 60 + float(clock[3])
    match = _DURATION.match(text) if text else None
    if not match or not any(match.groups()):
        return None
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    total = h * 3600 + m * 60 + s
    return total if 0 < total < 1e7 else None


def size_tokens(kind: str, size: MediaSize, params: MediaTokens | None) -> MediaEstimate:
    """Tokens for a media item known only by its size (no request part)."""
    p = params or default_params()
    if kind == "image" and p is not None and p.image and size.width and size.height:
        n = image_tokens(size.width, size.height, p.image)
    elif kind == "audio" and p is not None and p.audio and size.seconds:
        n = audio_tokens(size.seconds, p.audio)
    elif kind == "video" and p is not None and p.video and size.seconds:
        n = video_tokens(size.seconds, p.video, p.audio, width=size.width, height=size.height)
    else:
        raise RequestError(f"the catalog documents no {kind} token parameters", where="--media")
    return MediaEstimate(kind, n, n, n, True)


def sizes_in_order(given: list[tuple[str, MediaSize]]) -> MediaSizes:
    """Sizes for a request's linked media by kind and order: the i-th size given for a kind
    sizes the i-th item of that kind; one size for a kind sizes all of them."""
    by_kind: dict[str, list[MediaSize]] = {}
    for kind, size in given:
        by_kind.setdefault(kind, []).append(size)

    def lookup(ref: MediaRef) -> MediaSize | None:
        sizes = by_kind.get(ref.kind)
        if not sizes:
            return None
        return (
            sizes[0]
            if len(sizes) == 1
            else sizes[ref.position]
            if ref.position < len(sizes)
            else None
        )

    return lookup
