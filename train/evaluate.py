"""Evaluate a model folder on labelled data.

    python -m train.evaluate --task emotion --model models/emotion --data PATH [--usage NAME] --json
    python -m train.evaluate --task mask --model models/mask --data DIR --json

PATH is a FER2013 CSV(.gz) or folder; DIR holds with_mask/ and without_mask/ photos (each cropped around its largest
face as the apps crop it, or whole where no face is found: `mask_crops`).
With --json exactly one JSON object goes to stdout (logs to stderr):
{"task", "model", "n", "accuracy", "macro_f1", "per_class": {label: {precision, recall, f1, support}},
 "confusion": [[...]] (rows: true label, columns: predicted), "labels", "tta", "temperature", "ece",
 "calibration": {temperature, ece_uncalibrated, ece, nll_uncalibrated, nll, reliability bins} (train/calibration.py)}.
Without --json: a readable report, a confusion-matrix PNG (--confusion-png, default
runs/evaluate/<model folder name>-confusion.png: never inside the tracked model folder unless asked) and, beside it,
the reliability diagram (reliability.png, or <model folder name>-reliability.png by default: accuracy per confidence
bin, before and after the temperature).
The model's test-time augmentation (metadata "tta") and temperature (metadata "temperature", absent = 1) are applied,
and the JSON says which. Fit a temperature with `python -m train.calibrate`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from core.files import save_figure

BATCH = 256
CONFUSION_PNG = "confusion.png"  # the name a model folder's confusion matrix gets (--confusion-png FOLDER/confusion.png)
RELIABILITY_PNG = "reliability.png"  # written beside the confusion matrix
MODEL_FOLDER_FIGURES = (CONFUSION_PNG, RELIABILITY_PNG)  # removed by train.train when it rewrites the folder


def metrics_from_predictions(y_true: np.ndarray, y_pred: np.ndarray, labels) -> dict:
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class = {}
    for i, label in enumerate(labels):
        tp = confusion[i, i]
        predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(actual)}
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(np.mean([m["f1"] for m in per_class.values()])),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "labels": list(labels),
    }


def mask_crops(paths, whole_images: np.ndarray, size: int) -> np.ndarray:
    """The face-mask photos as the mask model was trained on them and as the apps see faces: each cropped around its
    largest detected face (train/mask_data.py), or whole where no face is found."""
    from core.detector import FaceDetector
    from train.mask_data import app_crops

    detector = FaceDetector()
    return np.stack([crop for _, _, _, crop in app_crops(paths, whole_images, size, detector)])


def evaluate_arrays(model_dir, images: np.ndarray, labels: np.ndarray) -> dict:
    from core.models import FaceClassifier, apply_temperature
    from train.calibration import calibration_report

    classifier = FaceClassifier(model_dir)
    raw = np.concatenate(
        [classifier.predict_proba(images[i : i + BATCH], calibrated=False) for i in range(0, len(images), BATCH)]
    )
    probabilities = apply_temperature(raw, classifier.temperature)
    result = metrics_from_predictions(labels, probabilities.argmax(axis=1), classifier.labels)
    result["tta"] = list(classifier.tta)
    result["temperature"] = classifier.temperature
    result["calibration"] = calibration_report(raw, labels, classifier.temperature)
    result["ece"] = result["calibration"]["ece"]
    result["task"] = classifier.metadata["task"]
    result["model"] = str(model_dir)
    return result


def plot_confusion(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.array(result["confusion"], dtype=np.float64)
    normalised = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    labels = result["labels"]
    fig, axis = plt.subplots(figsize=(1.1 * len(labels) + 2, 1.1 * len(labels) + 1.5))
    axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            axis.text(j, i, f"{int(confusion[i, j])}\n{normalised[i, j]:.0%}", ha="center", va="center",
                      color="white" if normalised[i, j] > 0.5 else "black", fontsize=8)
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"{result['task']}: accuracy {result['accuracy']:.3f}, macro-F1 {result['macro_f1']:.3f}")
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def report_text(result: dict) -> str:
    lines = [
        f"{result['task']} model {result['model']} on {result['n']} images"
        + (f" (test-time augmentation: {', '.join(result['tta'])})" if result["tta"] else ""),
        f"accuracy {result['accuracy']:.4f}   macro-F1 {result['macro_f1']:.4f}",
        f"expected calibration error {result['ece']:.4f} at temperature {result['temperature']:g}"
        + (f" ({result['calibration']['ece_uncalibrated']:.4f} at T = 1)" if result["temperature"] != 1.0 else ""),
        "",
        f"{'class':<14}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for label, m in result["per_class"].items():
        lines.append(f"{label:<14}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>10}")
    return "\n".join(lines)


EVALUATE_DIR = Path("runs/evaluate")  # reports go here by default (git-ignored), not into models/


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["emotion", "mask"], required=True)
    parser.add_argument("--model", type=Path, required=True, help="model folder (model.json, model.weights.h5, metadata.json)")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--usage", help="FER2013 Usage to keep (e.g. PublicTest); default: every row")
    parser.add_argument("--skip-bad-rows", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--confusion-png", type=Path,
                        help=f"where to write the confusion matrix (default {EVALUATE_DIR}/<model folder name>-confusion.png)")
    args = parser.parse_args(argv)

    from core.labels import MASK_LABELS
    from core.model_folder import ModelFileError, load_keras_model
    from train.data import DataError, load_fer2013, load_image_folder

    try:
        _, metadata = load_keras_model(args.model)
        if metadata["task"] != args.task:
            raise ModelFileError(f"{args.model} is a {metadata['task']!r} model, but --task is {args.task!r}")
        if args.task == "emotion":
            images, labels, report = load_fer2013(args.data, usage=args.usage, skip_bad_rows=args.skip_bad_rows)
            if metadata.get("crop", {}).get("level_eyes"):  # trained on levelled faces: evaluated on them
                from train.registration import level_faces

                images = level_faces(images)
        else:
            size, channels = metadata["input"]["size"], metadata["input"]["channels"]
            images, labels, report, paths = load_image_folder(args.data, MASK_LABELS, size, channels, args.skip_bad_rows)
            images = mask_crops(paths, images, size)
    except (DataError, ModelFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.summary(), file=sys.stderr)
    result = evaluate_arrays(args.model, images, labels)
    result["data"] = str(args.data)
    if args.usage:
        result["usage"] = args.usage
    if args.json:
        print(json.dumps(result))
        return 0
    print(report_text(result))
    png = args.confusion_png or EVALUATE_DIR / f"{args.model.resolve().name}-confusion.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    plot_confusion(result, png)
    print(f"confusion matrix: {png}")
    from train.calibration import plot_reliability

    default_name = f"{args.model.resolve().name}-confusion.png"
    reliability = png.with_name(png.name.replace("confusion", "reliability") if png.name == default_name
                                else RELIABILITY_PNG)
    plot_reliability(result["calibration"], reliability,
                     f"{result['task']} on {result['n']} images" + (f" ({args.usage})" if args.usage else ""))
    print(f"reliability diagram: {reliability}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
