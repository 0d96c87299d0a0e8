"""The webcam transports side by side in one run, on one app: WebRTC (the Webcam tab's main view) against the
`gr.Image(streaming=True).stream` image stream (its fallback).

    nice -n 5 .venv/bin/python -m bench.webcam_transports [--seconds 20] [--photo two_people.jpg] [--only webrtc]

One `python app.py` serves both, one transport after the other. Both get the same fake camera in a real headless
Chromium (the photo panned a pixel per frame, a frame counter drawn in its top corners, bench.gradio_stream_fps) and
both run the same `analyse_webcam_frame` (FacePipeline.run with the session's tracker) on every frame they receive,
so what differs is only how frames travel:

- WebRTC (demo/webrtc.py): the browser sends its camera as a VP8 video track over a peer connection (127.0.0.1, host
  candidates only, no STUN or TURN server) and plays the annotated track the server sends back in a <video>; the
  server keeps only the newest camera frame (older ones are dropped, not queued);
- image stream (measured by bench.gradio_stream_fps.measure): each frame goes up as a JPEG upload, each annotated
  frame comes back as an image file the page downloads and decodes into an <img>.

For each: frames shown per second (a frame counts once it is presented: a <video> frame callback, or the <img>
decoded), the age of what the user sees (camera frame -> annotated frame shown, median and p95, read from the
counter), and CPU per shown frame in the server and in the browser, with the load average before and after.
(`fastrtc`, the WebRTC component Gradio's guide points to, is not among them: every release, newest 0.0.34, requires
gradio<6 and this project pins gradio 6.31: pip's ResolutionImpossible.)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.gradio_stream_fps import READ_CODE_JS, cpu_seconds_by_tree, frame_ages, measure, panning_camera
from tests.harness import free_port, launch_chromium, start_server, start_webrtc, stop_server
from train.data import data_dir


# The annotated <video>'s presented frames, with the counter each carries; the camera's frames (the stream the page
# sends, played into a <video> of its own) as in the Gradio bench.
COUNT_VIDEO_FRAMES_JS = """() => { window.__frames = []; window.__camera = []; """ + READ_CODE_JS + """
  const annotated = document.getElementById('webrtc-video'), camera = document.createElement('video');
  camera.muted = true; camera.playsInline = true; camera.srcObject = window.facexpWebrtc.state.camera;
  camera.style.cssText = 'position:fixed; left:0; top:0; width:64px; opacity:0.01'; document.body.appendChild(camera);
  camera.play();
  const onCamera = () => { window.__camera.push([readCode(camera), performance.now()]); camera.requestVideoFrameCallback(onCamera); };
  camera.requestVideoFrameCallback(onCamera);
  const onShown = () => { window.__frames.push({t: performance.now(), code: readCode(annotated),
      size: annotated.videoWidth + 'x' + annotated.videoHeight}); annotated.requestVideoFrameCallback(onShown); };
  annotated.requestVideoFrameCallback(onShown); }"""


# ---------------------------------------------------------------------------------------------------------------------
# Measuring it in Chromium
# ---------------------------------------------------------------------------------------------------------------------


def measure_webrtc(url: str, camera: Path, seconds: float, server_pid: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, camera)
        page = browser.new_page()
        page.goto(url)
        start_webrtc(page)
        page.evaluate(COUNT_VIDEO_FRAMES_JS)
        page.wait_for_timeout(2000)  # settle (the sender's bitrate ramps up)
        start = page.evaluate("window.__frames.length")
        cpu_before = cpu_seconds_by_tree(server_pid)
        page.wait_for_timeout(seconds * 1000)
        frames = page.evaluate("window.__frames")[start:]
        camera_log = page.evaluate("window.__camera")
        cpu_after = cpu_seconds_by_tree(server_pid)
        state = page.inner_text("#webcam-readout")
        browser.close()
    times = np.array([frame["t"] for frame in frames]) / 1000
    gaps = np.diff(times) * 1000 if len(times) > 1 else np.array([np.nan])
    ages = frame_ages(camera_log, frames)
    cpu_ms = {name: (cpu_after[name] - cpu_before[name]) * 1000 / max(1, len(frames)) for name in cpu_after}
    return {"frames": len(frames), "fps": len(frames) / seconds, "gap_median_ms": float(np.median(gaps)),
            "gap_p95_ms": float(np.percentile(gaps, 95)), "readout": state,
            "age_median_ms": float(np.median(ages)) if len(ages) else float("nan"),
            "age_p95_ms": float(np.percentile(ages, 95)) if len(ages) else float("nan"),
            "aged_frames": len(ages), "cpu_ms_per_frame": cpu_ms, "size": frames[-1]["size"] if frames else "-"}


def row(name: str, result: dict, load: str) -> str:
    cpu = result["cpu_ms_per_frame"]
    return (f"| {name} | {result['fps']:.1f} | {result['gap_median_ms']:.0f} ms | {result['age_median_ms']:.0f} ms | "
            f"{result['age_p95_ms']:.0f} ms | {cpu['server']:.0f} + {cpu['browser']:.0f} ms | {result['size']} | "
            f"{load} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--photo", default="two_people.jpg", help="media photo played by the fake camera")
    parser.add_argument("--only", choices=["webrtc", "images"], help="measure one transport")
    args = parser.parse_args(argv)

    def load() -> str:
        return "/".join(f"{value:.1f}" for value in os.getloadavg())

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
          f"camera: {args.photo} panned, 640x480, {args.seconds:.0f} s per transport")
    rows = []
    with tempfile.TemporaryDirectory(prefix="facexp-transports-") as folder:
        folder = Path(folder)
        camera = panning_camera(data_dir() / "media" / args.photo, folder)
        port = free_port()
        process = start_server(["--port", str(port)], port, folder / "app.log")
        try:
            for transport, name, measure_one in (("webrtc", "WebRTC (aiortc, VP8): the tab's main view", measure_webrtc),
                                                 ("images", "image stream (gr.Image .stream): the fallback", measure)):
                if args.only and transport != args.only:
                    continue
                before = load()
                result = measure_one(f"http://127.0.0.1:{port}/", camera, args.seconds, process.pid)
                rows.append(row(name, result, f"{before} -> {load()}"))
                print(f"{name}: {result}", flush=True)
        finally:
            stop_server(process)
    print("\n| transport | shown frames/s | median gap | age median | age p95 | CPU/frame server + browser | frame | "
          "load avg before -> after |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
