"""The Gradio app's private temp folder: where everything a user sends and everything the app shows is written, and
how long each file lives there.

Gradio writes every upload and every image it shows (each streamed frame too) into GRADIO_TEMP_DIR.
`make_private_temp_dir` points it at a folder of this process (facexp-gradio-<pid>-<random>, removed at exit; folders
of killed runs are removed at the next start) before the app is built. `TempDirCleaner` deletes files by where they
came from, not by their suffix:
- the image stream's frames (the camera frames it uploads and the annotated frames it shows, recorded in
  `STREAM_FRAMES` by demo.gradio_uploads and `mark_stream_frames` as they pass): after FRAME_TTL_S;
- everything else (uploads waiting in the queue or being labelled, annotated images, videos, CSVs): after
  RESULT_TTL_S, as README says;
- files there at start (the examples): kept.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

TEMP_PREFIX = "facexp-gradio-"  # private temp dirs are named facexp-gradio-<pid>-<random>
FRAME_TTL_S = float(os.environ.get("FACEXP_FRAME_TTL_S", 10))  # the image stream's frames are deleted after this
RESULT_TTL_S = 900  # uploads, annotated images and videos, CSVs are deleted after this (15 min)
CLEAN_EVERY_S = 3

log = logging.getLogger("facexp.gradio")


def remove_stale_temp_dirs() -> None:
    """Remove the private temp dirs of app processes that no longer run (killed before they could clean up)."""
    for folder in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        pid = folder.name[len(TEMP_PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def make_private_temp_dir() -> Path:
    """GRADIO_TEMP_DIR: a private folder removed at exit (kept as it is when the caller set one)."""
    if not os.environ.get("GRADIO_TEMP_DIR"):
        remove_stale_temp_dirs()
        os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
        atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], ignore_errors=True)
    return Path(os.environ["GRADIO_TEMP_DIR"])


def temp_dir() -> Path:
    """The folder Gradio stores uploads and shown files in (GRADIO_TEMP_DIR; Gradio's own default without it)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


class StreamFrames:
    """The files that are frames of the image stream (resolved paths), for the cleaner's short lifetime."""

    def __init__(self):
        self.paths: set[Path] = set()
        self.lock = threading.Lock()

    def add(self, path) -> None:
        with self.lock:
            self.paths.add(Path(path).resolve())

    def __contains__(self, path) -> bool:
        with self.lock:
            return Path(path).resolve() in self.paths

    def discard(self, path) -> None:
        with self.lock:
            self.paths.discard(Path(path).resolve())


STREAM_FRAMES = StreamFrames()


def mark_stream_frames(image):
    """The image stream's shown frames: each file Gradio writes for this output is a stream frame for the temp-dir
    cleaner (deleted after FRAME_TTL_S, not kept as long as results)."""
    postprocess = image.postprocess

    def marked_postprocess(value):
        data = postprocess(value)
        if getattr(data, "path", None):
            STREAM_FRAMES.add(data.path)
        return data

    image.postprocess = marked_postprocess
    return image


class TempDirCleaner(threading.Thread):
    """Deletes the image stream's frames after FRAME_TTL_S and every other file after RESULT_TTL_S (files existing
    at start, i.e. the examples, are kept)."""

    def __init__(self, folder: Path, frames: StreamFrames = STREAM_FRAMES):
        super().__init__(daemon=True, name="temp-dir-cleaner")
        self.folder, self.frames = folder, frames
        self.keep = {path for path in folder.rglob("*") if path.is_file()}
        self.stop_event = threading.Event()

    def clean_once(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        removed = 0
        for path in list(self.folder.rglob("*")):
            try:
                if not path.is_file() or path in self.keep:
                    continue
                frame = path in self.frames
                if now - path.stat().st_mtime > (FRAME_TTL_S if frame else RESULT_TTL_S):
                    path.unlink()
                    self.frames.discard(path)
                    removed += 1
            except FileNotFoundError:
                self.frames.discard(path)
                continue
        for path in sorted(self.folder.rglob("*"), reverse=True):  # empty folders, deepest first
            try:  # only old ones: Gradio may be about to write into a folder it just made (or found)
                if path.is_dir() and not any(path.iterdir()) and now - path.stat().st_mtime > FRAME_TTL_S:
                    path.rmdir()
            except (FileNotFoundError, OSError):
                continue
        return removed

    def run(self) -> None:
        while not self.stop_event.wait(CLEAN_EVERY_S):
            try:
                self.clean_once()
            except OSError as error:
                log.warning("cleaning %s: %s", self.folder, error)
