"""The Gradio app: webcam, image and video in, every face labelled out.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--ice-server URL] [--emotion-model DIR] [--mask-model DIR]

Tabs:
- Webcam: "Start camera" connects the browser's camera to the server over WebRTC (demo/webrtc.py: the camera goes up
  as a video track, the annotated video comes back as one; only the newest frame is analysed, none queue). Each frame
  goes through `analyse_webcam_frame` -> `FacePipeline.run` with a per-session tracker; the annotated frame plays in
  the page, and a timer brings the main face's probabilities, a per-face table and a frames/s + latency readout
  (WIDGETS_EVERY_S). Where WebRTC cannot connect, the tab's "Stream as images" fallback sends frames as uploads
  (`gr.Image` streaming, `stream_every` = STREAM_EVERY_S) through the same function and the same widgets. Mirror and
  smoothing are switchable. Under it, the live session's analytics
  (core.session, per tracked face): expression timeline, time per expression, faces seen and unmasked, alerts with a
  minimum duration, the session CSV on request and "Reset session" (`session_panel`; refreshed every
  SESSION_REFRESH_S by a timer; in memory only, the CSV is written to the private temp dir when asked for).
- Image: upload (or a bundled example from scikit-image's data) -> annotated image, chart, table, JSON.
  The same function is the plain API endpoint `predict_image` (gradio_client cannot call streaming endpoints).
- Video: a file -> annotated MP4 (H.264, at most 1280 wide), a per-frame CSV of faces and probabilities, an
  expression-over-time plot of one track (a dropdown, longest first).

Privacy: Gradio writes every upload and every image it shows (each streamed frame too) into GRADIO_TEMP_DIR. `main`
points it at a private folder before the app is built (demo.gradio_temp: the image stream's frames are deleted after
FRAME_TTL_S, uploads and results after RESULT_TTL_S, the folder at exit, also on SIGTERM; folders of killed runs at
the next start) and points Gradio's import-time copy of it there too (demo.gradio_fixes.keep_gradio_files_in).

Hostile input (issue 20): the handlers open only files this server received (demo.gradio_uploads: every file input,
whichever endpoint it comes through), images and videos are checked from their header before decoding
(core.input_limits), uploads are limited to --max-file-size, the WebRTC offers are checked before a stream slot is
taken (demo.webrtc), every response carries security headers and errors are sentences for people
(demo.gradio_security, demo.gradio_fixes.readable_error_texts).

Layout (as Gradio's own demos): the handlers are module-level functions taking the pipeline first; `build_app` only
lays out the Blocks and binds them to one pipeline; importing this module loads nothing and writes nothing.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import functools
import gc
import inspect
import json

import cv2
import gradio as gr
import numpy as np
import pandas as pd

from core import draw
from core.draw import expression_colors
from core.image_files import read_image
from core.input_limits import check_video_header
from core.labels import EMOTIONS
from core.pipeline import EXIT_NO_MODELS, FacePipeline, FrameResult, InputError, load_pipeline
from core.session import ALERT_AFTER_S, LiveSession
from core.tracking import SMOOTHING, FaceTracker
from core.video import VideoError, VideoWriter, video_info
from demo.gradio_fixes import apply_gradio_fixes, keep_gradio_files_in
from demo.gradio_security import app_kwargs
from demo.gradio_temp import FRAME_TTL_S, RESULT_TTL_S, STREAM_FRAMES, TempDirCleaner, make_private_temp_dir, temp_dir
from demo.gradio_uploads import accept_received_files
from demo.webrtc import OfferError, WebRTCPeers, parse_offer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
STREAM_EVERY_S = float(os.environ.get("FACEXP_STREAM_EVERY_S", 0.066))  # the browser sends a frame this often (0.1 caps at 10/s)
STREAM_SIZE = os.environ.get("FACEXP_STREAM_SIZE", "640x480")  # the camera is asked for this (Gradio's default: 1920x1440)
STREAM_TIME_LIMIT_S = 600  # one webcam session streams at most this long, then the user clicks again
STREAM_FRAME_FORMAT = "jpeg"  # cheaper to encode than webp/png: more frames per second
MAX_FILE_SIZE = os.environ.get("FACEXP_MAX_FILE_SIZE", "200mb")  # larger uploads are refused (413) while they arrive
MAX_VIDEO_FRAMES = 3000  # longer videos are cut (about 100 s at 30 frames/s); said on the tab before upload

# Concurrency (issue 10). One pipeline serves everyone and runs one frame at a time (its lock), so limits decide who
# waits, not how much runs in parallel:
# - webcam: at most MAX_STREAMS sessions are served; a further one is told "busy" at once (its readout), not queued
#   for minutes. A session that sends no frame for STREAM_IDLE_S (tab closed, connection lost) frees its slot.
#   Gradio's own limit on the stream event is higher, so that extra sessions reach the handler and hear "busy".
# - video: one at a time (a long video holds the worker for minutes; a second one waits in the queue, shown with its
#   position); between its frames it gives way to waiting webcam frames, so a video never starves the streams;
#   Cancel (or closing the tab) stops it between two frames and frees the worker.
# - image: two at a time (each call is short); more wait in the queue.
# - the queue holds at most QUEUE_MAX_SIZE waiting events; beyond that a caller gets Gradio's "Queue is full" (HTTP
#   503) at once, i.e. busy, try again, rather than a timeout.
MAX_STREAMS = int(os.environ.get("FACEXP_MAX_STREAMS", 4))
STREAM_IDLE_S = 3.0
STREAM_EVENT_LIMIT = MAX_STREAMS + 4
IMAGE_CONCURRENCY = 2
VIDEO_CONCURRENCY = 1
QUEUE_MAX_SIZE = 32
VIDEO_YIELD_MAX_S = 0.25  # a video frame waits at most this long for webcam frames to go first
BUSY_STREAMS = ("Busy: {n} webcam streams are already being served (the most this server runs at once). "
                "Try again in a minute.")
VIDEO_STATUS_EVERY_S = 0.5  # the video tab's progress line: after the first frame, then at least this often
FPS_SMOOTHING = 0.8
# Chart, table and readout are refreshed at most this often (the frame every time), and the session panel (timeline,
# summary, alerts) this often while it changes: each refresh re-renders widgets in the browser, which shares this
# machine's 2 cores with the server in the benches (0.5 s and 0.4 s: 21.0 shown frames/s over WebRTC; 1 s: 22.6).
WIDGETS_EVERY_S = float(os.environ.get("FACEXP_WIDGETS_EVERY_S", 1.0))
SESSION_REFRESH_S = float(os.environ.get("FACEXP_SESSION_REFRESH_S", 1.0))
TABLE_COLUMNS = ["face", "track", "box [x, y, w, h]", "expression", "confidence", "mask", "mask score", "detector score"]

log = logging.getLogger("facexp.gradio")

# Shown in the Webcam tab when the browser gives no camera (Gradio itself shows nothing), by getUserMedia's error name.
CAMERA_ERRORS = {
    "NotAllowedError": "Camera permission was denied. Allow camera access for this page in the browser settings and "
                       "reload, or use the Image tab.",
    "NotFoundError": "No camera was found. Connect a camera and reload, or use the Image tab.",
    "NotReadableError": "The camera is in use by another program or could not be started. Close it there and "
                        "reload, or use the Image tab.",
    "other": "The camera could not be started ({name}: {message}). You can use the Image tab instead.",
}
CAMERA_ERRORS["SecurityError"] = CAMERA_ERRORS["NotAllowedError"]
CAMERA_ERRORS["OverconstrainedError"] = CAMERA_ERRORS["NotFoundError"]
CAMERA_ERRORS["AbortError"] = CAMERA_ERRORS["NotReadableError"]
CAMERA_ERROR_ID = "webcam-camera-error"


def camera_error_script() -> str:
    """<head> script: a failed getUserMedia (permission denied, no camera, camera busy) writes CAMERA_ERRORS' message
    into the Webcam tab's #webcam-camera-error; a camera that starts clears it."""
    return """<script>
(() => {
  const messages = %s;
  const show = text => {
    const box = document.getElementById(%s);
    if (box) { box.textContent = text; box.style.display = text ? 'block' : 'none'; }
  };
  const media = navigator.mediaDevices;
  if (!media || !media.getUserMedia) return;
  const original = media.getUserMedia.bind(media);
  media.getUserMedia = async constraints => {
    try {
      const stream = await original(constraints);
      show('');
      return stream;
    } catch (error) {
      const name = (error && error.name) || 'Error';
      show((messages[name] || messages.other).replace('{name}', name).replace('{message}', (error && error.message) || ''));
      throw error;
    }
  };
})();
</script>""" % (json.dumps(CAMERA_ERRORS), json.dumps(CAMERA_ERROR_ID))


