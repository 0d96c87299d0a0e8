"""Frames per second the Gradio webcam tab's image stream (its fallback; WebRTC is measured beside it by
bench/webcam_transports.py) delivers to a real headless Chromium (fake camera).

    nice -n 19 .venv/bin/python -m bench.gradio_stream_fps [--seconds 20] [--photo bbt1.jpg] [--url URL]

Starts `python app.py` on a free port (unless --url is given), plays a .y4m made from a media photo as the camera
(panned by a pixel per frame, so every frame differs and Gradio cannot reuse an output file), starts the stream,
and counts the distinct annotated frames the page receives. Also prints the app's own readout (server side).
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

from tests.harness import (
    free_port,
    launch_chromium,
    open_image_stream,
    start_server,
    start_webrtc,
    stop_server,
    write_y4m,
)
from train.data import data_dir

REPO = Path(__file__).resolve().parent.parent

CAMERA_FRAMES = 120  # a 4 s loop: ages are measured modulo the loop
CAMERA_FPS = 30  # faster than the stream samples, so no two sampled frames are the same
CODE_BITS = 8  # the frame counter drawn into each camera frame: CODE_BITS squares, white = 1, in both top corners
CODE_SQUARE, CODE_STEP, CODE_TOP, CODE_LEFT = 14, 18, 3, 6
PHOTO_TOP = 24  # the photo starts below the code
# In the page: the counter of each camera frame, read from a clone of the camera track as the browser captures it
# (MediaStreamTrackProcessor: the frame's first rows, no rendering), and the counter of each annotated frame shown (a
# <video> frame callback, or the <img> decoded). Their difference is the age of what the user sees. The code is
# mirror-symmetric (left corner and, mirrored, right corner), so it reads the same whether the app mirrors or not.
CODE_X = [CODE_LEFT + i * CODE_STEP + CODE_SQUARE // 2 for i in range(CODE_BITS)]
CODE_Y = CODE_TOP + CODE_SQUARE // 2
READ_CODE_JS = f"""
  const readCode = (source) => {{
    const canvas = window.__codeCanvas || (window.__codeCanvas = document.createElement('canvas'));
    canvas.width = {CODE_LEFT + CODE_BITS * CODE_STEP}; canvas.height = {CODE_TOP + CODE_SQUARE};
    const scale = (source.videoWidth || source.naturalWidth) / 640;
    const ctx = canvas.getContext('2d', {{willReadFrequently: true}});
    ctx.drawImage(source, 0, 0, canvas.width * scale, canvas.height * scale, 0, 0, canvas.width, canvas.height);
    let code = 0;
    {CODE_X}.forEach((x, i) => {{ const [r, g, b] = ctx.getImageData(x, {CODE_Y}, 1, 1).data;
      if (r + g + b > 3 * 128) code |= 1 << i; }});
    return code;
  }};
  const readCamera = async (track) => {{
    const reader = new MediaStreamTrackProcessor({{track: track.clone()}}).readable.getReader();
    window.__stopCamera = () => reader.cancel();
    for (;;) {{
      const {{value: frame, done}} = await reader.read();
      if (done) return;
      const t = performance.now(), rect = {{x: 0, y: 0, width: frame.codedWidth, height: {CODE_TOP + CODE_SQUARE + 1}}};
      const pixels = new Uint8Array(frame.allocationSize({{rect}}));
      const luma = (await frame.copyTo(pixels, {{rect}}))[0];  // I420/NV12: plane 0 is the luma
      frame.close();
      let code = 0;
      {CODE_X}.forEach((x, i) => {{ if (pixels[luma.offset + {CODE_Y} * luma.stride + x] > 128) code |= 1 << i; }});
      window.__camera.push([code, t]);
    }}
  }};"""
COUNT_FRAMES_JS = """() => { window.__frames = []; window.__camera = []; """ + READ_CODE_JS + """
  readCamera(document.querySelector('video[data-testid="webcam-video"]').srcObject.getVideoTracks()[0]);
  const root = document.querySelector('#webcam-output');
  let last = null;
  const seen = () => { const img = root.querySelector('img');
    if (!img || img.src === last) return;
    last = img.src;
    img.decode().then(() => { const code = readCode(img); const t = performance.now();
      window.__frames.push({t, code, size: img.naturalWidth + 'x' + img.naturalHeight}); }).catch(() => {}); };
  new MutationObserver(seen).observe(root, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']}); }"""
# The annotated <video>'s presented frames, with the counter each carries.
COUNT_VIDEO_FRAMES_JS = """() => { window.__frames = []; window.__camera = []; """ + READ_CODE_JS + """
  readCamera(window.facexpWebrtc.state.camera.getVideoTracks()[0]);
  const annotated = document.getElementById('webrtc-video');
  const onShown = () => { window.__frames.push({t: performance.now(), code: readCode(annotated),
      size: annotated.videoWidth + 'x' + annotated.videoHeight}); annotated.requestVideoFrameCallback(onShown); };
  annotated.requestVideoFrameCallback(onShown); }"""
# The browser's own WebRTC counters: frames its camera track encoded and sent, frames of the annotated track received,
# decoded and dropped, and the encode/decode time they took.
WEBRTC_STATS_JS = """async () => { const out = {};
  (await window.facexpWebrtc.state.connection.getStats()).forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') Object.assign(out, {framesEncoded: s.framesEncoded,
      framesSent: s.framesSent, encodeS: s.totalEncodeTime, sentWidth: s.frameWidth, encoder: s.encoderImplementation,
      limitation: s.qualityLimitationReason});
    if (s.type === 'inbound-rtp' && s.kind === 'video') Object.assign(out, {framesReceived: s.framesReceived,
      framesDecoded: s.framesDecoded, framesDropped: s.framesDropped, decodeS: s.totalDecodeTime,
      framesRendered: s.framesRendered, jitterBufferS: s.jitterBufferDelay, jitterEmitted: s.jitterBufferEmittedCount});
  }); return out; }"""


def draw_code(frame: np.ndarray, number: int) -> None:
    """The frame counter as CODE_BITS black/white squares in the top-left corner, mirrored in the top-right one."""
    for i in range(CODE_BITS):
        x = CODE_LEFT + i * CODE_STEP
        value = 255 if number >> i & 1 else 0
        frame[CODE_TOP : CODE_TOP + CODE_SQUARE, x : x + CODE_SQUARE] = value
        frame[CODE_TOP : CODE_TOP + CODE_SQUARE, frame.shape[1] - x - CODE_SQUARE : frame.shape[1] - x] = value


def panning_camera(photo: Path, out_dir: Path) -> Path:
    """The photo in a 640x480 frame, shifted by one pixel per frame (then back), as a looping .y4m."""
    import cv2

    image = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    scale = min((640 - CAMERA_FRAMES // 2) / image.shape[1], (480 - PHOTO_TOP - 16) / image.shape[0])
    image = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(CAMERA_FRAMES):
        shift = i if i < CAMERA_FRAMES // 2 else CAMERA_FRAMES - i
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[PHOTO_TOP : PHOTO_TOP + image.shape[0], shift : shift + image.shape[1]] = image
        draw_code(frame, i)
        frames.append(frame)
    return write_y4m(frames, out_dir / "camera.y4m", fps=CAMERA_FPS)


def cpu_seconds_by_tree(server_pid: int | None) -> dict[str, float]:
    """CPU seconds used so far by the server's process tree and by the rest of our descendants (the browser)."""
    parents, cpu = {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    def under(pid: int, root: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = parents.get(pid, 1)
        return False

    me = os.getpid()
    server = sum(t for pid, t in cpu.items() if server_pid and under(pid, server_pid))
    browser = sum(t for pid, t in cpu.items() if pid != me and under(pid, me) and not (server_pid and under(pid, server_pid)))
    return {"server": server, "browser": browser}


def measure(url: str, camera: Path, seconds: float, server_pid: int | None = None, transport: str = "images") -> dict:
    """Stream the fake camera on the webcam tab for `seconds` over `transport`: "images" (the tab's image-stream
    fallback) or "webrtc" (its main view); frames shown, their gaps and ages, CPU per frame on each side."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, camera)
        page = browser.new_page()
        page.goto(url)
        if transport == "webrtc":
            start_webrtc(page)
            page.evaluate(COUNT_VIDEO_FRAMES_JS)
        else:
            open_image_stream(page, 30_000)
            page.wait_for_timeout(1000)
            page.evaluate(COUNT_FRAMES_JS)
            page.locator('[aria-label="capture photo"]').first.click()
        page.wait_for_function("window.__frames.length > 0", timeout=30_000)
        page.wait_for_timeout(2000)  # settle (and WebRTC's sender ramps its bitrate up)
        start = page.evaluate("window.__frames.length")
        stats_before = page.evaluate(WEBRTC_STATS_JS) if transport == "webrtc" else {}
        cpu_before = cpu_seconds_by_tree(server_pid)
        page.wait_for_timeout(seconds * 1000)
        frames = page.evaluate("window.__frames")[start:]
        stats_after = page.evaluate(WEBRTC_STATS_JS) if transport == "webrtc" else {}
        page.evaluate("window.__stopCamera()")
        camera_log = page.evaluate("window.__camera")
        cpu_after = cpu_seconds_by_tree(server_pid)
        readout = page.locator("#webcam-readout").inner_text()
        browser.close()
    times = np.array([frame["t"] for frame in frames]) / 1000
    gaps = np.diff(times) * 1000 if len(times) > 1 else np.array([np.nan])
    ages = frame_ages(camera_log, frames)
    cpu_ms = {name: (cpu_after[name] - cpu_before[name]) * 1000 / max(1, len(frames)) for name in cpu_after}
    return {"frames": len(frames), "fps": len(frames) / seconds, "gap_median_ms": float(np.median(gaps)),
            "gap_p95_ms": float(np.percentile(gaps, 95)), "readout": readout.strip().splitlines()[-1],
            "age_median_ms": float(np.median(ages)) if len(ages) else float("nan"),
            "age_p95_ms": float(np.percentile(ages, 95)) if len(ages) else float("nan"),
            "aged_frames": len(ages), "cpu_ms_per_frame": cpu_ms, "size": frames[-1]["size"] if frames else "-",
            "webrtc_per_s": webrtc_rates(stats_before, stats_after, seconds),
            "camera_fps": camera_rate(camera_log, seconds)}


def camera_rate(camera_log: list, seconds: float) -> float:
    """Camera frames per second the browser captured over the last `seconds` of the log."""
    times = np.array([t for _, t in camera_log])
    return float(np.sum(times >= times[-1] - seconds * 1000) / seconds) if len(times) else float("nan")


def webrtc_rates(before: dict, after: dict, seconds: float) -> dict:
    """The browser's WebRTC counters over the measurement, per second (times in ms per frame)."""
    rates = {name: round((after[name] - before.get(name, 0)) / seconds, 1) for name in after
             if isinstance(after[name], (int, float)) and not name.endswith("S") and "Width" not in name}
    for total, count in (("encodeS", "framesEncoded"), ("decodeS", "framesDecoded")):
        if total in after and after[count] > before.get(count, 0):
            rates[total.replace("S", "_ms")] = round((after[total] - before.get(total, 0)) * 1000
                                                     / (after[count] - before.get(count, 0)), 1)
    if "jitterBufferS" in after and after["jitterEmitted"] > before.get("jitterEmitted", 0):
        rates["jitter_buffer_ms"] = round((after["jitterBufferS"] - before["jitterBufferS"]) * 1000
                                          / (after["jitterEmitted"] - before["jitterEmitted"]), 1)
    rates |= {name: after[name] for name in ("encoder", "limitation", "sentWidth") if name in after}
    return rates


def frame_ages(camera_log: list, frames: list[dict]) -> np.ndarray:
    """Age in ms of each displayed frame: the time it was shown minus the time the browser captured its camera frame.
    The capture of that counter is the last one before the frame was shown (the counter repeats every CAMERA_FRAMES
    frames); where the reader missed it (a loaded page drops some), the nearest capture read within MAX_GAP frames
    before or after it, moved by the frame interval."""
    step, max_gap = 1000 / CAMERA_FPS, 3
    captured: dict[int, list[float]] = {}
    for code, t in camera_log:
        if code < CAMERA_FRAMES:
            captured.setdefault(int(code), []).append(t)
    ages = []
    for frame in frames:
        if frame["code"] >= CAMERA_FRAMES:
            continue  # a misread counter
        for gap in sorted(range(-max_gap, max_gap + 1), key=abs):
            times = [t - gap * step for t in captured.get((frame["code"] + gap) % CAMERA_FRAMES, [])]
            before = [t for t in times if frame["t"] - CAMERA_FRAMES * step / 2 < t <= frame["t"]]
            if before:
                ages.append(frame["t"] - before[-1])
                break
    return np.array(ages)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def report(name: str, result: dict, own_server: bool) -> None:
    print(f"## {name} (load average before: {result['load']})")
    print(f"delivered to the browser: {result['frames']} frames of {result['size']} = {result['fps']:.1f} frames/s; "
          f"gap between frames median {result['gap_median_ms']:.0f} ms, p95 {result['gap_p95_ms']:.0f} ms")
    print(f"age of the displayed frame (camera frame -> annotated frame shown): median {result['age_median_ms']:.0f} ms, "
          f"p95 {result['age_p95_ms']:.0f} ms ({result['aged_frames']} frames decoded)")
    print(f"app readout at the end: {result['readout']}")
    cpu = result["cpu_ms_per_frame"]
    if own_server:
        per_frame = cpu["server"] + cpu["browser"]
        print(f"CPU per delivered frame: server {cpu['server']:.0f} ms + browser {cpu['browser']:.0f} ms = {per_frame:.0f} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--photo", default="two_people.jpg", help="media photo played by the fake camera")
    parser.add_argument("--url", help="an app already running (default: start one per variant)")
    parser.add_argument("--variant", nargs="+", default=[""], metavar="STREAM_EVERY[:WxH]",
                        help="one app per variant, e.g. 0.066:640x480 0.033:320x240 (the app's stream_every and the "
                             "camera size it asks for); default: the app's own settings")
    args = parser.parse_args(argv)

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
          f"camera: {args.photo} panned, 640x480 at {CAMERA_FPS} frames/s, {args.seconds:.0f} s per variant")
    with tempfile.TemporaryDirectory(prefix="facexp-fps-") as folder:
        folder = Path(folder)
        camera = panning_camera(data_dir() / "media" / args.photo, folder)
        for variant in args.variant:
            stream_every, _, size = variant.partition(":")
            env = {"FACEXP_STREAM_EVERY_S": stream_every} if stream_every else {}
            env |= {"FACEXP_STREAM_SIZE": size} if size else {}
            name = f"gr.Image stream, stream_every {stream_every or 'default'} s, camera {size or 'default'}"
            process, url = None, args.url
            if url is None:
                port = free_port()
                process = start_server(["--port", str(port)], port, folder / "server.log", env=env)
                url = f"http://127.0.0.1:{port}/"
            load = load_average()
            try:
                result = measure(url, camera, args.seconds, process.pid if process is not None else None)
            finally:
                if process is not None:
                    stop_server(process)
            result["load"] = load
            report(name, result, process is not None)
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
