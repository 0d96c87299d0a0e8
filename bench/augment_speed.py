"""Augmentation throughput in a tf.data map, side by side in one run: the hand-written warp (`augment_batch`) against
Keras's own preprocessing layers (`keras_augmenter`), same settings, interleaved rounds.

    .venv/bin/python -m bench.augment_speed [--batches 60] [--rounds 5]

Real FER2013 Training faces, batch 64, num_parallel_calls=1 (as in training). Prints images/s per round and medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import tensorflow as tf

    from train.augment import AugmentConfig, augment_batch, keras_augmenter
    from train.data import data_dir, load_fer2013

    images, _, _ = load_fer2013(data_dir() / "fer2013" / "fer2013_train_public.csv.gz", usage="Training")
    images = images[: 64 * args.batches]
    config = AugmentConfig()
    augmenter = keras_augmenter(config)
    engines = {
        "hand-written warp (augment_batch)": lambda x: augment_batch(x, config),
        "Keras layers (keras_augmenter)": lambda x: augmenter(tf.cast(x, tf.float32), training=True),
    }
    datasets = {name: tf.data.Dataset.from_tensor_slices(images).batch(64).map(fn, num_parallel_calls=1)
                for name, fn in engines.items()}
    for dataset in datasets.values():
        for _ in dataset.take(3):  # warm-up: tracing
            pass
    rates = {name: [] for name in datasets}
    for _ in range(args.rounds):
        for name, dataset in datasets.items():
            start = time.perf_counter()
            for _ in dataset:
                pass
            rates[name].append(len(images) / (time.perf_counter() - start))
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores, TensorFlow {tf.__version__}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| augmentation | images/s (median of rounds) | rounds |")
    print("|---|---|---|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} |")


if __name__ == "__main__":
    main()
