"""Fixes to Gradio (6.31, pinned in requirements.txt) that the app needs under load and over time.

Each fix replaces one Gradio function, checks first that the function is still the one it was written against (so a
Gradio upgrade fails at start-up, not silently), and is idempotent. `apply_gradio_fixes()` applies them all;
demo.gradio_app.build_app calls it.

- `make_image_cache_atomic`: concurrent identical outputs were read while being rewritten (15 failures in 247 answers under load, BENCHMARKS.md).
- `cancel_stream_wait_timers`: every streamed frame left a sleeping timeout task behind for up to the stream's
  time limit (the soak in BENCHMARKS.md).
- `readable_error_texts`: an exception that is not a gr.Error reached the user as its own text (pydantic's
  validation texts, object reprs, exception class names, absolute server paths).
- `keep_gradio_files_in(folder)`: Gradio made `vibe_edit_history` (and would write screen recordings) in the temp
  folder it saw at import, outside the app's private one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import tempfile
from pathlib import Path

import gradio as gr

from demo.gradio_uploads import NOT_RECEIVED


def _check(function, expected_parameters: list[str], fix: str) -> None:
    parameters = list(inspect.signature(function).parameters)
    if parameters[:len(expected_parameters)] != expected_parameters:
        raise RuntimeError(f"gradio {gr.__version__}: {function.__qualname__}{parameters} is not the function {fix} "
                           "replaces; check the fix against this version")


def make_image_cache_atomic() -> None:
    """Gradio (6.31) stores an output image as <temp dir>/<hash of its bytes>/image.<format> and, for every identical
    output, rewrites that same file in place (truncate, then write). Clients that get the same answer at the same time
    (several callers sending the same photo, identical webcam frames) then download a file that another request is
    rewriting: an empty or short body ("peer closed connection without sending complete message body": 15
    failures in 247 answers under load). Here the file is written under a temporary name and renamed into place, so a reader has
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
    save_pil_to_cache.facexp_original = original  # Gradio's own, for the tests' negative control
    processing_utils.save_pil_to_cache = save_pil_to_cache


def cancel_stream_wait_timers() -> None:
    """Between two frames of a stream, Gradio's queue (6.31, `Queue.wait_for_event_or_timeout`) waits for the next
    frame or a timeout, as two tasks, and returns when the first finishes without cancelling the other. The frame
    nearly always comes first, so each streamed frame leaves behind a task sleeping for the rest of the stream's
    `time_limit` (600 s here): at 25 frames/s that is up to 15,000 pending tasks, futures, timer handles and
    coroutine frames (744 were pending after 2 minutes at 6 frames/s in a soak, BENCHMARKS.md). Here the loser is
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


UNEXPECTED_ERROR = ("The server could not handle this request: the input is not in the form this endpoint expects, or "
                    "labelling it failed. Nothing of it was kept; the server's log has the details.")
REFUSED_PATH = NOT_RECEIVED.format(name="The file")

log = logging.getLogger("facexp.gradio")


def readable_error_texts() -> None:
    """Gradio (6.31, `utils.error_payload`, used by the queue and the plain routes) sends the user an exception's own
    text when the app runs with show_error, and a bare "Error" without it. The app's handlers raise gr.Error with texts
    written for people; anything else (a malformed payload's pydantic ValidationError, a repr with an address, an
    exception naming a server path, such as Gradio's own InvalidPathError for a FileData naming a file nobody
    uploaded) is answered with one of two sentences here and logged on the server with its own text."""
    from gradio import queueing, utils
    from gradio.exceptions import AppError, InvalidPathError

    original = utils.error_payload
    if getattr(original, "facexp_readable", False):
        return
    _check(original, ["error", "show_error"], "readable_error_texts")
    if getattr(queueing, "error_payload", None) is not original:
        raise RuntimeError(f"gradio {gr.__version__}: queueing.error_payload is not utils.error_payload; check "
                           "readable_error_texts against this version")

    def error_payload(error, show_error):
        if error is not None and not isinstance(error, AppError):
            log.warning("answered a %s as %s: %s", type(error).__name__,
                        "a refused path" if isinstance(error, InvalidPathError) else "an unexpected error", error)
            error = gr.Error(REFUSED_PATH if isinstance(error, InvalidPathError) else UNEXPECTED_ERROR)
        return original(error, show_error)

    error_payload.facexp_readable = True
    utils.error_payload = queueing.error_payload = error_payload


def keep_gradio_files_in(folder: Path) -> None:
    """Gradio (6.31) reads GRADIO_TEMP_DIR once, at import, into DEFAULT_TEMP_DIR (routes, route_utils,
    screen_recording_utils): every app start makes `<that>/vibe_edit_history`, outside the private folder the app
    sets up after importing Gradio. Point them at `folder` (call it before launch)."""
    import sys

    from gradio import route_utils, routes, screen_recording_utils

    modules = [routes, route_utils, screen_recording_utils]
    if "gradio.mcp" in sys.modules:
        modules.append(sys.modules["gradio.mcp"])
    for module in modules:
        if not hasattr(module, "DEFAULT_TEMP_DIR"):
            raise RuntimeError(f"gradio {gr.__version__}: {module.__name__}.DEFAULT_TEMP_DIR is gone; check "
                               "keep_gradio_files_in against this version")
        module.DEFAULT_TEMP_DIR = str(folder)


def apply_gradio_fixes() -> None:
    make_image_cache_atomic()
    cancel_stream_wait_timers()
    readable_error_texts()
