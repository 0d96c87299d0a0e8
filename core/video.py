"""Reading video files frame by frame and writing annotated videos that browsers play.

OpenCV's wheel has no H.264 encoder (`avc1` fails) and its `mp4v` does not play in browsers, but it writes VP8 in
WebM, which Chrome, Firefox and Safari play and Gradio serves as it is (no ffmpeg needed).
"""

from __future__ import annotations

from pathlib import Path

import struct

import cv2
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".wma")
OUTPUT_SUFFIX = ".webm"
OUTPUT_FOURCC = "VP80"
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
    """Writes RGB frames to a WebM (VP8) file; the size is taken from the first frame."""

    def __init__(self, path, fps: float):
        self.path = Path(path).with_suffix(OUTPUT_SUFFIX)
        self.fps = fps
        self._writer = None
        self._size = None

    def write(self, frame_rgb: np.ndarray) -> None:
        height, width = frame_rgb.shape[:2]
        if self._writer is None:
            self._size = (width - width % 2, height - height % 2)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*OUTPUT_FOURCC), self.fps, self._size)
            if not self._writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write {OUTPUT_FOURCC} video to {self.path}")
        frame = frame_rgb[: self._size[1], : self._size[0]]
        if frame.shape[1::-1] != self._size:
            frame = cv2.resize(frame_rgb, self._size)
        self._writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
