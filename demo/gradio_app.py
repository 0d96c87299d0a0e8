"""The Gradio app: webcam, image and video in, every face labelled out.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--ice-server URL] [--emotion-model DIR] [--mask-model DIR]

Tabs:
- Webcam: "Start camera" connects the browser's camera to the server over WebRTC (demo/webrtc.py: the camera goes up
  as a video track, the annotated video comes back as one; only the newest frame is analysed, none queue). Each frame
  goes through `analyse_webcam_frame` -> `FacePipeline.run` with a per-session tracker; the annotated frame plays in
  the page, and a timer brings the main face's probabilities, a per-face table and a frames/s + latency readout
  (WIDGETS_EVERY_S). Where WebRTC cannot connect, the tab's "Stream as images" fallback sends frames as uploads
  (`gr.Image` streaming, `stream_every` = STREAM_EVERY_S) through the same function and the same widgets. Mirror and
  smoothing are switchable. Under it, the live session's analytics (demo.gradio_session.session_panel).
- Image: upload (or a bundled example from scikit-image's data) -> annotated image, chart, table, JSON.
  The same function is the plain API endpoint `predict_image` (gradio_client cannot call streaming endpoints).
- Video: a file -> annotated MP4 (H.264, at most 1280 wide), a per-frame CSV of faces and probabilities, an
  expression-over-time plot of one track (a dropdown, longest first).

Privacy: Gradio writes every upload and every image it shows (each streamed frame too) into GRADIO_TEMP_DIR. `main`
points it at a private folder before the app is built (demo.gradio_temp: stream frames, other files and the folder
itself each have their lifetime) and points Gradio's import-time copy of it there too (demo.gradio_fixes).

Hostile input: the handlers open only files this server received (demo.gradio_uploads), images and videos
are checked from their header before decoding (core.input_limits), uploads are limited to --max-file-size, the WebRTC
offers are checked before a stream slot is taken (demo.webrtc), every response carries security headers and errors
are sentences for people (demo.gradio_security, demo.gradio_fixes.readable_error_texts).

Layout (as Gradio's own demos): this module holds the handlers, the Blocks layout and the launch. The handlers are
module-level functions taking the pipeline (and the stream slots, demo.stream_slots) first; `build_app` lays out the
Blocks and binds them to one pipeline, one StreamSlots and one WebRTCPeers. Beside it: the settings
(demo.gradio_settings), results as widget values (demo.gradio_results), the webcam tab's per-tab state
(demo.webcam_session.WebcamSession) and session panel (demo.gradio_session), the <head> scripts (demo.gradio_head with
demo/camera_error.js and demo/webrtc.js), the examples (demo.gradio_examples) and the process tuning
(demo.process_tuning). Importing this module loads nothing and writes nothing.
"""

from __future__ import annotations

import argparse
import csv
import functools
import inspect
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import cv2
import gradio as gr
import numpy as np

from core.image_files import read_image
from core.input_limits import check_video_header
from core.labels import EMOTIONS
from core.pipeline import EXIT_NO_MODELS, FacePipeline, InputError, load_pipeline
from core.tracking import SMOOTHING, FaceTracker
from core.video import VideoError, VideoWriter, video_info
from demo import gradio_settings as settings
from demo import gradio_temp
from demo.gradio_errors import user_error
from demo.gradio_examples import example_images
from demo.gradio_fixes import apply_gradio_fixes, keep_gradio_files_in
from demo.gradio_head import CAMERA_ERROR_ID, head_html
from demo.gradio_results import (
    PHOTO_TABLE_COLUMNS,
    TABLE_COLUMNS,
    face_table,
    face_table_empty,
    main_face_chart,
    summary,
    track_plot,
    video_tracks,
)
from demo.gradio_security import app_kwargs
from demo.gradio_session import session_panel
from demo.gradio_uploads import accept_received_files
from demo.process_tuning import freeze_startup_objects, tune_malloc
from demo.stream_slots import StreamSlots
from demo.webcam_session import WebcamSession
from demo.webrtc import OfferError, WebRTCPeers, parse_offer

log = logging.getLogger("facexp.gradio")


# ---------------------------------------------------------------------------------------------------------------------
# Handlers (each takes the pipeline, and the stream slots where it needs them, first; build_app binds them)
# ---------------------------------------------------------------------------------------------------------------------


