"""In-browser speed of the page (web_static/) in headless Chromium with a fake camera, and the bytes it downloads.

    nice -n 19 .venv/bin/python bench/browser_fps.py [--photo PATH] [--seconds 20] [--camera-fps 30]
        [--modes pipelined,sequential] [--threads 1] [--no-isolation] [--json OUT]

Starts `python app.py web` on a free port, plays the photo (letterboxed into 640x480) as a looping 30 frames/s
camera, waits for the models and the first frames, then for --seconds counts the analysed frames (frames/s) and reads
the page's per-stage medians (detect = BlazeFace in the worker, classify = crops + expression/mask networks on the
wasm backend, draw, total = grab to drawn). Modes: "pipelined" (the page's default: the worker detects frame N+1
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
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from conftest import CHROMIUM, CHROMIUM_FLAGS, camera_file_from_image, free_port, start_server, stop_server  # noqa: E402
from train.data import data_dir  # noqa: E402


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


def run_mode(playwright, url: str, camera: Path, mode: str, seconds: float, threads: int) -> dict:
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
        query = f"?threads={threads}" + ("&pipeline=0" if mode == "sequential" else "")
        start = time.time()
        page.goto(url + query)
        poll(page, "window.pageState && window.pageState.ready", 180)
        ready_s = time.time() - start
        poll(page, "window.lastResult && window.lastResult.frame >= 10", 180)
        first_frames_s = time.time() - start
        frames0, t0 = page.evaluate("() => window.pageState.frame"), time.time()
        samples = []
        while time.time() - t0 < seconds:
            time.sleep(1.0)
            samples.append(page.evaluate("() => window.pageState.stats().fps"))
        frames1, t1 = page.evaluate("() => window.pageState.frame"), time.time()
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
            "median_ms": {k: round(v, 1) for k, v in (stats["median_ms"] or {}).items()},
            "faces": len(result["faces"]),
            "backend": stats["backend"],
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path, default=data_dir() / "media" / "happy.jpg", help="one-face photo for the camera")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--camera-fps", type=int, default=30)
    parser.add_argument("--modes", default="pipelined,sequential")
    parser.add_argument("--threads", type=int, default=1, help="tflite threads in the detector worker")
    parser.add_argument("--no-isolation", action="store_true", help="serve without COOP/COEP")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not args.photo.is_file():
        parser.error(f"{args.photo}: no such photo")

    from playwright.sync_api import sync_playwright

    import cv2  # noqa: F401  (conftest's camera writer needs it)
    from conftest import write_y4m  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="facexp-bench-") as tmp:
        camera = camera_file_from_image(args.photo, Path(tmp), frames=args.camera_fps * 2)
        text = camera.read_bytes().replace(b" F15:1 ", f" F{args.camera_fps}:1 ".encode(), 1)
        camera.write_bytes(text)
        port = free_port()
        server_args = ["web", "--port", str(port), "--quiet"] + (["--no-isolation"] if args.no_isolation else [])
        server = start_server(server_args, port, Path(tmp) / "server.log")
        results = []
        try:
            with sync_playwright() as playwright:
                for mode in args.modes.split(","):
                    result = run_mode(playwright, f"http://127.0.0.1:{port}/", camera, mode.strip(), args.seconds, args.threads)
                    results.append(result)
                    print(json.dumps(result), flush=True)
        finally:
            stop_server(server)
    print()
    print("| mode | frames/s | detect ms | classify ms | draw ms | total ms (grab to drawn) | faces | load avg | JS ns/op |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        m = r["median_ms"]
        print(f"| {r['mode']} | {r['fps']:.1f} | {m.get('detect')} | {m.get('classify')} | {m.get('draw')} | {m.get('total')} "
              f"| {r['faces']} | {r['load_average'][0]:.1f} | {r['js_ns_per_multiply_add']} |")
    if results:
        print(f"\nbytes downloaded on a cold load: {results[0]['bytes_total']:,} in {results[0]['files']} files: {results[0]['bytes']}")
    if args.json:
        args.json.write_text(json.dumps({"photo": str(args.photo), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
