"""Reading video files frame by frame and writing annotated videos that browsers play.

Reading is OpenCV's. Writing is VP8 in WebM, which Chrome, Firefox and Safari play and Gradio serves as it is (no
ffmpeg needed), encoded with PyAV (FFmpeg's libvpx, the encoder OpenCV's writer used too): PyAV reports a failed
write, where OpenCV's `VideoWriter.write` returns nothing and a full disk went unnoticed (issue 20).
"""

from __future__ import annotations

import errno
import os
import struct
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".wma")
OUTPUT_SUFFIX = ".webm"
OUTPUT_FORMAT, OUTPUT_CODEC = "webm", "libvpx"  # VP8 in WebM, written with PyAV
BITS_PER_PIXEL = 0.25  # VP8 bit rate per pixel per frame (OpenCV's writer used about 0.3)
MIN_BIT_RATE = 200_000  # bits/s
MAX_RATE_DENOMINATOR = 1001  # 29.97 frames/s = 30000/1001
DEFAULT_FPS = 25.0


class VideoError(ValueError):
    """A video file that cannot be read, with a message meant for the user."""


NOT_OPENED = "cannot be opened as a video (corrupt or unsupported format)"
NO_FRAME = "has no frame that can be decoded (corrupt video data)"
AUDIO_ONLY = "is an audio-only file (no video stream)"
EMPTY = "is empty (0 bytes)"


def is_video_path(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES + AUDIO_SUFFIXES


def mp4_track_kinds(head: bytes, path) -> list[str] | None:
    """The handler types ('vide', 'soun', ...) of an MP4/MOV/M4A file's tracks, or None if it is not one (or its
    `moov` box cannot be found). Reads only the box headers and the `moov` box."""
    if head[4:8] != b"ftyp":
        return None
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        end = handle.tell()
        offset, moov = 0, None
        while offset + 8 <= end:
            handle.seek(offset)
            size, kind = struct.unpack(">I4s", handle.read(8))
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0]
            elif size == 0:
                size = end - offset
            if size < 8:
                return None
            if kind == b"moov":
                handle.seek(offset)
                moov = handle.read(min(size, 64 << 20))
                break
            offset += size
    if moov is None:
        return None

    def children(data: bytes, start: int, stop: int):
        while start + 8 <= stop:
            size, kind = struct.unpack(">I4s", data[start:start + 8])
            if size < 8:
                return
            yield kind, start + 8, min(start + size, stop)
            start += size

    kinds = []
    for kind, start, stop in children(moov, 8, len(moov)):
        if kind != b"trak":
            continue
        for kind2, start2, stop2 in children(moov, start, stop):
            if kind2 != b"mdia":
                continue
            for kind3, start3, _ in children(moov, start2, stop2):
                if kind3 == b"hdlr":
                    kinds.append(moov[start3 + 8:start3 + 12].decode("latin-1"))
    return kinds


def _looks_like_audio(head: bytes, path) -> bool:
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" or head[:4] == b"fLaC" or head[:3] == b"ID3":
        return True
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and Path(path).suffix.lower() in AUDIO_SUFFIXES:
        return True  # an MPEG audio frame header
    if head[:4] == b"OggS":
        return b"theora" not in head and b"VP8" not in head
    kinds = mp4_track_kinds(head, path)
    return bool(kinds) and "soun" in kinds and "vide" not in kinds


def check_video_file(path) -> None:
    """`VideoError` with its own message for what OpenCV would only call unreadable: no such file, a directory,
    an empty file, an audio-only file."""
    path = Path(path)
    if path.is_dir():
        raise VideoError("is a directory, not a video file")
    if not path.exists():
        raise VideoError("no such file")
    if path.stat().st_size == 0:
        raise VideoError(EMPTY)
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if _looks_like_audio(head, path):
        raise VideoError(AUDIO_ONLY)


def video_info(path) -> tuple[float, int]:
    """(frames per second, frame count; 0 when unknown) of a video file, or `VideoError` saying why not."""
    check_video_file(path)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError(NOT_OPENED)
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return (fps if 0 < fps < 1000 else DEFAULT_FPS), max(0, count)
    finally:
        capture.release()


