"""What an input file may be, checked from its header before anything decodes it (the app and the CLI alike).

A 1.2 MB PNG can hold 20000x20000 pixels (1.2 GB once decoded) and a small video file 8K frames: the size limits of
`core.pipeline.to_rgb_frame` come after decoding, too late for memory. These read only the header:

- `check_image_header(path or bytes)`: PIL's lazy `Image.open` (reads the header, decodes nothing) -> (width, height), or
  `InputError` when it is not an image, smaller than MIN_SIDE or larger than MAX_PIXELS.
- `check_video_header(path, max_seconds)`: PyAV's container metadata (`core.video.open_container`) -> `VideoHeader`, or
  `VideoError` when it is not a video, its frames are larger than MAX_VIDEO_PIXELS or it lasts longer than
  `max_seconds` (MAX_VIDEO_SECONDS unless the caller bounds the work otherwise; None: no limit).
- `image_size(path)` and `video_header(path)`: the sizes alone, None for a file that is not an image / a video.

Both errors are ValueErrors whose text names the file's problem (expected vs found) and never a server path: callers
prefix the name they know the file by.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from core.pipeline import MAX_PIXELS, MIN_SIDE, InputError
from core.video import NOT_OPENED, VideoError, open_container, video_streams

MAX_VIDEO_WIDTH, MAX_VIDEO_HEIGHT = 4096, 2160  # DCI 4K; an 8K frame (7680x4320) is 4x that
MAX_VIDEO_PIXELS = MAX_VIDEO_WIDTH * MAX_VIDEO_HEIGHT
MAX_VIDEO_SECONDS = 4 * 3600
NOT_AN_IMAGE = "not a readable image file (corrupt, or not an image)"


@dataclass(frozen=True)
class VideoHeader:
    width: int
    height: int
    fps: float  # 0 when the header does not say
    frames: int  # 0 when the header does not say
    seconds: float  # 0 when the header does not say


def duration_text(seconds: float) -> str:
    """'4 h', '2 h 30 min', '11 min 40 s', '45 s'."""
    whole = round(seconds)
    if whole >= 3600:
        return f"{whole // 3600} h" + (f" {whole % 3600 // 60} min" if whole % 3600 // 60 else "")
    if whole >= 60:
        return f"{whole // 60} min" + (f" {whole % 60} s" if whole % 60 else "")
    return f"{whole} s"


def image_size(path) -> tuple[int, int] | None:
    """(width, height) from an image file's header, or None when it is not an image (nothing is decoded)."""
    try:
        return check_image_header(path, limits=False)
    except InputError:
        return None


def check_image_header(source, limits: bool = True) -> tuple[int, int]:
    """(width, height) of an image file (a path, or its bytes) from its header, or `InputError` saying why it is
    refused. Decodes nothing."""
    import io

    from PIL import Image

    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise InputError("is empty (0 bytes)")
        source = io.BytesIO(source)
    else:
        source = Path(source)
        if not source.is_file():
            raise InputError("is a directory, not an image file" if source.is_dir() else "no such file")
        if source.stat().st_size == 0:
            raise InputError("is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
    except Image.DecompressionBombError as error:  # PIL's own refusal, above twice its MAX_IMAGE_PIXELS: no sides
        found = re.search(r"\((\d+) pixels\)", str(error))
        pixels = int(found.group(1)) if found else 2 * Image.MAX_IMAGE_PIXELS + 1
        raise InputError(f"the image is {pixels / 1e6:.0f} megapixels; at most {MAX_PIXELS // 1_000_000} megapixels "
                         "are accepted") from None
    except Exception:  # PIL raises many types for files it cannot identify or parse
        raise InputError(NOT_AN_IMAGE) from None
    if not limits:
        return width, height
    if min(width, height) < MIN_SIDE:
        raise InputError(f"the image is only {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} are needed to find a face")
    if width * height > MAX_PIXELS:
        raise InputError(f"the image is {width}x{height} pixels; at most {MAX_PIXELS // 1_000_000} megapixels are accepted")
    return width, height


def video_header(path) -> VideoHeader | None:
    """The first video stream's sizes from the container's header, or None when it is not a video."""
    try:
        return check_video_header(path, max_seconds=None, limits=False)
    except VideoError:
        return None


def check_video_header(path, max_seconds: float | None = MAX_VIDEO_SECONDS, limits: bool = True) -> VideoHeader:
    """The first video stream's frame size, rate, frame count and duration from the container's header (PyAV), or
    `VideoError` saying why the file is refused (frames over MAX_VIDEO_PIXELS, longer than `max_seconds`; None: any
    duration). Decodes at most what FFmpeg's probe needs to read the header."""
    import av

    with open_container(path) as container:  # no such file, empty, not a video, audio only: core.video's messages
        stream = video_streams(container)[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if container.duration:
            seconds = container.duration / av.time_base
        elif stream.duration and stream.time_base:
            seconds = float(stream.duration * stream.time_base)
        else:
            seconds = 0.0
        frames = int(stream.frames or 0)
    if width <= 0 or height <= 0:
        raise VideoError(NOT_OPENED)
    if not frames and fps and seconds:
        frames = round(fps * seconds)
    if not limits:
        return VideoHeader(width, height, fps, frames, seconds)
    if width * height > MAX_VIDEO_PIXELS:
        raise VideoError(f"has {width}x{height} frames; at most {MAX_VIDEO_WIDTH}x{MAX_VIDEO_HEIGHT} "
                         f"({MAX_VIDEO_PIXELS / 1e6:.1f} megapixels) are accepted")
    if max_seconds is not None and seconds > max_seconds:
        raise VideoError(f"lasts {duration_text(seconds)}; at most {duration_text(max_seconds)} are accepted")
    return VideoHeader(width, height, fps, frames, seconds)
