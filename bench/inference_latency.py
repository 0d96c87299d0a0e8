"""Per-face inference latency of the shipped models, side by side in one run.

    .venv/bin/python -m bench.inference_latency [--runs 200] [--model models/emotion] [--model models/mask]
        [--batches 1 6 32]

For each batch size (faces per call; 6 is a crowded frame): `FaceClassifier.predict_proba` with its two backends
(the compiled tf.function, the default, and LiteRT, which the app's pipeline uses), both with the model's test-time
augmentation, against a plain eager `model(x)` call and `model.predict(x)` (never used per frame).
Prints median and p95 milliseconds per call and per face.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from core.model_folder import EMOTION_MODEL_DIR


def timed(fn, runs: int) -> tuple[float, float]:
    for _ in range(5):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return float(np.median(samples)), float(np.percentile(samples, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 6, 32])
    args = parser.parse_args()

    import tensorflow as tf

    from core.models import FaceClassifier

    print(f"# {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, TensorFlow {tf.__version__}")
    print("| model | batch | call | median ms/call | p95 ms/call | median ms/face |")
    print("|---|---|---|---|---|---|")
    for folder in args.model or [EMOTION_MODEL_DIR]:
        classifier = FaceClassifier(folder)
        litert = FaceClassifier(folder, backend="litert")
        shape = (classifier.size, classifier.size, classifier.channels)
        tta = " (+flip TTA)" if classifier.tta else ""
        for batch in args.batches:
            faces = np.random.default_rng(0).integers(0, 256, size=(batch, *shape)).astype(np.float32)
            calls = {
                f"predict_proba{tta}, tf.function": lambda: classifier.predict_proba(faces),
                f"predict_proba{tta}, LiteRT": lambda: litert.predict_proba(faces),
                "model(x) eager": lambda: classifier.model(faces, training=False).numpy(),
                "model.predict(x)": lambda: classifier.model.predict(faces, verbose=0),
            }
            for name, fn in calls.items():
                runs = args.runs if "predict(" not in name else max(20, args.runs // 10)
                median, p95 = timed(fn, runs)
                print(f"| {Path(folder).name} | {batch} | `{name}` | {median:.2f} | {p95:.2f} | {median / batch:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
