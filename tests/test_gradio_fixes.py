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


def reads_while_saving(save, folder: Path, writes: int, stop_at_short: bool = False) -> tuple[int, list[int], Path]:
    """Save one image `writes` times with `save` (Gradio's save_pil_to_cache or the fix) while reading the cached
    file in a loop: (reads, the reads that found the file short or empty, the file)."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8))
    path = Path(save(image, str(folder), format="jpeg"))
    size, stop, short_reads = path.stat().st_size, threading.Event(), []

    def writer():
        for _ in range(writes):
            if stop.is_set():
                break
            save(image, str(folder), format="jpeg")
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    while not stop.is_set():
        reads += 1
        if len(path.read_bytes()) != size:
            short_reads.append(reads)
            if stop_at_short:
                stop.set()
    thread.join()
    return reads, short_reads, path


def test_image_cache_writes_are_atomic(tmp_path):
    """The mechanism behind the test above, with Gradio's own function: a reader never sees a cached image that a
    concurrent identical save is rewriting; the negative control, Gradio's function unpatched, does show such reads
    (it writes the file in place)."""
    make_image_cache_atomic()
    fixed = processing_utils.save_pil_to_cache
    _, gradio_short, _ = reads_while_saving(fixed.facexp_original, tmp_path / "gradio", 3000, stop_at_short=True)
    assert gradio_short, "Gradio's own save never showed a short read: the control no longer shows the race"
    reads, short_reads, path = reads_while_saving(fixed, tmp_path / "fixed", 150)
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
