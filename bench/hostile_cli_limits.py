"""Peak memory and time of `app.py predict` on inputs that are small on disk and huge decoded (refused from their headers): a 1.2 MB PNG
of 20000x20000 and a short 8K (7680x4320) H.264 video, beside a normal photo for reference, for one or more checkouts
side by side (runs interleaved, so a changing load hits all of them alike).

    nice -n 19 .venv/bin/python -m bench.hostile_cli_limits [--roots . /tmp/before] [--repeats 3]

Each root is a checkout with its own `app.py` and `models/`, run with this interpreter. The inputs are made here, in a
temporary folder (nothing is committed). Peak RSS is the command's own (`tests.harness.run_with_peak_rss`), wall
time the whole run (model loading included; the reference photo shows that part). Where a root has `core/input_limits.py`, the header checks
alone are timed as well, in a fresh process each (their own peak RSS).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.harness import huge_png, run_with_peak_rss, synthetic_video
from train.data import data_dir

PNG_SIDE = 20_000
VIDEO_SIZE = (7680, 4320)
VIDEO_FRAMES = 5
RUN_TIMEOUT_S = 600


def load_average() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def measure(command: list[str], cwd: Path) -> dict:
    """Wall seconds, the command's peak RSS (MB), its exit status and the last line of its stderr."""
    start = time.perf_counter()
    result, peak_mb = run_with_peak_rss(command, cwd=cwd, env={"TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=RUN_TIMEOUT_S)
    elapsed = time.perf_counter() - start
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return {"seconds": elapsed, "rss_mb": peak_mb, "rc": result.returncode, "last": lines[-1][:160] if lines else ""}


HEADER_CHECK = """
import sys, time
from core.input_limits import check_image_header, check_video_header
check = check_video_header if sys.argv[1].endswith(".mp4") else check_image_header
start = time.perf_counter()
try:
    check(sys.argv[1])
    print("accepted", end="")
except ValueError as error:
    print(f"refused: {error}", end="")
print(f" in {(time.perf_counter() - start) * 1000:.1f} ms", file=sys.stderr)
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roots", nargs="+", type=Path, default=[Path(".")])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="facexp-hostile-") as tmp:
        tmp = Path(tmp)
        inputs = {
            "photo (reference)": data_dir() / "media" / "happy.jpg",
            f"PNG {PNG_SIDE}x{PNG_SIDE}": huge_png(tmp / "huge.png", PNG_SIDE, PNG_SIDE),
            f"8K video ({VIDEO_FRAMES} frames)": synthetic_video(tmp / "8k.mp4", *VIDEO_SIZE, VIDEO_FRAMES),
        }
        for name, path in inputs.items():
            print(f"# {name}: {path.name}, {path.stat().st_size / 1e6:.2f} MB on disk")
        results: dict[tuple, list[dict]] = {}
        for repeat in range(args.repeats):
            for name, path in inputs.items():
                for root in args.roots:
                    cli = measure([sys.executable, "app.py", "predict", str(path), "--json"], root)
                    results.setdefault((str(root), name, "app.py predict"), []).append(cli)
                    print(f"{repeat} {root} {name} predict: {cli['seconds']:.2f} s, {cli['rss_mb']:.0f} MB, rc {cli['rc']}, "
                          f"load {load_average()}; {cli['last']}", flush=True)
                    if (root / "core" / "input_limits.py").is_file() and "reference" not in name:
                        check = measure([sys.executable, "-c", HEADER_CHECK, str(path)], root)
                        results.setdefault((str(root), name, "header check alone"), []).append(check)
                        print(f"{repeat} {root} {name} header check: {check['seconds']:.2f} s (process), "
                              f"{check['rss_mb']:.0f} MB; {check['last']}", flush=True)
        print("\n| root | input | command | wall s (min/median/max) | peak RSS MB (max) | rc |")
        print("|---|---|---|---|---|---|")
        for (root, name, what), runs in results.items():
            seconds = sorted(r["seconds"] for r in runs)
            print(f"| {root} | {name} | {what} | {seconds[0]:.2f} / {statistics.median(seconds):.2f} / {seconds[-1]:.2f} "
                  f"| {max(r['rss_mb'] for r in runs):.0f} | {sorted({r['rc'] for r in runs})} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
