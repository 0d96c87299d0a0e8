"""The fixes demo.gradio_fixes applies to Gradio, each against Gradio's own code path (the end-to-end effects are
tested with a real server in test_gradio_app.py and measured by bench/load.py)."""

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from gradio import processing_utils
from gradio.queueing import Queue
from PIL import Image

from demo.gradio_fixes import cancel_stream_wait_timers, make_image_cache_atomic
from tests.harness import run_coroutine


def test_image_cache_writes_are_atomic(tmp_path):
    """The mechanism behind the test above, with Gradio's own function: a reader never sees a cached image that a
    concurrent identical save is rewriting (Gradio alone writes it in place: empty or short reads)."""
    make_image_cache_atomic()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8))
    path = Path(processing_utils.save_pil_to_cache(image, str(tmp_path), format="jpeg"))
    size, stop, short_reads = path.stat().st_size, threading.Event(), []

    def writer():
        for _ in range(150):
            processing_utils.save_pil_to_cache(image, str(tmp_path), format="jpeg")
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    while not stop.is_set():
        reads += 1
        if len(path.read_bytes()) != size:
            short_reads.append(reads)
    thread.join()
    assert reads > 10 and short_reads == []
    assert sorted(p.name for p in path.parent.iterdir()) == ["image.jpeg"]  # no temporary file left


def test_stream_wait_leaves_no_timer_behind():
    """Gradio's queue waits for each next streamed frame with a timeout of the stream's time limit; once the frame has
    come, no task may be left sleeping (without the fix: one per frame, each for up to 600 s)."""
    cancel_stream_wait_timers()

    async def stream(frames: int):
        event = SimpleNamespace(signal=asyncio.Event())
        for _ in range(frames):
            asyncio.get_running_loop().call_later(0.001, event.signal.set)
            assert await Queue.wait_for_event_or_timeout(event, 600) == "signal"
            assert not event.signal.is_set()
        await asyncio.sleep(0)  # let cancelled tasks finish
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        timed_out = await Queue.wait_for_event_or_timeout(event, 0.01)  # no frame: the timeout still answers
        return left, timed_out

    left, timed_out = run_coroutine(stream(50))
    assert left == [] and timed_out == "timeout"
