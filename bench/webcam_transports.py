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
decoded), the age of what the user sees (camera frame captured -> annotated frame shown, median and p95, from the
counter: the capture side is read from a clone of the camera track, MediaStreamTrackProcessor, so the bench renders
nothing the page does not), CPU per shown frame in the server and in the browser, with the load average before and
after, and for WebRTC the browser's own counters (frames its camera encoded and sent, annotated frames received and
decoded per second).
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

from bench.gradio_stream_fps import measure, panning_camera
from tests.harness import free_port, start_server, stop_server
from train.data import data_dir


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
            for transport, name in (("webrtc", "WebRTC (aiortc, VP8): the tab's main view"),
                                    ("images", "image stream (gr.Image .stream): the fallback")):
                if args.only and transport != args.only:
                    continue
                before = load()
                result = measure(f"http://127.0.0.1:{port}/", camera, args.seconds, process.pid, transport)
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
