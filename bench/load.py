"""Load on one Gradio app: N concurrent API callers of `predict_image` and M concurrent webcam streams, all on 127.0.0.1.

    nice -n 19 .venv/bin/python -m bench.load [--callers 8] [--streams 4] [--transport webrtc] [--seconds 60]
                                              [--photo 2008_002506.jpg]
                                              [--url URL --pid PID] [--soak-minutes 30 --sample-every 60]

Starts `python app.py` on a free port (unless --url is given; give --pid too to get its RSS and open files), then for
--seconds at once:
- --callers threads, each a `gradio_client.Client` calling `/predict_image` with the same photo in a loop (each
  answer's annotated image is downloaded, as a client does), counting answers, errors (with their messages) and
  latency;
- --streams headless Chromium pages (one browser, one fake camera: the photo panned a pixel per frame), each on the
  webcam tab with its own stream (--transport webrtc, the tab's main view, or images, its fallback), counting the
  annotated frames each page shows.
It reports requests done, errors, p50/p95 latency, frames/s per stream, and the app's RSS, open file descriptors and
temp-dir files at start, middle and end, with the load average beside each figure. Bounded: the run stops after
--seconds (or --soak-minutes), callers stop with it, and every request goes to 127.0.0.1.

--soak-minutes M: a long run (not part of `make test`): the streams (usually --streams 1 --callers 0) run M minutes
and a sample (RSS, fds, temp files, frames/s over the last interval) is printed every --sample-every seconds; the
webcam stream's own limit (STREAM_TIME_LIMIT_S) ends it and the bench starts it again, as the app tells the user: Start
again in the same page (WebRTC; a new page for the image stream). A new page is a new Gradio session, which Gradio
keeps for an hour after its tab closes (its copy of the app's config, 6-7 MB here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.gradio_stream_fps import COUNT_FRAMES_JS, panning_camera
from tests.harness import free_port, launch_chromium, open_image_stream, start_server, start_webrtc, stop_server
from train.data import data_dir

STREAM_START_TIMEOUT_MS = 60_000
STALL_CHECK_S = 5  # a stream that delivered nothing for two checks in a row is started again


def load_average() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def process_stats(pid: int | None, temp_root: Path | None) -> dict:
    """RSS (MB, the app's process), open fds, and files in its temp dir, now."""
    stats: dict = {"load": load_average()}
    if pid is not None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    stats["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
                elif line.startswith(("RssAnon:", "RssFile:")):  # heap and buffers / pages of mapped libraries
                    stats[line.split(":")[0].lower().replace("rss", "rss_") + "_mb"] = round(int(line.split()[1]) / 1024, 1)
            stats["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            stats["rss_mb"] = stats["fds"] = None
    if temp_root is not None and temp_root.exists():  # os.walk ignores folders the app's cleaner removes meanwhile
        stats["temp_files"] = sum(len(files) for _, _, files in os.walk(temp_root))
    return stats


def app_temp_dir(pid: int | None) -> Path | None:
    if pid is None:
        return None
    found = list(Path(tempfile.gettempdir()).glob(f"facexp-gradio-{pid}-*"))
    return found[0] if found else None


class Callers:
    """`count` threads calling /predict_image in a loop until `stop` is set."""

    def __init__(self, url: str, photo: Path, count: int, stop: threading.Event, downloads: Path):
        self.url, self.photo, self.stop, self.downloads = url, photo, stop, downloads
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(count)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def run(self, index: int) -> None:
        from gradio_client import Client, handle_file

        try:
            client = Client(self.url, verbose=False, download_files=str(self.downloads / str(index)))
        except Exception as error:  # noqa: BLE001 (a bench counts every failure)
            with self.lock:
                self.errors.append(f"connect: {type(error).__name__}: {error}")
            return
        while not self.stop.is_set():
            start = time.perf_counter()
            try:
                annotated, *_ = client.predict(handle_file(str(self.photo)), api_name="/predict_image")
                if not Path(annotated).is_file() or Path(annotated).stat().st_size == 0:
                    raise RuntimeError(f"annotated image missing or empty: {annotated}")
                Path(annotated).unlink()
                with self.lock:
                    self.latencies.append(time.perf_counter() - start)
            except Exception as error:  # noqa: BLE001
                with self.lock:
                    self.errors.append(f"{type(error).__name__}: {str(error)[:200]}")

    def join(self, timeout: float) -> None:
        deadline = time.time() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.time()))


# WebRTC: the annotated <video>'s presented frames, only counted (window.__frames.length, as COUNT_FRAMES_JS for
# images); lighter than bench.gradio_stream_fps's logger, which reads the frame counter of every frame, for long soaks
TALLY_VIDEO_FRAMES_JS = """() => { window.__frames = {length: 0}; const video = document.getElementById('webrtc-video');
  const shown = () => { window.__frames.length++; video.requestVideoFrameCallback(shown); };
  video.requestVideoFrameCallback(shown); }"""


def start_stream(browser, url: str, transport: str):
    """A page streaming the fake camera: over WebRTC (the webcam tab's main view) or as images (its fallback)."""
    page = browser.new_page()
    page.goto(url)
    if transport == "webrtc":
        start_webrtc(page, STREAM_START_TIMEOUT_MS)
        page.evaluate(TALLY_VIDEO_FRAMES_JS)
    else:
        open_image_stream(page, STREAM_START_TIMEOUT_MS)
        page.wait_for_timeout(500)
        page.evaluate(COUNT_FRAMES_JS)
        page.locator('[aria-label="capture photo"]').first.click()
    page.wait_for_function("window.__frames.length > 0", timeout=STREAM_START_TIMEOUT_MS)
    return page


def restart_stream(browser, page, url: str, transport: str):
    """A stream its time limit ended, started again as the app tells the user ("click Start to go on"): Start again in
    the same page over WebRTC; a new page for the image stream (or where Start does not bring frames back)."""
    if transport == "webrtc":
        try:
            before = page.evaluate("window.__frames.length")
            start_webrtc(page, STREAM_START_TIMEOUT_MS)
            page.wait_for_function(f"window.__frames.length > {before}", timeout=STREAM_START_TIMEOUT_MS)
            return page
        except Exception:  # noqa: BLE001
            pass
    page.close()
    return start_stream(browser, url, transport)


def stop_stream(page, transport: str) -> None:
    if transport == "webrtc":
        page.click("#webrtc-stop", timeout=5000)
    else:
        page.locator('[aria-label="capture photo"]').first.click(timeout=5000)


def frame_counts(pages) -> list[int]:
    return [page.evaluate("window.__frames.length") for page in pages]


def percentile_ms(values, q) -> float:
    return round(float(np.percentile(values, q) * 1000)) if values else None


def run(args, url: str, pid: int | None, camera: Path, photo: Path, downloads: Path) -> dict:
    from playwright.sync_api import sync_playwright

    temp_root = app_temp_dir(pid)
    report = {"samples": []}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, camera) if args.streams else None
        report["samples"].append({"when": "start (idle)", "t_s": 0, **process_stats(pid, temp_root)})
        pages = [start_stream(browser, url, args.transport) for _ in range(args.streams)]
        stop = threading.Event()
        callers = Callers(url, photo, args.callers, stop, downloads)
        start = time.time()
        callers.start()
        duration = args.soak_minutes * 60 if args.soak_minutes else args.seconds
        every = args.sample_every if args.soak_minutes else duration / 2
        counts_before, last_t = frame_counts(pages), start
        last_counts, stalled, restarts, next_sample = list(counts_before), [0] * len(pages), 0, start + every
        delivered = [0] * len(pages)  # frames each stream delivered during the run (across restarts)
        while time.time() - start < duration - 0.5:
            time.sleep(max(0.1, min(STALL_CHECK_S, next_sample - time.time(), duration - (time.time() - start))))
            counts = frame_counts(pages)
            for i, page in enumerate(pages):  # a stream ended by its time limit is started again, as a user would
                delivered[i] += max(0, counts[i] - last_counts[i])
                stalled[i] = stalled[i] + 1 if counts[i] == last_counts[i] else 0
                if stalled[i] >= 2:
                    pages[i] = restart_stream(browser, page, url, args.transport)
                    counts[i] = counts_before[i] = frame_counts([pages[i]])[0]
                    stalled[i], restarts = 0, restarts + 1
            last_counts = counts
            now = time.time()
            if now < next_sample and now - start < duration - 0.5:
                continue
            fps = [round((c - b) / (now - last_t), 2) for c, b in zip(counts, counts_before)]
            sample = {"when": "middle" if now - start < duration - 1 else "end", "t_s": round(now - start),
                      **process_stats(pid, temp_root), "frames_per_s": fps, "stream_restarts": restarts,
                      "api_done": len(callers.latencies), "api_errors": len(callers.errors)}
            report["samples"].append(sample)
            print(json.dumps(sample), flush=True)
            counts_before, last_t, next_sample = counts, now, now + every
        elapsed = time.time() - start
        stop.set()
        for i, count in enumerate(frame_counts(pages)):
            delivered[i] += max(0, count - last_counts[i])
        report["stream_restarts"] = restarts
        for page in pages:  # stop streaming; closing the browser below ends a stream too, so a slow page is let go
            try:
                stop_stream(page, args.transport)
            except Exception:  # noqa: BLE001
                pass
        callers.join(120)
        if browser is not None:
            browser.close()
    time.sleep(2)
    report["samples"].append({"when": "after (idle)", **process_stats(pid, temp_root)})
    lat = callers.latencies
    report.update({
        "seconds": round(elapsed, 1), "callers": args.callers, "streams": args.streams, "transport": args.transport, "photo": photo.name,
        "api": {"done": len(lat), "errors": len(callers.errors), "per_s": round(len(lat) / elapsed, 2),
                "p50_ms": percentile_ms(lat, 50), "p95_ms": percentile_ms(lat, 95),
                "error_kinds": sorted({e[:120] for e in callers.errors})[:10]},
        "stream_frames_per_s": [round(n / elapsed, 2) for n in delivered],
    })
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, default=8, help="concurrent gradio_client callers of /predict_image")
    parser.add_argument("--streams", type=int, default=4, help="concurrent webcam streams (Chromium pages)")
    parser.add_argument("--transport", choices=["webrtc", "images"], default="webrtc",
                        help="how the streams send the camera: WebRTC (the webcam tab's main view) or images (its fallback)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--photo", default="2008_002506.jpg", help="media photo sent by the callers and played by the camera")
    parser.add_argument("--url", help="an app already running (default: start one)")
    parser.add_argument("--pid", type=int, help="with --url: the app's process id, for RSS and open files")
    parser.add_argument("--soak-minutes", type=float, help="a long run; samples every --sample-every seconds")
    parser.add_argument("--sample-every", type=float, default=60)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if not (0 <= args.callers <= 32 and 0 <= args.streams <= 8 and 0 < args.seconds <= 600):
        parser.error("bounded: --callers 0..32, --streams 0..8, --seconds up to 600")
    if args.soak_minutes is not None and not 0 < args.soak_minutes <= 120:
        parser.error("--soak-minutes: up to 120")

    photo = data_dir() / "media" / args.photo
    with tempfile.TemporaryDirectory(prefix="facexp-load-") as folder:
        folder = Path(folder)
        camera = panning_camera(photo, folder)
        process, url, pid = None, args.url, args.pid
        if url is None:
            port = free_port()
            process = start_server(["--port", str(port)], port, folder / "server.log")
            url, pid = f"http://127.0.0.1:{port}/", process.pid
        try:
            report = run(args, url, pid, camera, photo, folder)
        finally:
            if process is not None:
                stop_server(process)
                log = (folder / "server.log").read_text()
                report_errors = [line for line in log.splitlines() if "Traceback" in line or "ERROR" in line]
                if report_errors:
                    print(f"server log: {len(report_errors)} error lines, e.g. {report_errors[:3]}")
    report["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    api = report["api"]
    print(f"# {report['date']}, {report['machine']}: {args.callers} callers + {args.streams} {args.transport} streams, {report['seconds']} s, "
          f"photo {photo.name}; load average {report['samples'][-1]['load']} at the end")
    print(f"API: {api['done']} answers ({api['per_s']}/s), {api['errors']} errors, p50 {api['p50_ms']} ms, p95 {api['p95_ms']} ms")
    print(f"streams: frames/s per stream over the whole run {report['stream_frames_per_s']}, "
          f"restarted after their time limit: {report['stream_restarts']}")
    for sample in report["samples"]:
        print(f"  {sample['when']:>14}: RSS {sample.get('rss_mb')} MB (anon {sample.get('rss_anon_mb')}, "
              f"file {sample.get('rss_file_mb')}), fds {sample.get('fds')}, "
              f"temp files {sample.get('temp_files')}, frames/s {sample.get('frames_per_s', '')}, load {sample['load']}")
    return 0 if api["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
