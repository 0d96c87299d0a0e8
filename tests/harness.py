"""Helpers shared by the tests and the benchmarks (a plain module; pytest fixtures are in conftest.py): the data
photos and their face counts, a fake camera, a real headless Chromium, real servers started as subprocesses.

Import it as `tests.harness` (pytest and `python -m bench.NAME` both run from the repository root).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
WEB_MODELS = REPO / "web_static" / "models"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(message: str):
    """Skip with the reason, or fail under CI (where nothing the tests need may be missing)."""
    if in_ci():
        pytest.fail("CI=true: " + message)
    pytest.skip(message)


def require(path: Path, what: str) -> Path:
    """Skip (or fail under CI) when a data file or folder is missing."""
    if not path.exists():
        skip_or_fail(f"{what} not found at {path} (set FACEXP_DATA to the folder holding fer2013/, facemask/, media/)")
    return path


# Face counts listed in ../shared/data/media/README.md
MEDIA_FACES = {
    "obama.jpg": 1,
    "biden.jpg": 1,
    "two_people.jpg": 2,
    "obama_and_biden.jpg": 2,
    "happy.jpg": 1,
    "surprised.jpg": 1,
    "angry.jpg": 1,
    "sad.jpg": 1,
    "bbt1.jpg": 4,
    "2008_002506.jpg": 3,
}
# A photo's tiled search (core.detector.detect_tiled) also finds the girl in the shadow at the bottom right of
# obama_and_biden.jpg (a real face, 156 px, that the README's count leaves out).
MEDIA_FACES_PHOTO = MEDIA_FACES | {"obama_and_biden.jpg": 3}
COLLAGE_PHOTOS = ["happy.jpg", "sad.jpg", "angry.jpg", "surprised.jpg", "obama.jpg", "biden.jpg", "2008_002506.jpg",
                  "two_people.jpg"]


def media_collage(media_dir, cell=(300, 236), size=(2400, 1260)) -> np.ndarray:
    """COLLAGE_PHOTOS shrunk into cells of a large frame (4 x 2 at the top left): faces too small for the whole-frame
    pass of a 2400 px frame (sum(MEDIA_FACES[name]) faces)."""
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    for i, name in enumerate(COLLAGE_PHOTOS):
        small = scaled_to_fit(read_rgb(media_dir / name), cell)
        top, left = (i // 4) * cell[1], (i % 4) * cell[0]
        canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def scaled_to_fit(image: np.ndarray, cell: tuple[int, int]) -> np.ndarray:
    """The image scaled, keeping its shape, to fit a (width, height) cell."""
    scale = min(cell[0] / image.shape[1], cell[1] / image.shape[0])
    return cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)


# The footage collages of bench/photo_faces.py (stand-ins for issue 20's 24-face collage and 30-face 4K photo): the
# footage photos holding one labelled face (footage/photos_labels.csv), in a grid of cells, one face per cell.
FOOTAGE_COLLAGES = {"24": {"photos": 24, "columns": 6, "cell": (400, 315)},
                    "30": {"photos": 30, "columns": 6, "cell": (640, 432)}}


def footage_collage(footage_dir, name: str) -> np.ndarray:
    """FOOTAGE_COLLAGES[name]: its photos (the one-face footage photos in file order, repeated when too few), each
    scaled to fit its cell and centred on black, so that every face keeps its shape (until 2026-12-04 each photo was
    stretched over its cell, which made the 4K collage's faces half as wide again: BENCHMARKS.md)."""
    import csv

    layout = FOOTAGE_COLLAGES[name]
    with open(Path(footage_dir) / "photos_labels.csv", newline="") as handle:
        single = [Path(footage_dir) / row["file"] for row in csv.DictReader(handle) if row["faces"] == "1"]
    paths = (single * -(-layout["photos"] // len(single)))[: layout["photos"]]
    cells = [fitted_in_cell(read_rgb(path), layout["cell"]) for path in paths]
    columns = layout["columns"]
    return np.vstack([np.hstack(cells[i : i + columns]) for i in range(0, len(cells), columns)])


def fitted_in_cell(image: np.ndarray, cell: tuple[int, int]) -> np.ndarray:
    """The image scaled to fit a (width, height) cell, centred on black."""
    width, height = cell
    small = scaled_to_fit(image, cell)
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def cell_of(box, cell: tuple[int, int]) -> tuple[int, int]:
    """(column, row) of the collage cell holding a box's centre."""
    x, y, w, h = box
    return int((x + w / 2) // cell[0]), int((y + h / 2) // cell[1])


def cells_with_a_box(detections, cell: tuple[int, int]) -> tuple[int, int]:
    """(cells of a collage whose face got a box, boxes beyond one in a cell): each footage collage cell holds one face,
    so a second box in a cell is a duplicate or a false face, not a find."""
    cells = [cell_of(d.box, cell) for d in detections]
    return len(set(cells)), len(cells) - len(set(cells))


def read_rgb(path):
    image = cv2.imread(str(path))
    assert image is not None, f"cannot read {path}"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def run_coroutine(coroutine):
    """asyncio.run(coroutine) in a thread of its own: the session's sync Playwright keeps an event loop running in the
    main thread, where asyncio.run refuses to start."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# ---------------------------------------------------------------------------------------------------------------------
# Fake camera and browser
# ---------------------------------------------------------------------------------------------------------------------


def write_y4m(frames_rgb: list[np.ndarray], path: Path, fps: int = 15) -> Path:
    """Write RGB frames as a .y4m (YUV 4:2:0, BT.601) for Chromium's --use-file-for-fake-video-capture."""
    height, width = frames_rgb[0].shape[:2]
    width, height = width - width % 2, height - height % 2
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames_rgb:
            yuv = cv2.cvtColor(np.ascontiguousarray(frame[:height, :width]), cv2.COLOR_RGB2YUV_I420)
            handle.write(b"FRAME\n")
            handle.write(yuv.tobytes())
    return path


def rotate_about(image: np.ndarray, centre, degrees: float, border: int = cv2.BORDER_CONSTANT):
    """(the image turned by `degrees` about `centre` (x, y), bilinearly, the same size; the 2x3 matrix that maps its
    points): a tilted face for tests of what turns faces upright."""
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    turned = cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR, borderMode=border)
    return turned, matrix


def webcam_frame(image_path: Path, size=(640, 480)) -> np.ndarray:
    """The photo letterboxed (black bars) into an RGB frame of a webcam's size."""
    image = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    frame = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    frame[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return frame


def camera_file_from_image(image_path: Path, out_dir: Path, size=(640, 480), frames: int = 30) -> Path:
    """A looping fake-camera video: the photo letterboxed into a 640x480 frame, repeated."""
    return write_y4m([webcam_frame(image_path, size)] * frames, out_dir / (Path(image_path).stem + ".y4m"))


def launch_chromium(playwright, camera_file: Path | None = None, allow_camera: bool = True):
    """A real headless Debian Chromium; with a fake camera playing `camera_file` when given, whose permission prompt
    is accepted (or, with allow_camera=False, refused as a user who clicks "Block")."""
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    args = list(CHROMIUM_FLAGS)
    if camera_file is not None:
        args += ["--use-fake-ui-for-media-stream"] if allow_camera else []
        args += [
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera_file}",
        ]
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


class SharedBrowser:
    """A test's view of a Chromium shared by the tests of one process (`shared_chromium`): the contexts and pages it
    opens are its own (cookies, storage, permissions, downloads), and `close()` closes those, not the browser."""

    def __init__(self, browser):
        self.browser = browser
        self.contexts = []

    def new_context(self, **options):
        context = self.browser.new_context(**options)
        self.contexts.append(context)
        return context

    def new_page(self, **options):
        return self.new_context(**options).new_page()

    def close(self) -> None:
        while self.contexts:
            self.contexts.pop().close()


_SHARED_BROWSERS: dict[tuple, object] = {}


def shared_chromium(playwright, camera_file: Path | None = None, allow_camera: bool = True) -> SharedBrowser:
    """`launch_chromium`, launched once per fake-camera video (by content: the same photo written by two tests is one
    camera) and permission choice in this test process; closed with the session's Playwright (`close_shared_browsers`).
    A launch costs 0.6 s here."""
    digest = hashlib.sha1(Path(camera_file).read_bytes()).hexdigest() if camera_file is not None else None
    key = (digest, allow_camera)  # one Playwright per test process (conftest's playwright_instance)
    browser = _SHARED_BROWSERS.get(key)
    if browser is None or not browser.is_connected():
        browser = _SHARED_BROWSERS[key] = launch_chromium(playwright, camera_file, allow_camera)
    return SharedBrowser(browser)


def close_shared_browsers() -> None:
    while _SHARED_BROWSERS:
        _SHARED_BROWSERS.popitem()[1].close()


# The Gradio app's webcam tab, both transports (demo.gradio_app): WebRTC is the tab's main view, the image stream its
# fallback in a closed accordion.
SHOWN_PIXELS_JS = """(selector) => { const element = document.querySelector(selector);
  const canvas = document.createElement('canvas');
  canvas.width = element.videoWidth || element.naturalWidth; canvas.height = element.videoHeight || element.naturalHeight;
  canvas.getContext('2d').drawImage(element, 0, 0); return canvas.toDataURL('image/png'); }"""
WEBRTC_PLAYING_JS = "() => document.getElementById('webrtc-video').videoWidth > 0"


def start_webrtc(page, timeout_ms: int = 60_000, click: bool = True) -> None:
    """Click "Start camera" (unless already clicked) and wait until the annotated video plays (the connection is up,
    frames come back)."""
    if click:
        page.click("#webrtc-start")
    page.wait_for_function(WEBRTC_PLAYING_JS, timeout=timeout_ms)


def shown_pixels(page, selector: str = "#webrtc-video") -> np.ndarray:
    """What the page shows now in `selector` (the WebRTC <video>, or the image stream's <img>), as RGB pixels."""
    import base64

    png = np.frombuffer(base64.b64decode(page.evaluate(SHOWN_PIXELS_JS, selector).split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def open_image_stream(page, timeout_ms: int = 60_000) -> None:
    """Open the webcam tab's image-stream fallback and give it the camera (its record button starts the stream)."""
    page.get_by_text("No video? Stream as images").click()
    page.get_by_text("Click to Access Webcam").click()
    page.wait_for_selector('video[data-testid="webcam-video"]', timeout=timeout_ms)


# ---------------------------------------------------------------------------------------------------------------------
# Real servers
# ---------------------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.25)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


def start_server(args: list[str], port: int, log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """Start `python app.py ARGS` from the repository and wait until it listens on `port`."""
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, str(REPO / "app.py"), *args],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    try:
        wait_for_port(port, process)
    except Exception:
        process.kill()
        raise RuntimeError(f"server did not start; its log:\n{Path(log_path).read_text()[-3000:]}") from None
    return process


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


TINY_FER_ROWS = 320  # rows per split of the `tiny_csv` fixture (quick end-to-end training runs)


def train_command(csv, out, run_dir, epochs, *extra):
    """`python -m train.train` on a small CSV, batch 32, quiet, writing `out` and `run_dir`."""
    return [sys.executable, "-m", "train.train", "--task", "emotion", "--data", str(csv), "--epochs", str(epochs),
            "--batch-size", "32", "--out", str(out), "--run-dir", str(run_dir), "--quiet", *extra]


def wait_for(page, expression: str, timeout: float = 90.0):
    """Poll a JS expression (page.evaluate runs outside the page's CSP; wait_for_function would need eval)."""
    deadline = time.time() + timeout
    value = None
    while time.time() < deadline:
        value = page.evaluate(f"() => ({expression})")
        if value:
            return value
        time.sleep(0.2)
    state = page.evaluate("() => ({error: window.pageState && window.pageState.error, "
                          "status: document.getElementById('status').textContent, "
                          "message: document.getElementById('message').textContent})")
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {expression!r}; page state: {state}")


def collect_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on("console", lambda message: errors.append(f"console: {message.text}") if message.type == "error" else None)
    return errors


def open_ready_page(browser, url: str):
    """The in-browser page at `url` without its camera, once its models are loaded: (page, the page's errors so far
    and from now on)."""
    page = browser.new_page()
    errors = collect_errors(page)
    page.goto(url + "?camera=0")
    wait_for(page, "window.pageState && window.pageState.ready")
    return page, errors


def upload_to_page(page, photo) -> list[dict]:
    """Give the page's upload input one photo and wait for its analysis: the faces it labelled (CLI JSON shape)."""
    previous = page.evaluate("() => window.lastResult ? window.lastResult.frame : 0")
    page.set_input_files("#upload", str(photo))
    wait_for(page, f"window.lastResult && window.lastResult.frame > {previous}", timeout=60)
    return page.evaluate("() => window.lastResult.faces")


def litert_cpu_ms_per_call(content: bytes, batch: np.ndarray, runs: int = 200) -> float:
    """Median CPU time (of the calling thread, so a loaded machine changes it little) of one LiteRT call on `batch`,
    one interpreter thread as the app runs it, after 10 warm-up calls."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=1)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, batch.shape)
    interpreter.allocate_tensors()
    samples = []
    for i in range(runs + 10):
        start = time.thread_time()
        interpreter.set_tensor(index, batch)
        interpreter.invoke()
        if i >= 10:
            samples.append((time.thread_time() - start) * 1000)
    return float(np.median(samples))


# ---------------------------------------------------------------------------------------------------------------------
# Hostile inputs: files far larger decoded than on disk
# ---------------------------------------------------------------------------------------------------------------------


def huge_png(path: Path, width: int, height: int) -> Path:
    """A black 8-bit RGB PNG of width x height written row by row through zlib (never held in memory whole): a
    20000x20000 one is 1.2 MB on disk and 1.2 GB decoded, a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = bytes(1 + 3 * width)  # filter byte 0, then black pixels
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
        handle.write(chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return Path(path)


def synthetic_video(path: Path, width: int, height: int, frames: int, seconds_apart: float = 0.04) -> Path:
    """An H.264 MP4 (PyAV, libx264) of `frames` grey frames of width x height, `seconds_apart` between frames: a few
    frames of 7680x4320 make an 8K video in seconds; two frames far apart make a long one."""
    import fractions

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
        frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 128, np.uint8), format="rgb24")
        for index in range(frames):
            frame.pts = round(index * seconds_apart * 1000)
            frame.time_base = fractions.Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Path(path)


PEAK_RSS_LAUNCHER = """import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as handle:
    handle.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def run_with_peak_rss(command: list[str], cwd: Path = REPO, env: dict | None = None,
                      timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    """Run `command` (text output captured); also its peak resident memory in MB. A small launcher process starts it
    and reads its `ru_maxrss` (`os.wait4`): a child forked straight from a large process (pytest, a bench) would
    count that parent's memory in its own peak."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="facexp-rss-") as tmp:
        report = Path(tmp) / "peak_kb"
        result = subprocess.run([sys.executable, "-c", PEAK_RSS_LAUNCHER, str(report), *map(str, command)], cwd=cwd,
                                env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
        peak_mb = int(report.read_text()) / 1024 if report.is_file() else float("nan")
    return result, peak_mb
