"""The expression network candidates side by side: size, multiply-adds and inference cost per face.

    .venv/bin/python -m bench.expression_candidates [--networks seed vggbn vggslim sepvgg sepvgg_wide] [--runs 300]

For each network of train/networks.py (fresh weights: the cost does not depend on their values): parameters,
multiply-adds per face, and the CPU time per face of the LiteRT interpreter (one thread, as the app runs it) with flip
test-time augmentation (two images per face) at batch 1 and batch 6, median of --runs calls. CPU time of the calling
thread, not wall time, so a loaded machine changes the figures little. Training speed: bench/train_speed.py;
accuracy: each run's TRAINING.md; in the browser: the export check (`python -m export --model DIR`).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from tests.harness import litert_cpu_ms_per_call


def litert_cpu_ms_per_face(model, faces: int, runs: int) -> float:
    from core.models import convert_to_tflite

    batch = np.random.default_rng(0).uniform(0, 255, size=(2 * faces, 48, 48, 1)).astype(np.float32)  # + flipped
    return litert_cpu_ms_per_call(convert_to_tflite(model), batch, runs) / faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="+", default=["seed", "vggbn", "vggslim", "sepvgg", "sepvgg_wide"])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()

    from train.networks import build_network, multiply_adds

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| network | parameters | multiply-adds per face | LiteRT CPU ms per face, flip TTA, batch 1 | batch 6 |")
    print("|---|---|---|---|---|")
    for name in args.networks:
        model = build_network(name, (48, 48, 1), 7)
        one, six = (litert_cpu_ms_per_face(model, faces, args.runs) for faces in (1, 6))
        print(f"| {name} | {model.count_params():,} | {multiply_adds(model) / 1e6:.1f} M | {one:.2f} | {six:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