def read_frames(path, max_frames: int | None = None, start: int = 0):
    """Yield (index, RGB uint8 frame) for the frames from `start` up to (not including) `max_frames` (None: to the
    end). `VideoError` when the file is not a readable video, or has no frame at all (start 0); a start past the last
    frame yields nothing. A start is reached by seeking; where the container does not land exactly on it, the frames
    before it are decoded and dropped instead."""
    check_video_file(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(NOT_OPENED)
    index = start
    try:
        if start > 0:
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)
            if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != start:
                capture.release()
                capture = cv2.VideoCapture(str(path))
                for _ in range(start):
                    if not capture.grab():
                        break
        while max_frames is None or index < max_frames:
            ok, frame_bgr = capture.read()
            if not ok or frame_bgr is None:
                break
            yield index, cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise VideoError(NO_FRAME)


class VideoWriter:
    """Writes RGB frames to a WebM (VP8) file; the size is taken from the first frame (cut to even sides, as 4:2:0
    needs). The frames go to a temporary name beside `path` (`core.files.temporary_path`); `close()` renames the
    finished file to `path`, `discard()` removes it, and a `with` block left by an exception discards. Every write is
    checked: a full disk (ENOSPC), a file-size limit (EFBIG) or an encoder error raises `OSError` naming the file, and
    no half file is left behind."""

    def __init__(self, path, fps: float):
        self.path = Path(path).with_suffix(OUTPUT_SUFFIX)
        self.rate = Fraction(fps).limit_denominator(MAX_RATE_DENOMINATOR) or Fraction(DEFAULT_FPS)
        self.frames = 0
        self._container = None
        self._stream = None
        self._size = None

    @property
    def temporary(self) -> Path:
        from core.files import temporary_path

        return temporary_path(self.path)

    def _checked(self, action):
        """`action()`, with PyAV's errors (its OSError of a failed write included) turned into an OSError that names
        the file being written."""
        import av

        try:
            return action()
        except av.error.FFmpegError as error:
            raise OSError(getattr(error, "errno", None) or errno.EIO, getattr(error, "strerror", None) or str(error),
                          str(self.path)) from None

    def _open(self, width: int, height: int) -> None:
        import av

        self._size = (width - width % 2, height - height % 2)
        self._container = self._checked(lambda: av.open(str(self.temporary), "w", format=OUTPUT_FORMAT))
        stream = self._container.add_stream(OUTPUT_CODEC, rate=self.rate)
        stream.width, stream.height = self._size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = max(MIN_BIT_RATE, int(self._size[0] * self._size[1] * float(self.rate) * BITS_PER_PIXEL))
        self._stream = stream

    def write(self, frame_rgb: np.ndarray) -> None:
        import av

        height, width = frame_rgb.shape[:2]
        if self._container is None:
            self._open(width, height)
        frame = frame_rgb[: self._size[1], : self._size[0]]
        if frame.shape[1::-1] != self._size:
            frame = cv2.resize(frame_rgb, self._size)
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = self.frames
        self.frames += 1
        self._checked(lambda: [self._container.mux(packet) for packet in self._stream.encode(video_frame)])

    def close(self) -> None:
        """Flush the encoder, close the file, and rename it to `path` (nothing is written when no frame was)."""
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            self._checked(lambda: [container.mux(packet) for packet in self._stream.encode()])
            self._checked(container.close)
            with open(self.temporary, "rb+") as handle:  # a write the kernel accepted but could not store
                os.fsync(handle.fileno())
            os.replace(self.temporary, self.path)
        except BaseException:
            self._abandon(container)
            raise

    def discard(self) -> None:
        """Stop writing and remove what was written."""
        container, self._container = self._container, None
        self._abandon(container)

    def _abandon(self, container) -> None:
        if container is not None:
            try:
                container.close()
            except Exception:  # the file is removed next; its trailer does not matter
                pass
        self.temporary.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is None:
            self.close()
        else:
            self.discard()
