"""Fit the temperature of an existing model folder on its validation split, without retraining.

    python -m train.calibrate --model models/emotion            # FER2013 PublicTest (train.train's validation)
    python -m train.calibrate --model models/mask               # the grouped 15 % validation split of train.train
    python -m train.calibrate --model DIR --data PATH --json

Only metadata.json changes (written atomically): `temperature` and a `calibration` summary (split, ECE and NLL
before/after); the weights are untouched. `train.train` calls `fit_and_store` the same way after training.
A reliability diagram goes to --reliability-png (default: none; `train.evaluate` writes one beside the confusion
matrix). Re-export the web bundle afterwards (`python -m export --all`) so the browser applies the same T.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------------------------------

BATCH = 256
STORED_DIGITS = 4  # the temperature stored in metadata.json
# A split on which the model makes fewer errors than this cannot tell how over- or under-confident it is: the NLL
# keeps falling as T -> 0 (the mask model with 1 error in 522 got T = 0.06, every probability 100 %). T stays 1 there.
MIN_ERRORS_TO_FIT = 5

# ---------------------------------------------------------------------------------------------------------------------
# Fit and store
# ---------------------------------------------------------------------------------------------------------------------


def raw_probabilities(folder: Path, images: np.ndarray) -> np.ndarray:
    """The model's probabilities after its TTA, before any temperature."""
    from core.models import FaceClassifier

    classifier = FaceClassifier(folder)
    return np.concatenate([classifier.predict_proba(images[i : i + BATCH], calibrated=False)
                           for i in range(0, len(images), BATCH)])


def fit_and_store(folder: Path, images: np.ndarray, labels: np.ndarray, split: str) -> dict:
    """Fit T on (images, labels), write it into folder/metadata.json; returns the calibration report."""
    from core.files import write_atomically
    from core.model_folder import METADATA_FILE
    from train.calibration import calibration_report, fit_temperature

    folder = Path(folder)
    raw = raw_probabilities(folder, images)
    errors = int((raw.argmax(axis=1) != np.asarray(labels)).sum())
    fitted = errors >= MIN_ERRORS_TO_FIT
    temperature = round(fit_temperature(raw, labels), STORED_DIGITS) if fitted else 1.0
    report = calibration_report(raw, labels, temperature)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["temperature"] = temperature
    metadata["calibration"] = {
        "method": ("temperature scaling after TTA: softmax(log(p) / T), T minimising validation NLL" if fitted else
                   f"none: {errors} validation error(s), fewer than {MIN_ERRORS_TO_FIT}, cannot show how confident the "
                   "model should be (T = 1)"),
        "errors": errors,
        "split": split,
        "n": int(len(labels)),
        **{key: round(report[key], 5) for key in ("ece_uncalibrated", "ece", "nll_uncalibrated", "nll")},
        "ece_bins": report["bins"],
    }
    write_atomically(folder / METADATA_FILE, json.dumps(metadata, indent=2) + "\n")
    return report


def validation_split(task: str, data: Path | None, skip_bad_rows: bool, seed: int):
    """(images, labels, description) of train.train's validation split for `task`."""
    from train.data import VALIDATION_USAGE, data_dir, load_fer2013
    from train.mask_data import load_mask_data
    from train.train import TASK_DEFAULTS

    if task == "emotion":
        path = Path(data) if data else data_dir() / TASK_DEFAULTS["emotion"]["data"]
        images, labels, report = load_fer2013(path, usage=VALIDATION_USAGE, skip_bad_rows=skip_bad_rows)
        print(report.summary(), file=sys.stderr)
        return images, labels, f"FER2013 {VALIDATION_USAGE} ({path.name})"
    path = Path(data) if data else data_dir() / TASK_DEFAULTS["mask"]["data"]
    _, (images, labels), how = load_mask_data(path, TASK_DEFAULTS["mask"]["size"], seed, 0, skip_bad_rows)
    return images, labels, f"face-mask validation split: {how} ({Path(path).name})"


# ---------------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="model folder (model.json, model.weights.h5, metadata.json)")
    parser.add_argument("--data", type=Path, help="FER2013 CSV(.gz) / face-mask folder (default: under FACEXP_DATA)")
    parser.add_argument("--seed", type=int, default=1337, help="the mask validation split's seed (as in train.train)")
    parser.add_argument("--skip-bad-rows", action="store_true")
    parser.add_argument("--reliability-png", type=Path, help="also write the reliability diagram here")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object on stdout")
    args = parser.parse_args(argv)

    from core.model_folder import ModelFileError, load_keras_model
    from train.data import DataError

    try:
        _, metadata = load_keras_model(args.model)
        images, labels, split = validation_split(metadata["task"], args.data, args.skip_bad_rows, args.seed)
    except (DataError, ModelFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = fit_and_store(args.model, images, labels, split)
    if args.reliability_png:
        from train.calibration import plot_reliability

        plot_reliability(report, args.reliability_png, f"{metadata['task']}: {split}, n={len(labels)}")
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.model}: temperature {report['temperature']} on {split} (n={len(labels)}); "
              f"ECE {report['ece_uncalibrated']:.4f} -> {report['ece']:.4f}, NLL {report['nll_uncalibrated']:.4f} -> {report['nll']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
