"""In-browser speed of the page (web_static/) in headless Chromium with a fake camera, and the bytes it downloads.

    nice -n 19 .venv/bin/python -m bench.browser_fps [--photo PATH] [--seconds 20] [--camera-fps 30]
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

from tests.harness import CHROMIUM, CHROMIUM_FLAGS, camera_file_from_image, free_port, start_server, stop_server
from train.data import data_dir

REPO = Path(__file__).resolve().parent.parent


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
        query = f"?camera=1&threads={threads}" + ("&pipeline=0" if mode == "sequential" else "")
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
                    result = run_mode(playwright, f"http://127.0.0.1:{port}/", camera, mode.strip(), args.seconds, args.threads,
                                      server.pid)
                    results.append(result)
                    print(json.dumps(result), flush=True)
        finally:
            stop_server(server)
    print()
    print("| mode | frames/s | detect ms | classify ms | draw ms | total ms (grab to drawn) | faces | load avg | JS ns/op "
          "| CPU ms/frame: Chromium (page main, worker) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        m, c = r["median_ms"], r["cpu_ms_per_frame"]
        print(f"| {r['mode']} | {r['fps']:.1f} | {m.get('detect')} | {m.get('classify')} | {m.get('draw')} | {m.get('total')} "
              f"| {r['faces']} | {r['load_average'][0]:.1f} | {r['js_ns_per_multiply_add']} "
              f"| {c['chromium']} ({c['page main thread']}, {c['detector worker']}) |")
    if results:
        print(f"\nbytes downloaded on a cold load: {results[0]['bytes_total']:,} in {results[0]['files']} files: {results[0]['bytes']}")
    if args.json:
        args.json.write_text(json.dumps({"photo": str(args.photo), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
