"""Fixes to Gradio (6.31, pinned in requirements.txt) that the app needs under load and over time.

Each fix replaces one Gradio function, checks first that the function is still the one it was written against (so a
Gradio upgrade fails at start-up, not silently), and is idempotent. `apply_gradio_fixes()` applies them all;
demo.gradio_app.build_app calls it.

- `make_image_cache_atomic`: concurrent identical outputs were read while being rewritten (issue 10's 15 failures).
- `cancel_stream_wait_timers`: every streamed frame left a sleeping timeout task behind for up to the stream's
  time limit (issue 10's soak).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import tempfile
from pathlib import Path

import gradio as gr


def _check(function, expected_parameters: list[str], fix: str) -> None:
    parameters = list(inspect.signature(function).parameters)
    if parameters[:len(expected_parameters)] != expected_parameters:
        raise RuntimeError(f"gradio {gr.__version__}: {function.__qualname__}{parameters} is not the function {fix} "
                           "replaces; check the fix against this version")


def make_image_cache_atomic() -> None:
    """Gradio (6.31) stores an output image as <temp dir>/<hash of its bytes>/image.<format> and, for every identical
    output, rewrites that same file in place (truncate, then write). Clients that get the same answer at the same time
    (several callers sending the same photo, identical webcam frames) then download a file that another request is
    rewriting: an empty or short body ("peer closed connection without sending complete message body": issue 10's 15
    failures in 247 answers). Here the file is written under a temporary name and renamed into place, so a reader has
    either the previous or the new copy, both complete and identical. Process-wide and idempotent; fails at start-up,
    not silently, if Gradio's function is no longer the one this replaces."""
    from gradio import processing_utils

    original = processing_utils.save_pil_to_cache
    if getattr(original, "facexp_atomic", False):
        return
    _check(original, ["img", "cache_dir", "name", "format"], "make_image_cache_atomic")
    if not hasattr(processing_utils, "hash_bytes"):
        raise RuntimeError(f"gradio {gr.__version__}: processing_utils.hash_bytes is gone; check "
                           "make_image_cache_atomic against this version")

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = processing_utils.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / processing_utils.hash_bytes(data)
        path = (folder / f"{name}.{format}").resolve()
        for attempt in (1, 2):  # the cleaner may remove an old empty folder between mkdir and the write
            folder.mkdir(exist_ok=True, parents=True)
            try:
                handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".partial")
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(path)

    save_pil_to_cache.facexp_atomic = True
    processing_utils.save_pil_to_cache = save_pil_to_cache


def cancel_stream_wait_timers() -> None:
    """Between two frames of a stream, Gradio's queue (6.31, `Queue.wait_for_event_or_timeout`) waits for the next
    frame or a timeout, as two tasks, and returns when the first finishes without cancelling the other. The frame
    nearly always comes first, so each streamed frame leaves behind a task sleeping for the rest of the stream's
    `time_limit` (600 s here): at 25 frames/s that is up to 15,000 pending tasks, futures, timer handles and
    coroutine frames (744 were pending after 2 minutes at 6 frames/s in the issue-10 soak). Here the loser is
    cancelled; what the function returns is unchanged."""
    from gradio.queueing import Queue

    original = Queue.wait_for_event_or_timeout
    if getattr(original, "facexp_cancels_loser", False):
        return
    _check(original, ["event", "timeout"], "cancel_stream_wait_timers")
    if not (hasattr(Queue, "wait_for_event") and hasattr(Queue, "timeout")):
        raise RuntimeError(f"gradio {gr.__version__}: Queue.wait_for_event/timeout are gone; check "
                           "cancel_stream_wait_timers against this version")

    async def wait_for_event_or_timeout(event, timeout: float):
        signal = asyncio.create_task(Queue.wait_for_event(event))
        timer = asyncio.create_task(Queue.timeout(timeout))
        try:
            await asyncio.wait([signal, timer], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (signal, timer):
                if not task.done():
                    task.cancel()
        event.signal.clear()
        return "signal" if signal.done() and not signal.cancelled() else "timeout"

    wait_for_event_or_timeout.facexp_cancels_loser = True
    Queue.wait_for_event_or_timeout = staticmethod(wait_for_event_or_timeout)


def apply_gradio_fixes() -> None:
    make_image_cache_atomic()
    cancel_stream_wait_timers()
