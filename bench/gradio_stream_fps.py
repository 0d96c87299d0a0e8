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

from tests.harness import (free_port, launch_chromium, open_image_stream, start_server, start_webrtc, stop_server,
                           write_y4m)
from train.data import data_dir

REPO = Path(__file__).resolve().parent.parent

CAMERA_FRAMES = 120  # a 4 s loop: ages are measured modulo the loop
CAMERA_FPS = 30  # faster than the stream samples, so no two sampled frames are the same
CODE_BITS = 8  # the frame counter drawn into each camera frame: CODE_BITS squares, white = 1, in both top corners
CODE_SQUARE, CODE_STEP, CODE_TOP, CODE_LEFT = 14, 18, 3, 6
PHOTO_TOP = 24  # the photo starts below the code
# In the page: the counter each camera frame carries, read from the webcam <video> (requestVideoFrameCallback: the time
# the browser had it), and the counter of each annotated frame shown (after its <img> decoded). Their difference is the
# age of what the user sees. The code is mirror-symmetric (left corner and, mirrored, right corner), so it reads the
# same whether the app mirrors the frame or not.
READ_CODE_JS = f"""
  const readCode = (source, width) => {{
    const canvas = window.__codeCanvas || (window.__codeCanvas = document.createElement('canvas'));
    canvas.width = {CODE_LEFT + CODE_BITS * CODE_STEP}; canvas.height = {CODE_TOP + CODE_SQUARE};
    const scale = (source.videoWidth || source.naturalWidth) / 640;
    const ctx = canvas.getContext('2d', {{willReadFrequently: true}});
    ctx.drawImage(source, 0, 0, canvas.width * scale, canvas.height * scale, 0, 0, canvas.width, canvas.height);
    let code = 0;
    for (let i = 0; i < {CODE_BITS}; i++) {{
      const x = {CODE_LEFT} + i * {CODE_STEP} + {CODE_SQUARE // 2}, y = {CODE_TOP} + {CODE_SQUARE // 2};
      const [r, g, b] = ctx.getImageData(x, y, 1, 1).data;
      if (r + g + b > 3 * 128) code |= 1 << i;
    }}
    return code;
  }};"""
COUNT_FRAMES_JS = """() => { window.__frames = []; window.__camera = []; """ + READ_CODE_JS + """
  const video = document.querySelector('video[data-testid="webcam-video"]');
  const onCamera = (now) => { window.__camera.push([readCode(video), performance.now()]); video.requestVideoFrameCallback(onCamera); };
  video.requestVideoFrameCallback(onCamera);
  const root = document.querySelector('#webcam-output');
  let last = null;
  const seen = () => { const img = root.querySelector('img');
    if (!img || img.src === last) return;
    last = img.src;
    img.decode().then(() => { const code = readCode(img); const t = performance.now();
      window.__frames.push({t, code, size: img.naturalWidth + 'x' + img.naturalHeight}); }).catch(() => {}); };
  new MutationObserver(seen).observe(root, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']}); }"""

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
        cpu_before = cpu_seconds_by_tree(server_pid)
        page.wait_for_timeout(seconds * 1000)
        frames = page.evaluate("window.__frames")[start:]
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
            "aged_frames": len(ages), "cpu_ms_per_frame": cpu_ms, "size": frames[-1]["size"] if frames else "-"}


def frame_ages(camera_log: list, frames: list[dict]) -> np.ndarray:
    """Age in ms of each displayed frame: the time it was shown minus the time its camera frame was in the page's
    <video>. The fake camera loops CAMERA_FRAMES frames at CAMERA_FPS, so frame `code` is in the video at
    phase + code / CAMERA_FPS (mod the loop); the phase is the median over the counters read from the <video> (which
    a loaded page does not read on every frame)."""
    if not camera_log or not frames:
        return np.array([])
    period, step = CAMERA_FRAMES * 1000 / CAMERA_FPS, 1000 / CAMERA_FPS
    codes, times = np.array(camera_log, float).T
    valid = codes < CAMERA_FRAMES
    phases = (times[valid] - codes[valid] * step) % period
    reference = phases[0]
    phase = reference + np.median((phases - reference + period / 2) % period - period / 2)
    ages = []
    for frame in frames:
        if frame["code"] >= CAMERA_FRAMES:
            continue  # misread
        age = (frame["t"] - phase - frame["code"] * step) % period
        ages.append(age)
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