def analyse_webcam_frame(pipeline: FacePipeline, slots: StreamSlots, frame: np.ndarray, session: WebcamSession
                         ) -> np.ndarray | None:
    """One webcam frame through the server, whichever transport brought it (WebRTC or the image stream): mirror, the
    pipeline with the session's tracker, the session analytics, frames/s and latency. Returns the annotated frame
    (None when the server is busy or the frame was skipped); the main-face chart, the face table and the readout go
    into session.widgets, refreshed at most every settings.WIDGETS_EVERY_S (the frame every time)."""
    if not slots.admit(session.id):
        session.widgets = ({}, face_table_empty(), slots.busy_text())
        return None
    start = time.perf_counter()
    if session.mirror:
        frame = cv2.flip(frame, 1)  # a contiguous copy in 0.1 ms (frame[:, ::-1] is a view that costs 2.6 ms to copy)
    session.tracker.smoothing = SMOOTHING if session.smoothing else 0.0  # tracked either way: the session needs ids
    slots.frame_started()
    try:
        annotated, result = pipeline.run(frame, session.tracker)
    except InputError as error:
        session.widgets = ({}, face_table_empty(), f"Frame skipped: {error}")
        return None
    finally:
        slots.frame_done()
    now, size = time.time(), (frame.shape[1], frame.shape[0])
    session.live.add(now, result.track_ids, result.faces)
    session.frame_analysed(now, size)
    if session.ended is not None:  # a frame finished after Stop: the readout keeps saying so
        return annotated
    if now - session.widgets_time >= settings.WIDGETS_EVERY_S or session.widgets is None:
        latency = (time.perf_counter() - start) * 1000
        timings = result.timings_ms
        readout = (f"{session.rate_text(size, settings.STREAM_WIDTH_HEIGHT)} | server latency {latency:.0f} ms "
                   f"(detect {timings['detect']:.0f}, expression {timings['emotion']:.0f}, mask {timings['mask']:.0f}, "
                   f"draw {timings.get('draw', 0):.0f}) | {len(result.faces)} face(s)")
        if result.note:
            readout += f" | {result.note}"
        session.widgets_time = now
        session.widgets = (main_face_chart(result), face_table(result), readout)
    return annotated


def webcam_frame(pipeline: FacePipeline, slots: StreamSlots, frame, mirror: bool, smoothing: bool,
                 session: WebcamSession | None):
    """The image stream (fallback transport): one streamed frame -> annotated frame, main-face chart, face table,
    readout, session. Between two widget refreshes the widgets get their last values again, not gr.skip(): Gradio
    stores a new copy of a component in the session for every gr.skip()/gr.update() it is sent (the 30-minute soak in BENCHMARKS.md)."""
    session = session or WebcamSession()
    session.mirror, session.smoothing = bool(mirror), bool(smoothing)
    if frame is None:
        return None, {}, face_table_empty(), "Waiting for the camera...", session
    annotated = analyse_webcam_frame(pipeline, slots, frame, session)
    return annotated, *session.widgets, session


async def webrtc_start(pipeline: FacePipeline, slots: StreamSlots, peers: WebRTCPeers, offer: str, mirror: bool,
                       smoothing: bool, session: WebcamSession | None, request: gr.Request):
    """Start (WebRTC): the page's offer (JSON, from demo/webrtc.js) -> the answer (JSON; "" when refused), the
    readout, the session, and the widgets timer switched on. Each frame of the connection then goes through
    analyse_webcam_frame with this session (its tracker, analytics, Mirror and Smooth as last set)."""
    session = session or WebcamSession()
    session.mirror, session.smoothing = bool(mirror), bool(smoothing)
    if not offer:
        return "", "The camera did not start (the red message below says why).", session, gr.Timer(active=False)
    try:
        parse_offer(offer)  # junk is refused before it takes a stream slot
    except OfferError as error:
        raise user_error(str(error)) from None
    if not slots.admit(session.id):
        return "", slots.busy_text(), session, gr.Timer(active=False)
    session.widgets = ({}, face_table_empty(), "Connecting...")

    def analyse(frame: np.ndarray) -> np.ndarray | None:
        return analyse_webcam_frame(pipeline, slots, frame, session)

    def on_end(reason: str) -> None:
        session.ended = reason
        chart, table, _ = session.widgets
        session.widgets = (chart, table, f"Camera {reason}.")

    session.ended = None

    try:
        answer = await peers.answer(request.session_hash, offer, analyse, on_end,
                                    client=request.client.host if request.client else "")
    except OfferError as error:
        slots.release(session.id)
        raise user_error(str(error)) from None
    return answer, "Connecting...", session, gr.Timer(active=True)


