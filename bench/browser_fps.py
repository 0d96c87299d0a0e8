"""In-browser speed of the page (web_static/) in headless Chromium with a fake camera, and the bytes it downloads.

    nice -n 19 .venv/bin/python -m bench.browser_fps [--photo PATH] [--six-faces] [--seconds 20] [--camera-fps 30]
        [--modes pipelined,sequential] [--threads N] [--no-isolation] [--page NAME=REPO_ROOT ...] [--rounds N]
        [--json OUT]

Starts `python app.py web` on a free port (for each --page, from that checkout: e.g. an older commit's worktree, to
compare pages side by side in one run; default: this checkout), plays the photo (letterboxed into 640x480) as a
looping 30 frames/s camera (--six-faces: also a 640x480 grid of SIX_FACE_PHOTOS, six faces in view), waits for the models and the first frames, then for --seconds counts the analysed frames (frames/s) and reads
the page's per-stage medians (detect = BlazeFace in the worker, classify = crops + expression/mask networks on the
backend the page measured, draw, grab to shown). Modes: "pipelined" (the page's default: the worker detects frame N+1
while the page classifies frame N) and "sequential" (?pipeline=0). Bytes: every response body the page and its
worker received on a cold load (Playwright's request sizes), by kind.

The machine is shared (training runs beside it): the load average and a CPU calibration (ns per multiply-add of a
fixed JS loop in the page, about 1 on an idle core) are printed with the results; compare runs only at similar values.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from tests.harness import CHROMIUM, CHROMIUM_FLAGS, camera_file_from_image, free_port, stop_server, wait_for_port
from train.data import data_dir

REPO = Path(__file__).resolve().parent.parent
# media/ photos of one face each, the last one mirrored (biden.jpg's face is too small in a cell for the detector)
SIX_FACE_PHOTOS = ("angry.jpg", "happy.jpg", "obama.jpg", "sad.jpg", "surprised.jpg", "happy.jpg")


TICK = os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU time (user + system) so far of this run's Chromium processes, by thread role, and of the web server."""
    totals = {"chromium": 0.0, "page main thread": 0.0, "detector worker": 0.0, "server": 0.0}
    for pid in descendants(os.getpid()):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        is_chromium = b"chromium" in cmdline
        if not is_chromium and pid != server_pid:
            continue
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / TICK
            if pid == server_pid:
                totals["server"] += seconds
                continue
            totals["chromium"] += seconds
            page_renderer = b"--type=renderer" in cmdline and b"webui" not in cmdline
            if page_renderer and tid == str(pid):
                totals["page main thread"] += seconds
            elif page_renderer and name.startswith("DedicatedWorker"):
                totals["detector worker"] += seconds
    return totals


def kind_of(url: str) -> str:
    path = url.split("?")[0]
    if "/vendor/" in path:
        return "vendor wasm" if path.endswith(".wasm") else "vendor js"
    if "/models/" in path:
        return "models"
    return "page (html/js/css)"


def poll(page, expression: str, timeout: float):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = page.evaluate(f"() => ({expression})")
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"{expression} not true after {timeout} s; page error: {page.evaluate('() => window.pageState && window.pageState.error')}")