def webrtc_script(peers: WebRTCPeers) -> str:
    """<head> scripts: the WebRTC settings (ICE servers, camera size) and demo/webrtc.js, the page's side of it."""
    config = peers.browser_config(camera_constraints(STREAM_SIZE)["video"])
    code = (Path(__file__).with_name("webrtc.js")).read_text()
    return f"<script>window.facexpWebrtcConfig = {json.dumps(config)};</script>\n<script>\n{code}</script>"


def tune_malloc() -> None:
    """glibc malloc settings for a long-running frame server, set at start-up unless the user set them (env
    MALLOC_MMAP_THRESHOLD_, MALLOC_ARENA_MAX): a fixed 128 KiB mmap threshold, so every frame-sized buffer (a 640x480
    frame is 900 KiB, several per frame) is mapped and given back to the system when freed, instead of glibc raising the
    threshold and keeping freed frames in fragmented heaps; and at most 2 arenas for the many threads (WebRTC, Gradio,
    LiteRT). In the 30-minute WebRTC soak: RSS at minute 3 377 -> 320 MB, frames/s unchanged (BENCHMARKS.md).
    Nothing happens where the C library is not glibc."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_mmap_threshold, m_arena_max = -3, -8  # from glibc's malloc.h
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(m_mmap_threshold, 128 * 1024)
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(m_arena_max, 2)


class StreamSlots:
    """Which webcam sessions are being served (at most `limit`), and how many stream frames are in progress (a
    video gives way to them)."""

    def __init__(self, limit: int, idle_s: float = STREAM_IDLE_S):
        self.limit, self.idle_s = limit, idle_s
        self.last_seen: dict[int, float] = {}
        self.frames_in_progress = 0
        self.lock = threading.Lock()

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


STREAM_SLOTS = StreamSlots(MAX_STREAMS)


# ---------------------------------------------------------------------------------------------------------------------
# Results -> widgets
# ---------------------------------------------------------------------------------------------------------------------


def face_table(result: FrameResult) -> pd.DataFrame:
    rows = []
    for i, face in enumerate(result.faces):
        emotion, mask = face["emotion"], face["mask"]
        rows.append([
            i + 1,
            result.track_text(i),
            str(face["box"]),
            draw.expression_text(face),
            round(emotion["scores"][emotion["label"]], 3) if emotion else "",
            mask["label"] if mask else ("" if face["too_small"] else "n/a (no mask model)"),
            round(mask["score"], 3) if mask else "",
            round(face["score"], 3),
        ])
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def face_table_empty() -> pd.DataFrame:
    return pd.DataFrame([], columns=TABLE_COLUMNS)


def main_face_chart(result: FrameResult) -> dict:
    """Probabilities of the main (largest) face for gr.Label; empty when no face or its expression is not read."""
    return result.faces[0]["emotion"]["scores"] if result.faces and result.faces[0]["emotion"] else {}


def summary(result: FrameResult) -> str:
    if not result.faces:
        return "No face found."
    text = f"{len(result.faces)} face(s); main face: **{draw.expression_text(result.faces[0])}**."
    if result.note:
        text += f" Note: {result.note}."
    return text


# ---------------------------------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------------------------------


def mark_stream_frames(image: gr.Image) -> gr.Image:
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


def example_images(folder: Path) -> list[str]:
    """Example photos from scikit-image's public-domain data (never copied from the data folder), showing more than one
    expression: the astronaut (smiling), the cameraman (grey, not smiling) and the astronaut twice (two faces)."""
    import cv2
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    astronaut = data.astronaut()
    examples = {
        "astronaut.png": astronaut,
        "cameraman.png": data.camera(),
        "astronaut_pair.png": np.concatenate([astronaut, astronaut[:, ::-1]], axis=1),
    }
    paths = []
    for name, image in examples.items():
        path = folder / name
        if not path.exists():
            bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(path), bgr)
        paths.append(str(path))
    return paths


# ---------------------------------------------------------------------------------------------------------------------
# Handlers (each takes the pipeline first; build_app binds it)
# ---------------------------------------------------------------------------------------------------------------------


def new_session() -> dict:
    return {"tracker": FaceTracker(), "last_frame_time": None, "gap_s": 0.0, "widgets_time": 0.0,
            "live": LiveSession(EMOTIONS), "shown_version": -1, "id": int.from_bytes(os.urandom(8), "little")}


def analyse_webcam_frame(pipeline: FacePipeline, frame: np.ndarray, mirror: bool, smoothing: bool,
                         session: dict) -> np.ndarray | None:
    """One webcam frame through the server, whichever transport brought it (WebRTC or the image stream): mirror, the
    pipeline with the session's tracker, the session analytics, frames/s and latency. Returns the annotated frame
    (None when the server is busy or the frame was skipped); the main-face chart, the face table and the readout go
    into session["widgets"], refreshed at most every WIDGETS_EVERY_S (the frame every time)."""
    if not STREAM_SLOTS.admit(session["id"]):
        session["widgets"] = ({}, face_table_empty(), BUSY_STREAMS.format(n=STREAM_SLOTS.limit))
        return None
    start = time.perf_counter()
    if mirror:
        frame = cv2.flip(frame, 1)  # a contiguous copy in 0.1 ms (frame[:, ::-1] is a view that costs 2.6 ms to copy)
    session["tracker"].smoothing = SMOOTHING if smoothing else 0.0  # tracked either way: the session needs the ids
    STREAM_SLOTS.frame_started()
    try:
        annotated, result = pipeline.run(frame, session["tracker"])
    except InputError as error:
        session["widgets"] = ({}, face_table_empty(), f"Frame skipped: {error}")
        return None
    finally:
        STREAM_SLOTS.frame_done()
    now = time.time()
    session["live"].add(now, result.track_ids, result.faces)
    if session["last_frame_time"] is not None:  # frames/s = 1 / the moving average of the gaps (an average of 1/gap
        gap = max(now - session["last_frame_time"], 1e-3)  # would overstate it whenever gaps vary)
        session["gap_s"] = gap if not session["gap_s"] else FPS_SMOOTHING * session["gap_s"] + (1 - FPS_SMOOTHING) * gap
    session["last_frame_time"] = now
    if now - session["widgets_time"] >= WIDGETS_EVERY_S or "widgets" not in session:
        latency = (time.perf_counter() - start) * 1000
        timings = result.timings_ms
        fps = 1.0 / session["gap_s"] if session["gap_s"] else 0.0
        readout = (f"{fps:.1f} frames/s | server latency {latency:.0f} ms "
                   f"(detect {timings['detect']:.0f}, expression {timings['emotion']:.0f}, mask {timings['mask']:.0f}, "
                   f"draw {timings.get('draw', 0):.0f}) | {len(result.faces)} face(s)")
        if result.note:
            readout += f" | {result.note}"
        session["widgets_time"] = now
        session["widgets"] = (main_face_chart(result), face_table(result), readout)
    return annotated


def webcam_frame(pipeline: FacePipeline, frame, mirror: bool, smoothing: bool, session: dict | None):
    """The image stream (fallback transport): one streamed frame -> annotated frame, main-face chart, face table,
    readout, session. Between two widget refreshes the widgets get their last values again, not gr.skip(): Gradio
    stores a new copy of a component in the session for every gr.skip()/gr.update() it is sent (issue 10's soak)."""
    session = session or new_session()
    if frame is None:
        return None, {}, face_table_empty(), "Waiting for the camera...", session
    annotated = analyse_webcam_frame(pipeline, frame, mirror, smoothing, session)
    return annotated, *session["widgets"], session


async def webrtc_start(pipeline: FacePipeline, peers: WebRTCPeers, offer: str, mirror: bool, smoothing: bool,
                       session: dict | None, request: gr.Request):
    """Start (WebRTC): the page's offer (JSON, from demo/webrtc.js) -> the answer (JSON; "" when refused), the
    readout, the session, and the widgets timer switched on. Each frame of the connection then goes through
    analyse_webcam_frame with this session (its tracker, analytics, Mirror and Smooth as last set)."""
    session = session or new_session()
    session["mirror"], session["smoothing"] = bool(mirror), bool(smoothing)
    if not offer:
        return "", "The camera did not start (the message above says why).", session, gr.Timer(active=False)
    try:
        parse_offer(offer)  # junk is refused before it takes a stream slot
    except OfferError as error:
        raise gr.Error(str(error)) from None
    if not STREAM_SLOTS.admit(session["id"]):
        return "", BUSY_STREAMS.format(n=STREAM_SLOTS.limit), session, gr.Timer(active=False)
    session["widgets"] = ({}, face_table_empty(), "Connecting...")

    def analyse(frame: np.ndarray) -> np.ndarray | None:
        return analyse_webcam_frame(pipeline, frame, session["mirror"], session["smoothing"], session)

    def on_end(reason: str) -> None:
        chart, table, _ = session["widgets"]
        session["widgets"] = (chart, table, f"Camera {reason}.")

    try:
        answer = await peers.answer(request.session_hash, offer, analyse, on_end,
                                    client=request.client.host if request.client else "")
    except OfferError as error:
        STREAM_SLOTS.release(session["id"])
        raise gr.Error(str(error)) from None
    return answer, "Connecting...", session, gr.Timer(active=True)


async def webrtc_stop(peers: WebRTCPeers, request: gr.Request):
    """Stop (WebRTC): close this session's connection, switch the widgets timer off, say so in the readout."""
    await peers.close(request.session_hash)
    return gr.Timer(active=False), "Camera stopped."


async def webrtc_unload(peers: WebRTCPeers, request: gr.Request) -> None:
    """The tab was closed or reloaded (Gradio's unload): close its connection, if any."""
    await peers.close(request.session_hash, "closed with the tab")


def webrtc_widgets(session: dict | None):
    """The widgets timer (WebRTC): the chart, table and readout the connection's frames left in the session."""
    if session is None or "widgets" not in session:
        return {}, face_table_empty(), "Waiting for the camera..."
    return session["widgets"]


def webcam_options(mirror: bool, smoothing: bool, session: dict | None) -> None:
    """Mirror and Smooth changed: a running WebRTC connection uses them from its next frame."""
    if session is not None:
        session["mirror"], session["smoothing"] = bool(mirror), bool(smoothing)


def predict_image(pipeline: FacePipeline, image):
    """Plain endpoint: an image -> (annotated image, main-face probabilities, face table, faces JSON, summary)."""
    if image is None:
        raise gr.Error("Upload an image first (or pick an example).")
    try:
        annotated, result = pipeline.run(image, photo=True)
    except InputError as error:
        raise gr.Error(str(error)) from None
    faces_json = {"faces": result.faces, "ms": result.timings_ms["total"], "note": result.note}
    return annotated, main_face_chart(result), face_table(result), faces_json, summary(result)


def predict_video(pipeline: FacePipeline, video_path, smoothing: bool, progress=gr.Progress()):
    """A video file -> annotated MP4 (`core.video.VideoWriter`: H.264 at display size, encoded in a thread beside the
    analysis), per-frame CSV, expression-over-time plot, summary. A generator: it yields a progress line after the
    first frame and then every VIDEO_STATUS_EVERY_S, so Cancel (or a closed tab) stops it between two frames and frees
    the worker; the files of a stopped run are removed."""
    if not video_path:
        raise gr.Error("Upload a video first.")
    name = Path(video_path).name  # its header was checked on the way in (accept_received_files)
    try:
        fps, count = video_info(video_path)
    except VideoError as error:
        raise gr.Error(f"{name}: {error}") from None
    out_dir = Path(tempfile.mkdtemp(dir=temp_dir(), prefix="video-"))
    stem = Path(video_path).stem
    tracker = FaceTracker() if smoothing else None
    frames_done, faces_total = 0, 0
    total = min(count, MAX_VIDEO_FRAMES) if count else MAX_VIDEO_FRAMES
    cap_note = f"; only the first {MAX_VIDEO_FRAMES} are labelled" if count > MAX_VIDEO_FRAMES else ""
    csv_path = out_dir / f"{stem}_faces.csv"
    finished, last_status = False, 0.0
    try:
        with VideoWriter(out_dir / f"{stem}_annotated", fps) as writer, open(csv_path, "w", newline="") as handle:
            table = csv.writer(handle)
            table.writerow(["frame", "time_s", "face", "track", "x", "y", "w", "h", "detector_score", "emotion",
                            *[f"p_{label}" for label in EMOTIONS], "mask", "mask_score"])
            for index, result in pipeline.run_video(video_path, tracker, writer, MAX_VIDEO_FRAMES):
                seconds = round(index / fps, 3)
                for i, face in enumerate(result.faces):
                    emotion, mask = face["emotion"], face["mask"]
                    scores = [emotion["scores"][label] for label in EMOTIONS] if emotion else [""] * len(EMOTIONS)
                    table.writerow([index, seconds, i + 1, result.track_text(i), *face["box"],
                                    face["score"], emotion["label"] if emotion else "", *scores,
                                    mask["label"] if mask else "", mask["score"] if mask else ""])
                frames_done, faces_total = index + 1, faces_total + len(result.faces)
                if index == 0 or time.monotonic() - last_status >= VIDEO_STATUS_EVERY_S:
                    last_status = time.monotonic()
                    progress(min(1.0, frames_done / total), desc=f"frame {frames_done} of {total}")
                    yield (gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                           f"Labelling {name}: frame {frames_done} of {count or 'unknown'}{cap_note}...")
                STREAM_SLOTS.give_way()  # webcam frames first
        finished = True
    except VideoError as error:
        raise gr.Error(f"{name}: {error}") from None
    finally:
        if not finished:  # cancelled, disconnected or failed: nothing of this run is kept
            log.info("video %s stopped after %d of %d frames", name, frames_done, total)
            shutil.rmtree(out_dir, ignore_errors=True)
    tracks = video_tracks(csv_path)
    chosen = tracks[0][1] if tracks else None
    cut = f" (cut at {MAX_VIDEO_FRAMES} frames)" if count > MAX_VIDEO_FRAMES else ""
    followed = (f"the plot follows {tracks[0][0].split(' (')[0]}, the longest; pick another track above it"
                if tracks else "no face, no plot")
    text = f"{frames_done} frames{cut}, {faces_total} face detections, {len(tracks)} track(s); {followed}."
    yield (str(writer.path), str(csv_path), track_plot(str(csv_path), chosen),
           gr.Dropdown(choices=tracks, value=chosen), text)


def video_tracks(csv_path) -> list[tuple[str, str]]:
    """The Video tab's track choices from its CSV, longest first: ("track 3 (120 frames)", "3"); without smoothing
    (no tracker) the one choice is face 1, the main face of each frame: ("face 1, main (104 frames)", "main")."""
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    tracked = [row for row in rows if row["track"] != ""]
    if not tracked:
        frames = sum(1 for row in rows if row["face"] == "1")
        return [(f"face 1, main ({frames} frames)", "main")] if frames else []
    lengths: dict[str, int] = {}
    for row in tracked:
        lengths[row["track"]] = lengths.get(row["track"], 0) + 1
    ordered = sorted(lengths.items(), key=lambda item: (-item[1], int(item[0])))
    return [(f"track {track} ({frames} frames)", track) for track, frames in ordered]


def track_plot(csv_path, track: str | None) -> pd.DataFrame:
    """Expression probabilities over time of one track of the Video tab's CSV ("main": face 1 of each frame)."""
    columns = ["time_s", "expression", "probability"]
    if not csv_path or track is None:
        return pd.DataFrame([], columns=columns)
    try:
        with open(csv_path, newline="") as handle:
            rows = [row for row in csv.DictReader(handle)
                    if (row["face"] == "1" if track == "main" else row["track"] == str(track)) and row["emotion"]]
        points = [(float(row["time_s"]), label, float(row[f"p_{label}"])) for row in rows for label in EMOTIONS]
    except (KeyError, ValueError, TypeError, csv.Error):  # UnicodeDecodeError is a ValueError
        raise gr.Error(f"{Path(csv_path).name} is not a faces CSV of the Video tab (its columns or values differ).") from None
    return pd.DataFrame(points, columns=columns)


def session_view(session: dict | None, alert_after_s: float | None, force: bool = False):
    """The session panel's widgets (summary, timeline, alerts); the same values again while nothing changed (not
    gr.skip(): Gradio keeps a copy of a component in the session for each gr.skip() it is sent, see webcam_frame)."""
    if session is None:
        return EMPTY_SESSION_VIEW
    live = session["live"]
    if alert_after_s and alert_after_s > 0:
        live.alert_after_s = float(alert_after_s)
    if live.version == session["shown_version"] and not force and "view" in session:
        return session["view"]
    shown_alerts = session.get("shown_alerts", 0)
    for alert in live.alerts[shown_alerts:]:
        gr.Warning(f"ALERT: {alert['text']}")
    session["shown_version"], session["shown_alerts"] = live.version, len(live.alerts)
    alerts = "\n".join(f"- **{alert['text']}** (at {alert['time_s']:.1f} s)" for alert in live.alerts)
    session["view"] = (live.summary_text(), session_timeline(live), alerts)
    return session["view"]


def session_timeline(live: LiveSession | None) -> pd.DataFrame:
    """One point per face and sample. Typed columns even when empty: the plot keeps the axis types it first got."""
    rows = live.timeline() if live is not None else []
    return pd.DataFrame({
        "time_s": pd.Series([row[0] for row in rows], dtype=float),
        "face": pd.Series([f"face {row[1]}" for row in rows], dtype=object),
        "expression": pd.Series([row[2] for row in rows], dtype=object),
        "probability": pd.Series([row[3] for row in rows], dtype=float),
    })


EMPTY_SESSION_VIEW = ("No face seen yet in this session.", session_timeline(None), "")


def session_csv(session: dict | None):
    """The session's samples as a CSV file (written now, into the private temp dir) for download."""
    if session is None or not session["live"].rows:
        raise gr.Error("Nothing recorded yet: start the camera first.")
    out_dir = Path(tempfile.mkdtemp(dir=temp_dir(), prefix="session-"))
    path = out_dir / f"session-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    path.write_text(session["live"].csv_text())
    return str(path)


def session_reset(session: dict | None, alert_after_s: float | None):
    """Forget the session (samples, faces, alerts; the tracker restarts its ids)."""
    if session is not None:
        session["live"].reset()
        session["tracker"] = FaceTracker()
        session["shown_alerts"] = 0
    return *session_view(session, alert_after_s, force=True), None, session


def session_panel(session: gr.State) -> None:
    """The webcam tab's session analytics, refreshed by a timer from the `session` the stream handler fills."""
    with gr.Accordion("Session (this webcam stream)", open=True):
        with gr.Row():
            with gr.Column(scale=2):
                timeline = gr.ScatterPlot(session_timeline(None), x="time_s", y="face", color="expression",
                                          color_map=expression_colors(), height=220,
                                          label="Expression timeline (per tracked face, last minute)",
                                          elem_id="session-timeline")
            with gr.Column(scale=1):
                summary = gr.Markdown("No face seen yet in this session.", elem_id="session-summary")
                alert_after = gr.Number(ALERT_AFTER_S, minimum=0.25, step=0.25, label="Alert when a face is unmasked for at least (s)")
                alerts = gr.Markdown(elem_id="session-alerts")
                with gr.Row():
                    csv_button = gr.Button("Download session CSV", elem_id="session-csv-button")
                    reset_button = gr.Button("Reset session", elem_id="session-reset")
                csv_file = gr.File(label="Session CSV", elem_id="session-csv")
    timer = gr.Timer(SESSION_REFRESH_S)
    timer.tick(session_view, [session, alert_after], [summary, timeline, alerts], show_progress="hidden",
               api_visibility="private", concurrency_limit=None)  # cheap: no model involved
    csv_button.click(session_csv, [session], [csv_file], api_visibility="private")
    reset_button.click(session_reset, [session, alert_after], [summary, timeline, alerts, csv_file, session],
                       api_visibility="private")


def bind(handler, pipeline: FacePipeline):
    """The handler with its pipeline argument filled in, under its own name (Gradio names endpoints after it)."""
    bound = functools.partial(handler, pipeline)
    bound.__name__, bound.__doc__ = handler.__name__, handler.__doc__
    return bound


def camera_constraints(size: str) -> dict:
    """getUserMedia constraints asking for a WIDTHxHEIGHT camera: every streamed frame is JPEG-encoded in the browser
    and decoded in the server, so a smaller frame is cheaper on both sides (the detector sees 192x192 anyway)."""
    width, height = (int(value) for value in size.lower().split("x"))
    return {"video": {"width": {"ideal": width}, "height": {"ideal": height}}}


def bind_async(handler, *leading):
    """`bind` for the WebRTC handlers: a coroutine function (Gradio awaits it on its own event loop, where aiortc's
    connections must live) whose signature and annotations are the handler's minus the bound arguments, so Gradio
    still sees `request: gr.Request` (it reads no annotations through a functools.partial)."""
    @functools.wraps(handler)
    async def bound(*args, **kwargs):
        return await handler(*leading, *args, **kwargs)

    bound.__signature__ = inspect.Signature(list(inspect.signature(handler).parameters.values())[len(leading):])
    return bound


def build_app(pipeline: FacePipeline, examples: list[str], peers: WebRTCPeers | None = None) -> gr.Blocks:
    """The Blocks layout: three tabs, their widgets and the handlers bound to `pipeline` (and the webcam's WebRTC
    connections to `peers`)."""
    peers = peers or WebRTCPeers(time_limit_s=STREAM_TIME_LIMIT_S)
    apply_gradio_fixes()
    mask_note = "" if pipeline.has_mask_model else " No mask model is loaded (models/mask): boxes are amber, mask is n/a."

    with gr.Blocks(title="Facial expression and mask recognition") as app:
        gr.Markdown("# Facial expression and face-mask recognition\n"
                    "Every face is found (BlazeFace), cropped like the training data and labelled with one of "
                    "FER2013's seven expressions." + mask_note)
        with gr.Tab("Webcam"):
            session = gr.State(None)
            with gr.Row():
                with gr.Column():
                    gr.HTML('<video id="webrtc-video" autoplay muted playsinline '
                            'style="width:100%; max-width:640px; background:#111; aspect-ratio:4/3"></video>'
                            '<div>Connection: <span id="webrtc-state">not started</span></div>')
                    with gr.Row():
                        start = gr.Button("Start camera", variant="primary", elem_id="webrtc-start")
                        stop = gr.Button("Stop", elem_id="webrtc-stop")
                    with gr.Row():
                        mirror = gr.Checkbox(value=True, label="Mirror")
                        smoothing = gr.Checkbox(value=True, label="Smooth labels over frames")
                    readout = gr.Markdown("Click Start camera.", elem_id="webcam-readout")
                    gr.HTML(f'<div id="{CAMERA_ERROR_ID}" role="alert" style="display:none; color:#b00020; '
                            'font-weight:600"></div>')
                with gr.Column():
                    webcam_chart = gr.Label(num_top_classes=len(EMOTIONS), label="Main face")
            webcam_table = gr.Dataframe(headers=TABLE_COLUMNS, label="Faces", interactive=False, elem_id="webcam-table")
            # WebRTC (demo/webrtc.py, demo/webrtc.js): the page makes the offer, the server answers, the annotated
            # video plays in #webrtc-video; the timer brings the chart, table and readout the frames leave behind.
            offer, answer = gr.Textbox(visible=False), gr.Textbox(visible=False)
            widgets_timer = gr.Timer(WIDGETS_EVERY_S, active=False)
            start.click(bind_async(webrtc_start, pipeline, peers), [offer, mirror, smoothing, session],
                        [answer, readout, session, widgets_timer], js="(o, m, s) => window.facexpWebrtc.start(m, s)",
                        api_visibility="private", concurrency_limit=None, show_progress="hidden").then(
                None, [answer], None, js="(answer) => window.facexpWebrtc.accept(answer)", api_visibility="private")
            stop.click(bind_async(webrtc_stop, peers), None, [widgets_timer, readout], js="() => window.facexpWebrtc.stop()",
                       api_visibility="private", concurrency_limit=None, show_progress="hidden")
            app.unload(bind_async(webrtc_unload, peers))
            widgets_timer.tick(webrtc_widgets, [session], [webcam_chart, webcam_table, readout], show_progress="hidden",
                               api_visibility="private", concurrency_limit=None)
            for box in (mirror, smoothing):
                box.change(webcam_options, [mirror, smoothing, session], None, api_visibility="private",
                           show_progress="hidden")
            with gr.Accordion("No video? Stream as images instead (slower; for networks where WebRTC cannot connect)",
                              open=False, elem_id="image-stream"):
                with gr.Row():
                    webcam = accept_received_files(gr.Image(
                        sources=["webcam"], streaming=True, type="numpy", label="Camera",
                        webcam_options=gr.WebcamOptions(mirror=False, constraints=camera_constraints(STREAM_SIZE))),
                        read=read_image, stream_frames=True, data_urls=True)
                    webcam_out = mark_stream_frames(gr.Image(label="Annotated", format=STREAM_FRAME_FORMAT,
                                                             elem_id="webcam-output"))
            webcam.stream(bind(webcam_frame, pipeline), [webcam, mirror, smoothing, session],
                          [webcam_out, webcam_chart, webcam_table, readout, session],
                          stream_every=STREAM_EVERY_S, time_limit=STREAM_TIME_LIMIT_S, concurrency_limit=STREAM_EVENT_LIMIT,
                          show_progress="hidden", api_visibility="private")
            session_panel(session)
        with gr.Tab("Image"):
            with gr.Row():
                with gr.Column():
                    image_in = accept_received_files(gr.Image(
                        sources=["upload", "clipboard"], type="numpy", label="Photo", elem_id="image-input"), read=read_image)
                    image_button = gr.Button("Label the faces", variant="primary")
                    gr.Examples(examples=[[path] for path in examples], inputs=[image_in], label="Examples (scikit-image)")
                with gr.Column():
                    image_out = gr.Image(label="Annotated", format="jpeg")
                    image_summary = gr.Markdown()
                    image_chart = gr.Label(num_top_classes=len(EMOTIONS), label="Main face")
            image_table = gr.Dataframe(headers=TABLE_COLUMNS, label="Faces", interactive=False)
            image_json = gr.JSON(label="Faces (as the CLI prints them)")
            image_button.click(bind(predict_image, pipeline), [image_in], [image_out, image_chart, image_table, image_json, image_summary],
                               api_name="predict_image", concurrency_limit=IMAGE_CONCURRENCY)
        with gr.Tab("Video"):
            with gr.Row():
                with gr.Column():
                    video_in = accept_received_files(gr.Video(sources=["upload"], include_audio=True, label="Video file",
                                                              elem_id="video-input"), check=check_video_header)
                    video_smoothing = gr.Checkbox(value=True, label="Smooth labels over frames")
                    gr.Markdown(f"Videos longer than {MAX_VIDEO_FRAMES} frames (about {MAX_VIDEO_FRAMES // 30} s at "
                                "30 frames/s) are cut there. One video is labelled at a time; others wait in turn.")
                    with gr.Row():
                        video_button = gr.Button("Label every frame", variant="primary")
                        video_cancel = gr.Button("Cancel", variant="stop", elem_id="video-cancel")
                with gr.Column():
                    video_out = gr.Video(label="Annotated (MP4)", elem_id="video-output")
                    video_csv = accept_received_files(gr.File(label="Faces per frame (CSV)"))
                    video_summary = gr.Markdown(elem_id="video-summary")
            video_track = gr.Dropdown(choices=[], label="Track (the number on its box; longest first)",
                                      interactive=True)
            video_plot = gr.LinePlot(x="time_s", y="probability", color="expression", label="Expression over time",
                                     y_lim=[0, 1])
            video_event = video_button.click(bind(predict_video, pipeline), [video_in, video_smoothing],
                                             [video_out, video_csv, video_plot, video_track, video_summary],
                                             api_name="predict_video", concurrency_limit=VIDEO_CONCURRENCY)
            video_cancel.click(None, None, None, cancels=[video_event], api_visibility="private")
            video_track.input(track_plot, [video_csv, video_track], [video_plot], api_name="video_track_plot")
    return app


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--share", action="store_true", help="also create a public Gradio share link")
    parser.add_argument("--ice-server", action="append", default=[], metavar="URL",
                        help="a STUN/TURN server for the webcam's WebRTC connection (repeatable; default none: host "
                             "candidates only, enough on this machine or a LAN; for --share use e.g. "
                             "stun:stun.l.google.com:19302)")
    parser.add_argument("--emotion-model", type=Path, help="expression model folder (default: env FACEXP_EMOTION_MODEL or models/emotion)")
    parser.add_argument("--mask-model", type=Path, help="mask model folder (default: env FACEXP_MASK_MODEL or models/mask; optional)")
    parser.add_argument("--max-file-size", default=MAX_FILE_SIZE, metavar="SIZE",
                        help="largest upload accepted, e.g. 200mb or 1gb (default: env FACEXP_MAX_FILE_SIZE or 200mb); "
                             "a larger one is refused while it arrives (HTTP 413)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    tune_malloc()  # before the models and servers start their threads
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # so atexit removes the temp dir on terminate
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # Gradio's queue keeps a record of the last N events (default 10,000) for its monitoring summary; with a webcam
    # stream's two 1 s timers (or the image stream's 15 frames a second) that is hours of records: keep fewer.
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    folder = make_private_temp_dir()  # before Gradio stores any file
    keep_gradio_files_in(folder)  # before the Blocks are built: building them makes Gradio's server app
    pipeline = load_pipeline(args.emotion_model, args.mask_model)
    if pipeline is None:
        return EXIT_NO_MODELS
    examples_dir = folder / "examples"
    peers = WebRTCPeers(args.ice_server, time_limit_s=STREAM_TIME_LIMIT_S)
    app = build_app(pipeline, example_images(examples_dir), peers)
    cleaner = TempDirCleaner(folder)
    cleaner.keep |= {path for path in examples_dir.rglob("*") if path.is_file()}
    cleaner.start()
    # What start-up built (TensorFlow, the models, Gradio's app: about 200,000 objects) lives as long as the process:
    # moved out of the collector's sight, a full collection during a stream took 28 ms instead of 90-165 ms, a pause
    # a user sees as a stalled frame (measured with gc.callbacks during a WebRTC stream).
    gc.collect()
    gc.freeze()
    log.info("temporary files in %s (stream frames deleted after %g s, other files after %d s); uploads up to %s",
             folder, FRAME_TTL_S, RESULT_TTL_S, args.max_file_size)
    app.queue(default_concurrency_limit=IMAGE_CONCURRENCY, max_size=QUEUE_MAX_SIZE).launch(
        server_name=args.host, server_port=args.port, share=args.share, show_error=True,
        allowed_paths=[str(examples_dir)], head=camera_error_script() + webrtc_script(peers),
        max_file_size=args.max_file_size, app_kwargs=app_kwargs())
    return 0
