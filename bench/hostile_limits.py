"""Memory and time of the Gradio app's refusals of files that are small on disk and huge decoded (refused from
their headers, before decoding).

    nice -n 19 .venv/bin/python -m bench.hostile_limits [--url URL --pid PID] [--repeat 3]

Starts `python app.py` on a free port (unless --url/--pid name one), makes the files in a temp folder (black RGB PNGs of
20000x20000 (1.2 MB; PIL's own bomb check refuses it too), 12000x12000 (144 MP, under PIL's check) and 10000x9900 (the
largest accepted, 99 MP), and a 0.7 MB 3-frame 7680x4320 Motion-JPEG video, with tests.harness), uploads each and calls
`predict_image` / `predict_video` with it, --repeat times. For each call: the app's peak RSS during the call
(VmHWM after resetting it through /proc/PID/clear_refs, so earlier peaks do not count), the RSS before, the time
from the call to its answer, and the answer. Also the same for an ordinary photo (media/two_people.jpg), for scale.
All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

from tests.harness import free_port, huge_png, start_server, stop_server, synthetic_video
from train.data import data_dir


def memory_mb(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: round(int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024, 1) for key in ("VmRSS", "VmHWM")}


def call(url: str, api_name: str, data: list) -> tuple[str, str]:
    """POST /gradio_api/call/<api_name>, then its event stream: (final event, its data, shortened)."""
    import httpx

    event_id = httpx.post(f"{url}/gradio_api/call/{api_name}", json={"data": data}, timeout=60).json()["event_id"]
    event = text = ""
    with httpx.stream("GET", f"{url}/gradio_api/call/{api_name}/{event_id}", timeout=600) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                text = line.split(":", 1)[1].strip()
    return event, text[:160]


def upload(url: str, path: Path) -> dict:
    import httpx

    with open(path, "rb") as handle:
        response = httpx.post(f"{url}/gradio_api/upload", files={"files": (path.name, handle)}, timeout=120)
    response.raise_for_status()
    return {"path": response.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def measure(url: str, pid: int, api_name: str, path: Path, rest: list, repeat: int) -> dict:
    file = upload(url, path)
    runs = []
    for _ in range(repeat):
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS now
        before = memory_mb(pid)["VmRSS"]
        start = time.perf_counter()
        event, text = call(url, api_name, [file, *rest])
        seconds = time.perf_counter() - start
        runs.append({"rss_before_mb": before, "peak_rss_mb": memory_mb(pid)["VmHWM"], "seconds": round(seconds, 3),
                     "event": event, "answer": text})
    return {"file": path.name, "size_mb": round(path.stat().st_size / 2**20, 2), "api": api_name,
            "peak_rss_mb_max": max(run["peak_rss_mb"] for run in runs),
            "seconds_max": max(run["seconds"] for run in runs), "runs": runs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an app already running (default: start one)")
    parser.add_argument("--pid", type=int, help="with --url: the app's process id")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hostile-limits-") as folder:
        folder = Path(folder)
        process = None
        if args.url:
            url, pid = args.url.rstrip("/"), args.pid
        else:
            port = free_port()
            process = start_server(["--port", str(port)], port, folder / "server.log")
            url, pid = f"http://127.0.0.1:{port}", process.pid
        try:
            cases = [
                ("predict_image", data_dir() / "media" / "two_people.jpg", []),
                ("predict_image", huge_png(folder / "huge_20000x20000.png", 20000, 20000), []),
                ("predict_image", huge_png(folder / "large_12000x12000.png", 12000, 12000), []),
                ("predict_image", huge_png(folder / "largest_accepted_10000x9900.png", 10000, 9900), []),
                ("predict_video", synthetic_video(folder / "video_7680x4320.mp4", 7680, 4320, 3), [True]),
            ]
            idle = memory_mb(pid)
            results = [measure(url, pid, api_name, path, rest, args.repeat) for api_name, path, rest in cases]
        finally:
            if process is not None:
                stop_server(process)
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "load": "/".join(f"{v:.1f}" for v in os.getloadavg()), "idle_rss_mb": idle["VmRSS"], "results": results}
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