def six_face_photo(out: Path) -> Path:
    """SIX_FACE_PHOTOS in a 3 x 2 grid of a 640 x 480 frame (each shrunk into its cell; six faces), saved as PNG."""
    cell_w, cell_h = 640 // 3, 480 // 2
    canvas = np.zeros((480, 640, 3), np.uint8)
    for i, name in enumerate(SIX_FACE_PHOTOS):
        image = cv2.imread(str(data_dir() / "media" / name))
        if name in SIX_FACE_PHOTOS[:i]:
            image = image[:, ::-1]
        scale = min(cell_w / image.shape[1], cell_h / image.shape[0])
        small = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        top, left = (i // 3) * cell_h, (i % 3) * cell_w
        canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    path = out / "six_faces.png"
    cv2.imwrite(str(path), canvas)
    return path


def start_page_server(root: Path, port: int, isolation: bool, log_path: Path) -> subprocess.Popen:
    """`python app.py web` of the checkout at `root` (its own web_static/ and node_modules/), on 127.0.0.1:port."""
    args = [sys.executable, str(root / "app.py"), "web", "--port", str(port), "--quiet"] + ([] if isolation else ["--no-isolation"])
    process = subprocess.Popen(args, cwd=root, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return process


def run_mode(playwright, url: str, camera: Path, mode: str, seconds: float, threads: int, server_pid: int) -> dict:
    args = CHROMIUM_FLAGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                             f"--use-file-for-fake-video-capture={camera}"]
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    try:
        context = browser.new_context()
        downloads: dict[str, int] = {}
        files: dict[str, int] = {}

        def finished(request):
            try:
                size = request.sizes()["responseBodySize"]
            except Exception:
                return
            files[request.url] = size
            downloads[kind_of(request.url)] = downloads.get(kind_of(request.url), 0) + size

        context.on("requestfinished", finished)
        page = context.new_page()
        query = "?" + "&".join(["camera=1"] + ([f"threads={threads}"] if threads else [])
                               + (["pipeline=0"] if mode == "sequential" else []))
        start = time.time()
        page.goto(url + query)
        poll(page, "window.pageState && window.pageState.ready", 180)
        ready_s = time.time() - start
        poll(page, "window.lastResult && window.lastResult.frame >= 10", 180)
        first_frames_s = time.time() - start
        frames0, t0, cpu0 = page.evaluate("() => window.pageState.frame"), time.time(), cpu_seconds(server_pid)
        samples = []
        while time.time() - t0 < seconds:
            time.sleep(1.0)
            samples.append(page.evaluate("() => window.pageState.stats().fps"))
        frames1, t1, cpu1 = page.evaluate("() => window.pageState.frame"), time.time(), cpu_seconds(server_pid)
        frames = max(1, frames1 - frames0)
        cpu_ms = {k: round((cpu1[k] - cpu0[k]) * 1000 / frames, 1) for k in cpu0}
        stats = page.evaluate("() => window.pageState.stats()")
        # how much CPU the page got: a fixed JS loop (about 1 ns per multiply-add on an idle core of this machine)
        calibration = page.evaluate("""() => {
            const a = new Float64Array(1e6).fill(1.5); let acc = 0; const t = performance.now();
            for (let r = 0; r < 20; r++) for (let i = 0; i < a.length; i++) acc += a[i] * 0.5;
            return (performance.now() - t) / 20 / 1e6 * 1e6 + (acc < 0 ? 1 : 0);
        }""")
        result = page.evaluate("() => window.lastResult")
        return {
            "mode": mode,
            "fps": round((frames1 - frames0) / (t1 - t0), 2),
            "fps_median_1s": statistics.median(samples) if samples else None,
            "cpu_ms_per_frame": cpu_ms,
            "median_ms": {k: round(v, 1) for k, v in (stats["median_ms"] or {}).items()},
            "faces": len(result["faces"]),
            "backend": stats["backend"],
            "detector_backend": stats.get("detector_backend"),
            "cross_origin_isolated": stats["cross_origin_isolated"],
            "ready_s": round(ready_s, 1),
            "first_10_frames_s": round(first_frames_s, 1),
            "bytes": dict(sorted(downloads.items())),
            "bytes_total": sum(downloads.values()),
            "files": len(files),
            "load_average": os.getloadavg(),
            "js_ns_per_multiply_add": round(calibration, 2),
        }
    finally:
        browser.close()


def grab_to_shown(medians: dict) -> float | None:
    """The median time from a frame's grabbing to its annotated canvas: the page's `shown` (its `total` is the
    analysis alone, as in core/pipeline.py); pages before that change called it `total`."""
    return medians.get("shown") if medians.get("shown") is not None else medians.get("total")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path, default=data_dir() / "media" / "happy.jpg", help="one-face photo for the camera")
    parser.add_argument("--six-faces", action="store_true", help="also run with six faces in view (SIX_FACE_PHOTOS)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--camera-fps", type=int, default=30)
    parser.add_argument("--modes", default="pipelined,sequential")
    parser.add_argument("--threads", type=int, help="detector worker threads (?threads=N; default: the page's choice)")
    parser.add_argument("--no-isolation", action="store_true", help="serve without COOP/COEP")
    parser.add_argument("--page", action="append", metavar="NAME=REPO_ROOT",
                        help="a checkout whose page to measure (repeatable; default: this one)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every page this many times, the pages taking turns (the machine's load varies)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not args.photo.is_file():
        parser.error(f"{args.photo}: no such photo")
    pages = []
    for spec in args.page or [f"this={REPO}"]:
        name, _, root = spec.partition("=")
        if not (Path(root) / "app.py").is_file():
            parser.error(f"--page {spec}: no app.py in {root}")
        pages.append((name, Path(root).resolve()))

    from playwright.sync_api import sync_playwright

    results = []
    with tempfile.TemporaryDirectory(prefix="facexp-bench-") as tmp:
        photos = [("1 face", args.photo)] + ([("6 faces", six_face_photo(Path(tmp)))] if args.six_faces else [])
        cameras = []
        for label, photo in photos:
            folder = Path(tmp) / label.replace(" ", "_")
            folder.mkdir()
            camera = camera_file_from_image(photo, folder, frames=args.camera_fps * 2)
            camera.write_bytes(camera.read_bytes().replace(b" F15:1 ", f" F{args.camera_fps}:1 ".encode(), 1))
            cameras.append((label, camera))
        with sync_playwright() as playwright:
            for round_number, (page_name, root) in ((r, page) for r in range(1, args.rounds + 1) for page in pages):
                port = free_port()
                server = start_page_server(root, port, not args.no_isolation, Path(tmp) / f"server-{page_name}.log")
                try:
                    for label, camera in cameras:
                        for mode in args.modes.split(","):
                            result = run_mode(playwright, f"http://127.0.0.1:{port}/", camera, mode.strip(), args.seconds,
                                              args.threads, server.pid)
                            result = {"page": page_name, "round": round_number, "camera": label, **result}
                            results.append(result)
                            print(json.dumps(result), flush=True)
                finally:
                    stop_server(server)
    print()
    print("| page | round | camera | mode | frames/s | detect ms | classify ms | draw ms | grab to shown ms | faces "
          "| backend (page / detector) | load avg | JS ns/op | CPU ms/frame: Chromium (page main, worker) | cold bytes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        m, c = r["median_ms"], r["cpu_ms_per_frame"]
        print(f"| {r['page']} | {r['round']} | {r['camera']} | {r['mode']} | {r['fps']:.1f} | {m.get('detect')} | {m.get('classify')} "
              f"| {m.get('draw')} | {grab_to_shown(m)} | {r['faces']} | {r['backend']} / {r.get('detector_backend') or 'tflite'} "
              f"| {r['load_average'][0]:.1f} | {r['js_ns_per_multiply_add']} "
              f"| {c['chromium']} ({c['page main thread']}, {c['detector worker']}) | {r['bytes_total']:,} |")
    for r in results:
        if r["camera"] == photos[0][0] and r["mode"] == results[0]["mode"] and r["round"] == 1:
            print(f"\n{r['page']}: bytes downloaded on a cold load: {r['bytes_total']:,} in {r['files']} files: {r['bytes']}")
    if args.json:
        args.json.write_text(json.dumps({"photo": str(args.photo), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