async def webrtc_stop(peers: WebRTCPeers, request: gr.Request):
    """Stop (WebRTC): close this session's connection, switch the widgets timer off, say so in the readout."""
    await peers.close(request.session_hash)
    return gr.Timer(active=False), "Camera stopped."


async def webrtc_unload(peers: WebRTCPeers, request: gr.Request) -> None:
    """The tab was closed or reloaded (Gradio's unload): close its connection, if any."""
    await peers.close(request.session_hash, "closed with the tab")


def webrtc_widgets(session: WebcamSession | None):
    """The widgets timer (WebRTC): the chart, table and readout the connection's frames left in the session."""
    if session is None or session.widgets is None:
        return {}, face_table_empty(), "Waiting for the camera..."
    return session.widgets


def webcam_options(mirror: bool, smoothing: bool, session: WebcamSession | None) -> None:
    """Mirror and Smooth changed: a running WebRTC connection uses them from its next frame."""
    if session is not None:
        session.mirror, session.smoothing = bool(mirror), bool(smoothing)


def predict_image(pipeline: FacePipeline, image):
    """Plain endpoint: an image -> (annotated image, main-face probabilities, face table, faces JSON, summary)."""
    if image is None:
        raise user_error("Upload an image first (or pick an example).")
    try:
        annotated, result = pipeline.run(image, photo=True)
    except InputError as error:
        raise user_error(str(error)) from None
    faces_json = {"faces": result.faces, "ms": result.timings_ms["total"], "note": result.note}
    return annotated, main_face_chart(result), face_table(result, tracked=False), faces_json, summary(result)


def predict_video(pipeline: FacePipeline, slots: StreamSlots, video_path, smoothing: bool, progress=gr.Progress()):
    """A video file -> annotated MP4 (`core.video.VideoWriter`: H.264 at display size, encoded in a thread beside the
    analysis), per-frame CSV, expression-over-time plot, summary. A generator: it yields a progress line after the
    first frame and then every settings.VIDEO_STATUS_EVERY_S, so Cancel (or a closed tab) stops it between two frames and frees
    the worker; the files of a stopped run are removed."""
    if not video_path:
        raise user_error("Upload a video first.")
    name = Path(video_path).name  # its header was checked on the way in (accept_received_files)
    try:
        fps, count = video_info(video_path)
    except VideoError as error:
        raise user_error(f"{name}: {error}") from None
    out_dir = Path(tempfile.mkdtemp(dir=gradio_temp.temp_dir(), prefix="video-"))
    stem = Path(video_path).stem
    tracker = FaceTracker() if smoothing else None
    frames_done, faces_total = 0, 0
    total = min(count, settings.MAX_VIDEO_FRAMES) if count else settings.MAX_VIDEO_FRAMES
    cap_note = f"; only the first {settings.MAX_VIDEO_FRAMES} are labelled" if count > settings.MAX_VIDEO_FRAMES else ""
    csv_path = out_dir / f"{stem}_faces.csv"
    finished, last_status = False, 0.0
    try:
        with VideoWriter(out_dir / f"{stem}_annotated", fps) as writer, open(csv_path, "w", newline="") as handle:
            table = csv.writer(handle)
            table.writerow(["frame", "time_s", "face", "track", "x", "y", "w", "h", "detector_score", "emotion",
                            *[f"p_{label}" for label in EMOTIONS], "mask", "mask_score"])
            for index, result in pipeline.run_video(video_path, tracker, writer, settings.MAX_VIDEO_FRAMES):
                seconds = round(index / fps, 3)
                for i, face in enumerate(result.faces):
                    emotion, mask = face["emotion"], face["mask"]
                    scores = [emotion["scores"][label] for label in EMOTIONS] if emotion else [""] * len(EMOTIONS)
                    table.writerow([index, seconds, i + 1, result.track_text(i), *face["box"],
                                    face["score"], emotion["label"] if emotion else "", *scores,
                                    mask["label"] if mask else "", mask["score"] if mask else ""])
                frames_done, faces_total = index + 1, faces_total + len(result.faces)
                if index == 0 or time.monotonic() - last_status >= settings.VIDEO_STATUS_EVERY_S:
                    last_status = time.monotonic()
                    progress(min(1.0, frames_done / total), desc=f"frame {frames_done} of {total}")
                    yield (gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                           f"Labelling {name}: frame {frames_done} of {count or 'unknown'}{cap_note}...")
                slots.give_way()  # webcam frames first
        finished = True
    except VideoError as error:
        raise user_error(f"{name}: {error}") from None
    finally:
        if not finished:  # cancelled, disconnected or failed: nothing of this run is kept
            log.info("video %s stopped after %d of %d frames", name, frames_done, total)
            shutil.rmtree(out_dir, ignore_errors=True)
    tracks = video_tracks(csv_path)
    chosen = tracks[0][1] if tracks else None
    cut = f" (cut at {settings.MAX_VIDEO_FRAMES} frames)" if count > settings.MAX_VIDEO_FRAMES else ""
    followed = (f"the plot follows {tracks[0][0].split(' (')[0]}, the longest; pick another track above it"
                if tracks else "no face, no plot")
    text = f"{frames_done} frames{cut}, {faces_total} face detections, {len(tracks)} track(s); {followed}."
    yield (str(writer.path), str(csv_path), track_plot(str(csv_path), chosen),
           gr.Dropdown(choices=tracks, value=chosen), text)


