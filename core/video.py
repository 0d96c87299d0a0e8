"""Reading video files frame by frame and writing annotated videos that browsers play.

OpenCV's wheel has no H.264 encoder (`avc1` fails) and its `mp4v` does not play in browsers, but it writes VP8 in
WebM, which Chrome, Firefox and Safari play and Gradio serves as it is (no ffmpeg needed).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
OUTPUT_SUFFIX = ".webm"
OUTPUT_FOURCC = "VP80"
DEFAULT_FPS = 25.0


class VideoError(ValueError):
    """A video file that cannot be read, with a message meant for the user."""


def is_video_path(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def video_info(path) -> tuple[float, int]:
    """(frames per second, frame count; 0 when unknown) of a video file, or `VideoError`."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError("cannot be opened as a video (corrupt or unsupported format)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return (fps if 0 < fps < 1000 else DEFAULT_FPS), max(0, count)
    finally:
        capture.release()


def read_frames(path, max_frames: int | None = None):
    """Yield (index, RGB uint8 frame). `VideoError` when the file is not a readable video or has no frame."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError("cannot be opened as a video (corrupt or unsupported format)")
    index = 0
    try:
        while max_frames is None or index < max_frames:
            ok, frame_bgr = capture.read()
            if not ok or frame_bgr is None:
                break
            yield index, cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise VideoError("no frame could be decoded (corrupt or unsupported video)")


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
