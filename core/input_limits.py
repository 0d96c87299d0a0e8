"""Size limits checked from a file's header, before anything is decoded (issue 20): a 1.2 MB PNG can hold 20000x20000
pixels (1.2 GB decoded) and a 0.1 MB MP4 five 8K frames, so a limit checked on the decoded array comes too late.

- Images: PIL opens lazily (the header only: `Image.open` reads no pixel data) and gives the size; more than
  `core.pipeline.MAX_PIXELS` is refused. A file PIL cannot identify is not judged here (the decoder says what it is).
- Videos: PyAV (FFmpeg) reads the container and stream headers and gives the frame size, frame count and duration; a
  frame of more than MAX_VIDEO_PIXELS or a video longer than MAX_VIDEO_SECONDS is refused. A file PyAV cannot open,
  or one without a video stream, is not judged here either (`core.video` says what is wrong with it).

Both raise `ValueError` with a message meant for the user (what was found, what is accepted).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from core.pipeline import MAX_PIXELS as MAX_IMAGE_PIXELS

MAX_VIDEO_PIXELS = 4096 * 2160  # a frame: DCI 4K (and UHD 3840x2160) is accepted, 8K (7680x4320) is not
MAX_VIDEO_SECONDS = 600.0  # 10 minutes


def image_size(path) -> tuple[int, int] | None:
    """(width, height) from the image file's header, or None when PIL cannot identify the file. A size beyond PIL's
    own bomb limit comes back as (pixels, 1) when PIL does not say the sides."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # lazy: the header only
                return image.size
    except Image.DecompressionBombError as error:  # above 2 x Image.MAX_IMAGE_PIXELS PIL refuses to open it at all
        found = re.search(r"\((\d+) pixels\)", str(error))
        return (int(found.group(1)) if found else 2 * Image.MAX_IMAGE_PIXELS + 1, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def check_image_header(path) -> None:
    """`ValueError` when the image file's header gives more than MAX_IMAGE_PIXELS (nothing is decoded)."""
    size = image_size(path)
    if size is None:
        return
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        found = f"{width}x{height} pixels" if height > 1 else f"{width / 1e6:.0f} megapixels"
        raise ValueError(f"the image is {found}; at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels are accepted")


@dataclass
class VideoHeader:
    width: int
    height: int
    frames: int  # 0 when the container does not say
    seconds: float | None  # None when the container does not say


def video_header(path) -> VideoHeader | None:
    """The first video stream's frame size, frame count and duration from the container's headers, or None when
    PyAV cannot open the file or it has no video stream."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            seconds = None
            if stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration:
                seconds = container.duration / av.time_base
            elif stream.frames and stream.average_rate:
                seconds = float(stream.frames / stream.average_rate)
            return VideoHeader(stream.codec_context.width, stream.codec_context.height, stream.frames or 0, seconds)
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def check_video_header(path, max_seconds: float | None = MAX_VIDEO_SECONDS) -> None:
    """`ValueError` when the video's headers give frames of more than MAX_VIDEO_PIXELS or a duration over
    `max_seconds` (None: no duration limit). No frame is decoded."""
    header = video_header(path)
    if header is None:
        return
    if header.width * header.height > MAX_VIDEO_PIXELS:
        raise ValueError(f"the video's frames are {header.width}x{header.height} pixels; at most "
                         f"{MAX_VIDEO_PIXELS / 1e6:.1f} megapixels (4096x2160) are accepted")
    if max_seconds is not None and header.seconds is not None and header.seconds > max_seconds:
        raise ValueError(f"the video lasts {minutes(header.seconds)}; at most {minutes(max_seconds)} are accepted")


def minutes(seconds: float) -> str:
    """'11 min 40 s', '10 min', '45 s'."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min" + (f" {whole % 60} s" if whole % 60 else "")

