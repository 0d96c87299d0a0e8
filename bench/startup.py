"""Start-up time of `app.py predict IMAGE` (whole run, one photo) and of `app.py` (until its page answers), for one or
more checkouts side by side (runs interleaved, so a changing load hits all of them alike).

    nice -n 19 .venv/bin/python -m bench.startup [--roots . /tmp/before] [--repeats 3] [--photo 2008_002506.jpg]

Each root is a checkout with its own `app.py` and `models/`, run with this interpreter. Prints each run's seconds
with the load average at that moment, then min/median/max per root and command.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.harness import free_port
from train.data import data_dir

SERVER_TIMEOUT_S = 300


def load_average() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def time_predict(root: Path, photo: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "app.py", "predict", str(photo)], cwd=root, capture_output=True, text=True,
                            timeout=SERVER_TIMEOUT_S)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{root}: app.py predict failed:\n{result.stderr[-2000:]}")
    return elapsed


def time_server(root: Path) -> float:
    """Seconds from `python app.py --port P` until GET / answers 200."""
    port = free_port()
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < SERVER_TIMEOUT_S:
            if process.poll() is not None:
                raise RuntimeError(f"{root}: app.py exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{root}: app.py did not answer within {SERVER_TIMEOUT_S} s")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roots", nargs="+", type=Path, default=[Path(".")], help="checkouts to time side by side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--photo", default="2008_002506.jpg", help="media photo for app.py predict")
    args = parser.parse_args(argv)
    photo = (data_dir() / "media" / args.photo).resolve()
    roots = [root.resolve() for root in args.roots]
    times: dict[tuple[Path, str], list[float]] = {}
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, photo {photo.name}")
    for repeat in range(args.repeats):
        for root in roots:
            for name, run in (("predict", lambda: time_predict(root, photo)), ("server", lambda: time_server(root))):
                load = load_average()
                seconds = run()
                times.setdefault((root, name), []).append(seconds)
                print(f"run {repeat + 1} {root} app.py {name}: {seconds:.2f} s (load {load} before, {load_average()} after)",
                      flush=True)
    for (root, name), values in times.items():
        print(f"{root} app.py {name}: min {min(values):.2f} s, median {statistics.median(values):.2f} s, "
              f"max {max(values):.2f} s over {len(values)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
