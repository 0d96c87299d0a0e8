"""One browser tab's webcam state in the Gradio app (kept in the tab's gr.State): its tracker, its session analytics,
its stream slot, the Mirror and Smooth switches, its frames/s, and the widget values its last frame and the session
panel left for the timers to show. Either transport (WebRTC, the image stream) fills it through
demo.gradio_app.analyse_webcam_frame."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from core.labels import EMOTIONS
from core.session import LiveSession
from core.tracking import FaceTracker

FPS_SMOOTHING = 0.8  # weight of the previous average gap in frames/s
SMALLER_THAN_ASKED = ("**The camera gives {got}, less than the {asked} asked: faces look smaller, small ones may be "
                      "missed.**")
DROPPED = ("**The camera picture dropped to {got} (it was {best}): the browser or the connection is under load; faces "
           "look smaller, small ones may be missed.**")


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def resolution_note(got: tuple[int, int], best: tuple[int, int], asked: tuple[int, int]) -> str:
    """What the readout says about the camera resolution received (width, height): a note when it dropped below the
    best one this session received, or is below the one asked for; "" when all is well."""
    if got[0] * got[1] < best[0] * best[1]:
        return DROPPED.format(got=size_text(got), best=size_text(best))
    if got[0] < asked[0] or got[1] < asked[1]:
        return SMALLER_THAN_ASKED.format(got=size_text(got), asked=size_text(asked))
    return ""


def new_session_id() -> int:
    """The key of the session's stream slot (demo.stream_slots): random, so one tab cannot take another's."""
    return int.from_bytes(os.urandom(8), "little")


@dataclass
class WebcamSession:
    tracker: FaceTracker = field(default_factory=FaceTracker)
    live: LiveSession = field(default_factory=lambda: LiveSession(EMOTIONS))
    id: int = field(default_factory=new_session_id)
    mirror: bool = True
    smoothing: bool = True
    ended: str | None = None  # why the WebRTC connection ended ("stopped", ...); None while it runs
    best_size: tuple[int, int] = (0, 0)  # the largest camera frame (width, height) received in this session
    last_frame_time: float | None = None  # time.time() of the last analysed frame
    gap_s: float = 0.0  # moving average of the time between analysed frames (0: fewer than two frames yet)
    widgets_time: float = 0.0  # when `widgets` was last refreshed
    widgets: tuple | None = None  # (main-face chart, face table, readout) for the webcam widgets
    shown_version: int = -1  # the `live.version` the session panel shows
    shown_alerts: int = 0  # how many of `live.alerts` were announced in a toast
    toast_time: float = -math.inf  # time.monotonic() of the last alert toast
    view: tuple | None = None  # the session panel's (summary, timeline, alerts) for shown_version

    def frame_analysed(self, now: float, size: tuple[int, int]) -> None:
        """Frames/s = 1 / the moving average of the gaps (an average of 1/gap would overstate it whenever gaps vary);
        the largest frame size seen."""
        if size[0] * size[1] > self.best_size[0] * self.best_size[1]:
            self.best_size = size
        if self.last_frame_time is not None:
            gap = max(now - self.last_frame_time, 1e-3)
            self.gap_s = gap if not self.gap_s else FPS_SMOOTHING * self.gap_s + (1 - FPS_SMOOTHING) * gap
        self.last_frame_time = now

    @property
    def fps(self) -> float | None:
        """Frames analysed per second; None until two frames give a gap."""
        return 1.0 / self.gap_s if self.gap_s else None

    def rate_text(self, size: tuple[int, int], asked: tuple[int, int]) -> str:
        """The readout's start: the camera resolution received, frames/s (not before there is a gap to measure), and
        a note when the resolution is lower than asked or than before."""
        rate = f"{self.fps:.1f} frames/s" if self.fps else "first frame"
        note = resolution_note(size, self.best_size, asked)
        return f"camera {size_text(size)} | {rate}" + (f"\n\n{note}" if note else "")

    def reset(self) -> None:
        """Forget the analytics (samples, faces, alerts); the tracker restarts its ids."""
        self.live.reset()
        self.tracker = FaceTracker()
        self.shown_alerts, self.toast_time = 0, -math.inf
