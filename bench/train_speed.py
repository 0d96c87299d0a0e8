"""Training throughput of the networks, side by side in one run: images/s and seconds per FER2013 epoch.

    .venv/bin/python -m bench.train_speed [--networks seed vggbn] [--steps 30] [--repeats 3] [--baseline OLD_AUGMENT_PY]

Real FER2013 Training images through the real tf.data augmentation pipeline, batch 64, the training optimizer and
loss (as train.train compiles them). Reports the median of --repeats timed runs of --steps steps, after a warm-up; the rounds are interleaved across the
rows. `--baseline OLD_AUGMENT_PY` trains each network also on an older train/augment.py's tf.data pipeline (see
bench/augment_speed.py), beside the current one.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

FER_TRAINING_ROWS = 28709


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="+", default=["seed", "vggbn"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--baseline", type=Path, help="an older train/augment.py, trained on beside the current one")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from bench.augment_speed import load_baseline
    from train import augment
    from train.data import FER2013_CSV, data_dir, load_fer2013
    from train.networks import build_network

    images, labels, _ = load_fer2013(data_dir() / FER2013_CSV, usage="Training")
    n = args.batch_size * args.steps * 2
    modules = {"Keras pipeline (train.augment)": augment}
    if args.baseline:
        modules[args.baseline.name] = load_baseline(args.baseline)
    datasets = {name: module.training_dataset(images[:n], keras.utils.to_categorical(labels[:n], 7), args.batch_size, 0)
                .repeat() for name, module in modules.items()}

    print(f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}, batch {args.batch_size}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| network | augmentation | parameters | images/s (median) | s per FER2013 epoch |")
    print("|---|---|---|---|---|")
    runs = {}
    for name in args.networks:
        for engine, dataset in datasets.items():
            model = build_network(name, (48, 48, 1), 7)
            model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4),
                          loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1), metrics=["accuracy"])
            model.fit(dataset, steps_per_epoch=5, epochs=1, verbose=0)  # warm-up: tracing, allocation
            runs[name, engine] = (model, dataset, [])
    for _ in range(args.repeats):  # rounds interleaved, so a change in the machine's load hits every row alike
        for model, dataset, rates in runs.values():
            start = time.perf_counter()
            model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0)
            rates.append(args.steps * args.batch_size / (time.perf_counter() - start))
    for (name, engine), (model, _, rates) in runs.items():
        rate = statistics.median(rates)
        print(f"| {name} | {engine} | {model.count_params():,} | {rate:.0f} | {FER_TRAINING_ROWS / rate:.0f} |")

if __name__ == "__main__":
    main()
