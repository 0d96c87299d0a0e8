"""Augmentation throughput in a tf.data map: the Keras preprocessing pipeline of `train.augment` with each task's
recipe, and optionally an older `train/augment.py` beside it, same faces, same settings, interleaved rounds.

    .venv/bin/python -m bench.augment_speed [--batches 60] [--rounds 5] [--baseline OLD_AUGMENT_PY]

    git show 14c104d:train/augment.py > /tmp/augment_14c104d.py   # the hand-written tf.data warp it replaced
    .venv/bin/python -m bench.augment_speed --baseline /tmp/augment_14c104d.py

Real faces, batch 64, num_parallel_calls=1 (as in training): FER2013 Training (48 px grey) for the expression recipe,
face-mask photos (64 px colour) for the mask recipe. Prints images/s per round and medians.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def load_baseline(path: Path):
    """An older train/augment.py as a module of its own (its `augment_batch(images, config)` and `AugmentConfig`)."""
    spec = importlib.util.spec_from_file_location("baseline_augment", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def task_faces(batches: int):
    """{task: uint8 faces} of the size and channels each task trains on."""
    import numpy as np

    from train.data import FER2013_CSV, data_dir, load_fer2013, read_image

    fer, _, _ = load_fer2013(data_dir() / FER2013_CSV, usage="Training")
    photos = sorted((data_dir() / "facemask").glob("*/*.jpg"))[: 64 * batches]
    return {"emotion": fer[: 64 * batches], "mask": np.stack([read_image(p, 64, 3) for p in photos])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="an older train/augment.py, measured beside the current one")
    args = parser.parse_args()

    import tensorflow as tf

    from train.augment import VALUE_RANGE, augmentation_pipeline
    from train.train import TASK_DEFAULTS

    faces = task_faces(args.batches)
    baseline = load_baseline(args.baseline) if args.baseline else None
    engines = {}
    for task, images in faces.items():
        config = TASK_DEFAULTS[task]["augment"]
        pipeline = augmentation_pipeline(config)
        engines[f"{task}: Keras pipeline (train.augment)"] = (
            images, lambda x, p=pipeline: tf.clip_by_value(p(tf.cast(x, tf.float32), training=True), *VALUE_RANGE))
        if baseline is not None:
            old_config = baseline.AugmentConfig(**dataclasses.asdict(config))
            engines[f"{task}: {args.baseline.name}"] = (images, lambda x, c=old_config: baseline.augment_batch(x, c))
    datasets = {name: tf.data.Dataset.from_tensor_slices(images).batch(64).map(fn, num_parallel_calls=1)
                for name, (images, fn) in engines.items()}
    for dataset in datasets.values():
        for _ in dataset.take(3):  # warm-up: tracing
            pass
    rates = {name: [] for name in datasets}
    for _ in range(args.rounds):
        for name, dataset in datasets.items():
            start = time.perf_counter()
            count = sum(int(batch.shape[0]) for batch in dataset)
            rates[name].append(count / (time.perf_counter() - start))
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores, TensorFlow {tf.__version__}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| recipe: augmentation | images/s (median of rounds) | rounds |")
    print("|---|---|---|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} |")


if __name__ == "__main__":
    main()
