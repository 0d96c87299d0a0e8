"""Frames per second the Gradio webcam stream delivers to a real headless Chromium (fake camera).

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

from tests.harness import free_port, launch_chromium, start_server, stop_server, write_y4m
from train.data import data_dir

REPO = Path(__file__).resolve().parent.parent

CAMERA_FRAMES = 60
CAMERA_FPS = 30  # faster than the stream samples, so no two sampled frames are the same
COUNT_FRAMES_JS = """() => { window.__frames = []; const root = document.querySelector('#webcam-output');
  const seen = () => { const img = root.querySelector('img');
    if (img && img.src !== (window.__frames.at(-1) || {}).src) window.__frames.push({src: img.src, t: performance.now()}); };
  new MutationObserver(seen).observe(root, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']}); }"""


def panning_camera(photo: Path, out_dir: Path) -> Path:
    """The photo in a 640x480 frame, shifted by one pixel per frame (then back), as a looping .y4m."""
    import cv2

    image = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    scale = min(600 / image.shape[1], 440 / image.shape[0])
    image = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(CAMERA_FRAMES):
        shift = i if i < CAMERA_FRAMES // 2 else CAMERA_FRAMES - i
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[10 : 10 + image.shape[0], shift : shift + image.shape[1]] = image
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


def measure(url: str, camera: Path, seconds: float, server_pid: int | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, camera)
        page = browser.new_page()
        page.goto(url)
        page.get_by_text("Click to Access Webcam").click()
        page.wait_for_selector('video[data-testid="webcam-video"]', timeout=30_000)
        page.wait_for_timeout(1000)
        page.evaluate(COUNT_FRAMES_JS)
        page.locator('[aria-label="capture photo"]').first.click()
        page.wait_for_function("window.__frames.length > 0", timeout=30_000)
        page.wait_for_timeout(2000)  # settle
        start = page.evaluate("window.__frames.length")
        cpu_before = cpu_seconds_by_tree(server_pid)
        page.wait_for_timeout(seconds * 1000)
        frames = page.evaluate("window.__frames")[start:]
        cpu_after = cpu_seconds_by_tree(server_pid)
        readout = page.locator("#webcam-readout").inner_text()
        page.locator('[aria-label="capture photo"]').first.click()
        browser.close()
    times = np.array([frame["t"] for frame in frames]) / 1000
    gaps = np.diff(times) * 1000 if len(times) > 1 else np.array([np.nan])
    cpu_ms = {name: (cpu_after[name] - cpu_before[name]) * 1000 / max(1, len(frames)) for name in cpu_after}
    return {"frames": len(frames), "fps": len(frames) / seconds, "gap_median_ms": float(np.median(gaps)),
            "gap_p95_ms": float(np.percentile(gaps, 95)), "readout": readout.strip().splitlines()[-1],
            "cpu_ms_per_frame": cpu_ms}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--photo", default="two_people.jpg", help="media photo played by the fake camera")
    parser.add_argument("--url", help="an app already running (default: start one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="facexp-fps-") as folder:
        folder = Path(folder)
        camera = panning_camera(data_dir() / "media" / args.photo, folder)
        process = None
        url = args.url
        if url is None:
            port = free_port()
            process = start_server(["--port", str(port)], port, folder / "server.log")
            url = f"http://127.0.0.1:{port}/"
        try:
            result = measure(url, camera, args.seconds, process.pid if process is not None else None)
        finally:
            if process is not None:
                stop_server(process)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, camera: {args.photo} "
          f"panned, 640x480, {args.seconds:.0f} s")
    print(f"delivered to the browser: {result['frames']} frames = {result['fps']:.1f} frames/s; "
          f"gap between frames median {result['gap_median_ms']:.0f} ms, p95 {result['gap_p95_ms']:.0f} ms")
    print(f"app readout at the end: {result['readout']}")
    cpu = result["cpu_ms_per_frame"]
    if process is not None:
        per_frame = cpu["server"] + cpu["browser"]
        print(f"CPU per delivered frame: server {cpu['server']:.0f} ms + browser {cpu['browser']:.0f} ms = {per_frame:.0f} ms; "
              f"two idle cores could feed about {2000 / per_frame:.1f} frames/s (the app's stream_every caps it too)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
