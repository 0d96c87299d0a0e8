"""Stream admission: which webcam sessions the Gradio app serves (at most a limit; a further one hears "busy" at
once instead of waiting), and how a video gives way to webcam frames in progress. One `StreamSlots` per app, made by
demo.gradio_app.build_app and handed to the handlers that need it."""

from __future__ import annotations

import threading
import time

STREAM_IDLE_S = 3.0  # a session that sends no frame for this long (tab closed, connection lost) frees its slot
VIDEO_YIELD_MAX_S = 0.25  # a video frame waits at most this long for webcam frames to go first
BUSY_STREAMS = ("Busy: {n} webcam streams are already being served (the most this server runs at once). "
                "Try again in a minute.")


class StreamSlots:
    """Which webcam sessions are being served (at most `limit`), and how many stream frames are in progress (a
    video gives way to them)."""

    def __init__(self, limit: int, idle_s: float = STREAM_IDLE_S):
        self.limit, self.idle_s = limit, idle_s
        self.last_seen: dict[int, float] = {}
        self.frames_in_progress = 0
        self.lock = threading.Lock()

    def busy_text(self) -> str:
        """The readout of a session that is not served."""
        return BUSY_STREAMS.format(n=self.limit)

    def admit(self, session_id: int, now: float | None = None) -> bool:
        """True if this session is (or now becomes) one of the served ones; sessions idle for idle_s are dropped."""
        now = time.monotonic() if now is None else now
        with self.lock:
            for other, seen in list(self.last_seen.items()):
                if now - seen > self.idle_s:
                    del self.last_seen[other]
            if session_id in self.last_seen or len(self.last_seen) < self.limit:
                self.last_seen[session_id] = now
                return True
            return False

    def release(self, session_id: int) -> None:
        """The session's slot is free again (its WebRTC offer was refused)."""
        with self.lock:
            self.last_seen.pop(session_id, None)

    def frame_started(self) -> None:
        with self.lock:
            self.frames_in_progress += 1

    def frame_done(self) -> None:
        with self.lock:
            self.frames_in_progress -= 1

    def give_way(self, max_wait_s: float = VIDEO_YIELD_MAX_S) -> None:
        """For a video: wait (up to max_wait_s) while webcam frames are in progress."""
        deadline = time.monotonic() + max_wait_s
        while self.frames_in_progress > 0 and time.monotonic() < deadline:
            time.sleep(0.005)
