"""The Gradio app's settings: where it listens, how the webcam streams, how much runs at once, how often the widgets
refresh. Each is named once here; the environment variables are for benches and tests."""

from __future__ import annotations

import os

from core.camera import CAMERA_SIZE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
STREAM_EVERY_S = float(os.environ.get("FACEXP_STREAM_EVERY_S", 0.066))  # the browser sends a frame this often (0.1 caps at 10/s)
# the camera is asked for this (core.camera, as the page; Gradio's default: 1920x1440)
STREAM_SIZE = os.environ.get("FACEXP_STREAM_SIZE", "%dx%d" % CAMERA_SIZE)
STREAM_WIDTH_HEIGHT = tuple(int(value) for value in STREAM_SIZE.lower().split("x"))
STREAM_TIME_LIMIT_S = 600  # one webcam session streams at most this long, then the user clicks again
STREAM_FRAME_FORMAT = "jpeg"  # cheaper to encode than webp/png: more frames per second
MAX_FILE_SIZE = os.environ.get("FACEXP_MAX_FILE_SIZE", "200mb")  # larger uploads are refused (413) while they arrive
MAX_VIDEO_FRAMES = 3000  # longer videos are cut (about 100 s at 30 frames/s); said on the tab before upload

# Concurrency. One pipeline serves everyone and runs one frame at a time (its lock), so limits decide who
# waits, not how much runs in parallel:
# - webcam: at most MAX_STREAMS sessions are served (demo.stream_slots); a further one is told "busy" at once (its
#   readout), not queued for minutes. Gradio's own limit on the stream event is higher, so that extra sessions reach
#   the handler and hear "busy".
# - video: one at a time (a long video holds the worker for minutes; a second one waits in the queue, shown with its
#   position); between its frames it gives way to waiting webcam frames, so a video never starves the streams;
#   Cancel (or closing the tab) stops it between two frames and frees the worker.
# - image: two at a time (each call is short); more wait in the queue.
# - the queue holds at most QUEUE_MAX_SIZE waiting events; beyond that a caller gets Gradio's "Queue is full" (HTTP
#   503) at once, i.e. busy, try again, rather than a timeout.
MAX_STREAMS = int(os.environ.get("FACEXP_MAX_STREAMS", 4))
STREAM_EVENT_LIMIT = MAX_STREAMS + 4
IMAGE_CONCURRENCY = 2
VIDEO_CONCURRENCY = 1
QUEUE_MAX_SIZE = 32
VIDEO_STATUS_EVERY_S = 0.5  # the video tab's progress line: after the first frame, then at least this often
# Chart, table and readout are refreshed at most this often (the frame every time), and the session panel (timeline,
# summary, alerts) this often while it changes: each refresh re-renders widgets in the browser, which shares this
# machine's 2 cores with the server in the benches (0.5 s and 0.4 s: 21.0 shown frames/s over WebRTC; 1 s: 22.6).
WIDGETS_EVERY_S = float(os.environ.get("FACEXP_WIDGETS_EVERY_S", 1.0))
SESSION_REFRESH_S = float(os.environ.get("FACEXP_SESSION_REFRESH_S", 1.0))


def camera_constraints(size: str) -> dict:
    """getUserMedia constraints asking for a WIDTHxHEIGHT camera: every streamed frame is JPEG-encoded in the browser
    and decoded in the server, so a smaller frame is cheaper on both sides (the detector sees 192x192 anyway)."""
    width, height = (int(value) for value in size.lower().split("x"))  # as STREAM_WIDTH_HEIGHT
    return {"video": {"width": {"ideal": width}, "height": {"ideal": height}}}