def bind(handler, *leading):
    """The handler with its leading arguments (the pipeline, the stream slots) filled in, under its own name (Gradio
    names endpoints after it)."""
    bound = functools.partial(handler, *leading)
    bound.__name__, bound.__doc__ = handler.__name__, handler.__doc__
    return bound


def bind_async(handler, *leading):
    """`bind` for the WebRTC handlers: a coroutine function (Gradio awaits it on its own event loop, where aiortc's
    connections must live) whose signature and annotations are the handler's minus the bound arguments, so Gradio
    still sees `request: gr.Request` (it reads no annotations through a functools.partial)."""
    @functools.wraps(handler)
    async def bound(*args, **kwargs):
        return await handler(*leading, *args, **kwargs)

    bound.__signature__ = inspect.Signature(list(inspect.signature(handler).parameters.values())[len(leading):])
    return bound


def build_app(pipeline: FacePipeline, examples: list[str], peers: WebRTCPeers | None = None,
              slots: StreamSlots | None = None) -> gr.Blocks:
    """The Blocks layout: three tabs, their widgets and the handlers bound to `pipeline`, the webcam's WebRTC
    connections to `peers` and its stream admission to `slots` (one of each per app, made here unless given)."""
    peers = peers or WebRTCPeers(time_limit_s=settings.STREAM_TIME_LIMIT_S)
    slots = slots or StreamSlots(settings.MAX_STREAMS)
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
            widgets_timer = gr.Timer(settings.WIDGETS_EVERY_S, active=False)
            start.click(bind_async(webrtc_start, pipeline, slots, peers), [offer, mirror, smoothing, session],
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
                        webcam_options=gr.WebcamOptions(mirror=False, constraints=settings.camera_constraints(settings.STREAM_SIZE))),
                        read=read_image, stream_frames=True, data_urls=True)
                    webcam_out = gradio_temp.mark_stream_frames(gr.Image(label="Annotated", format=settings.STREAM_FRAME_FORMAT,
                                                             elem_id="webcam-output"))
            webcam.stream(bind(webcam_frame, pipeline, slots), [webcam, mirror, smoothing, session],
                          [webcam_out, webcam_chart, webcam_table, readout, session],
                          stream_every=settings.STREAM_EVERY_S, time_limit=settings.STREAM_TIME_LIMIT_S, concurrency_limit=settings.STREAM_EVENT_LIMIT,
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
                    image_summary = gr.Markdown(elem_id="image-summary")
                    image_chart = gr.Label(num_top_classes=len(EMOTIONS), label="Main face")
            image_table = gr.Dataframe(headers=PHOTO_TABLE_COLUMNS, label="Faces", interactive=False)
            image_json = gr.JSON(label="Faces (as the CLI prints them)")
            image_button.click(bind(predict_image, pipeline), [image_in], [image_out, image_chart, image_table, image_json, image_summary],
                               api_name="predict_image", concurrency_limit=settings.IMAGE_CONCURRENCY)
        with gr.Tab("Video"):
            with gr.Row():
                with gr.Column():
                    video_in = accept_received_files(gr.Video(sources=["upload"], include_audio=True, label="Video file",
                                                              elem_id="video-input"), check=check_video_header)
                    video_smoothing = gr.Checkbox(value=True, label="Smooth labels over frames")
                    gr.Markdown(f"Videos longer than {settings.MAX_VIDEO_FRAMES} frames (about {settings.MAX_VIDEO_FRAMES // 30} s at "
                                "30 frames/s) are cut there. One video is labelled at a time; others wait in turn.")
                    with gr.Row():
                        video_button = gr.Button("Label every frame", variant="primary")
                        video_cancel = gr.Button("Cancel", variant="stop", elem_id="video-cancel")
                with gr.Column():
                    video_out = gr.Video(label="Annotated (MP4)", elem_id="video-output")
                    video_csv = accept_received_files(gr.File(label="Faces per frame (CSV)", interactive=False,
                                                              elem_id="video-csv"))
                    video_summary = gr.Markdown(elem_id="video-summary")
            video_track = gr.Dropdown(choices=[], label="Track (the number on its box; longest first)",
                                      interactive=True)
            video_plot = gr.LinePlot(x="time_s", y="probability", color="expression", label="Expression over time",
                                     y_lim=[0, 1])
            video_event = video_button.click(bind(predict_video, pipeline, slots), [video_in, video_smoothing],
                                             [video_out, video_csv, video_plot, video_track, video_summary],
                                             api_name="predict_video", concurrency_limit=settings.VIDEO_CONCURRENCY)
            video_cancel.click(None, None, None, cancels=[video_event], api_visibility="private")
            video_track.input(track_plot, [video_csv, video_track], [video_plot], api_name="video_track_plot")
    return app


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=settings.DEFAULT_HOST, help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=settings.DEFAULT_PORT)
    parser.add_argument("--share", action="store_true", help="also create a public Gradio share link")
    parser.add_argument("--ice-server", action="append", default=[], metavar="URL",
                        help="a STUN/TURN server for the webcam's WebRTC connection (repeatable; default none: host "
                             "candidates only, enough on this machine or a LAN; for --share use e.g. "
                             "stun:stun.l.google.com:19302)")
    parser.add_argument("--emotion-model", type=Path, help="expression model folder (default: env FACEXP_EMOTION_MODEL or models/emotion)")
    parser.add_argument("--mask-model", type=Path, help="mask model folder (default: env FACEXP_MASK_MODEL or models/mask; optional)")
    parser.add_argument("--max-file-size", default=settings.MAX_FILE_SIZE, metavar="SIZE",
                        help="largest upload accepted, e.g. 200mb or 1gb (default: env FACEXP_MAX_FILE_SIZE or 200mb); "
                             "a larger one is refused while it arrives (HTTP 413)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests, one INFO line each
    tune_malloc()  # before the models and servers start their threads
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # so atexit removes the temp dir on terminate
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # Gradio's queue keeps a record of the last N events (default 10,000) for its monitoring summary; with a webcam
    # stream's two 1 s timers (or the image stream's 15 frames a second) that is hours of records: keep fewer.
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    folder = gradio_temp.make_private_temp_dir()  # before Gradio stores any file
    keep_gradio_files_in(folder)  # before the Blocks are built: building them makes Gradio's server app
    pipeline = load_pipeline(args.emotion_model, args.mask_model)
    if pipeline is None:
        return EXIT_NO_MODELS
    examples_dir = folder / "examples"
    peers = WebRTCPeers(args.ice_server, time_limit_s=settings.STREAM_TIME_LIMIT_S)
    app = build_app(pipeline, example_images(examples_dir), peers)
    cleaner = gradio_temp.TempDirCleaner(folder)
    cleaner.keep |= {path for path in examples_dir.rglob("*") if path.is_file()}
    cleaner.start()
    freeze_startup_objects()
    log.info("temporary files in %s (stream frames deleted after %g s, other files after %d s); uploads up to %s",
             folder, gradio_temp.FRAME_TTL_S, gradio_temp.RESULT_TTL_S, args.max_file_size)
    app.queue(default_concurrency_limit=settings.IMAGE_CONCURRENCY, max_size=settings.QUEUE_MAX_SIZE).launch(
        server_name=args.host, server_port=args.port, share=args.share, show_error=True,
        allowed_paths=[str(examples_dir)], head=head_html(peers.browser_config(settings.camera_constraints(settings.STREAM_SIZE)["video"])),
        max_file_size=args.max_file_size, app_kwargs=app_kwargs(), quiet=True, prevent_thread_lock=True)
    log.info("serving on %s%s (Ctrl+C stops)", app.local_url, f" and {app.share_url}" if app.share_url else "")
    app.block_thread()
    return 0
