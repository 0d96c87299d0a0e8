"""Calibration of class probabilities: expected calibration error, reliability diagram, and one fitted temperature.

A model is calibrated when, among the faces it labels with confidence ~0.8, about 80 % are right. Label smoothing,
class weights and flip TTA all move the confidences away from that, so `train.train` (after training) and
`train.calibrate` (for an existing model folder) fit one temperature T on the validation split and store it in the
model's metadata.json; `core.models.apply_temperature` (Python) and `applyTemperature` in web_static/js/models.js
(browser) apply it at run time: softmax(log(p) / T), on the probabilities after TTA averaging.

- `expected_calibration_error`: top-1 confidence in `ECE_BINS` equal-width bins; the gap |accuracy - confidence| of
  each bin weighted by its share of the samples.
- `fit_temperature`: the T minimising the negative log-likelihood of the true labels (`scipy.optimize.minimize_scalar`,
  bounded, on log T; the NLL of temperature scaling is smooth and unimodal in practice), from probabilities that are
  *not* calibrated yet.
- `plot_reliability`: accuracy per confidence bin against the diagonal, before and after T.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.models import apply_temperature

# ---------------------------------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------------------------------

ECE_BINS = 15
TEMPERATURE_RANGE = (0.05, 20.0)  # searched on a log scale
SEARCH_TOLERANCE = 1e-4  # on log T
NLL_FLOOR = 1e-12

# ---------------------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------------------


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Per confidence bin (equal width on [0, 1]): sample count, mean top-1 confidence, top-1 accuracy."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    # bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 goes to bin 0
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    safe = np.maximum(count, 1)
    return {
        "edges": np.linspace(0.0, 1.0, bins + 1).tolist(),
        "count": count.tolist(),
        "confidence": (np.bincount(index, weights=confidence, minlength=bins) / safe).tolist(),
        "accuracy": (np.bincount(index, weights=correct, minlength=bins) / safe).tolist(),
    }


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    table = reliability_bins(probabilities, labels, bins)
    count = np.array(table["count"], dtype=np.float64)
    if count.sum() == 0:
        return 0.0
    gap = np.abs(np.array(table["accuracy"]) - np.array(table["confidence"]))
    return float((count * gap).sum() / count.sum())


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    picked = probabilities[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.log(np.maximum(picked, NLL_FLOOR)).mean())


# ---------------------------------------------------------------------------------------------------------------------
# Temperature
# ---------------------------------------------------------------------------------------------------------------------


def _nll_at(log_p: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    logits = log_p / temperature
    logits = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(logits).sum(axis=1))
    return float((log_norm - logits[np.arange(len(labels)), labels]).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of softmax(log(p) / T) on (probabilities, labels); uncalibrated inputs.
    Searched on log T within TEMPERATURE_RANGE by scipy's bounded scalar minimiser (Brent's method)."""
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("fit_temperature: no samples")
    log_p = np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), NLL_FLOOR))
    found = minimize_scalar(lambda log_t: _nll_at(log_p, labels, np.exp(log_t)), method="bounded",
                            bounds=np.log(TEMPERATURE_RANGE), options={"xatol": SEARCH_TOLERANCE})
    return float(np.exp(found.x))


def calibration_report(raw_probabilities: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    """ECE and NLL before (T = 1) and after `temperature`, with the reliability bins of both."""
    calibrated = apply_temperature(raw_probabilities, temperature)
    return {
        "temperature": float(temperature),
        "bins": ECE_BINS,
        "ece_uncalibrated": expected_calibration_error(raw_probabilities, labels),
        "ece": expected_calibration_error(calibrated, labels),
        "nll_uncalibrated": negative_log_likelihood(raw_probabilities, labels),
        "nll": negative_log_likelihood(calibrated, labels),
        "reliability_uncalibrated": reliability_bins(raw_probabilities, labels),
        "reliability": reliability_bins(calibrated, labels),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Reliability diagram
# ---------------------------------------------------------------------------------------------------------------------


def plot_reliability(report: dict, path: Path, title: str) -> None:
    """Accuracy per confidence bin, before and after temperature scaling, against the diagonal; sample share below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    edges = np.array(report["reliability"]["edges"])
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.2, 6.0), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    series = [("reliability_uncalibrated", "ece_uncalibrated", "T = 1", "tab:orange")]
    if report["temperature"] != 1.0:
        series.append(("reliability", "ece", f"T = {report['temperature']:.3f}", "tab:blue"))
    for offset, (key, ece_key, name, colour) in zip((-width / 4, width / 4), series):
        table = report[key]
        count = np.array(table["count"])
        shown = count > 0
        top.bar(centres[shown] + (offset if len(series) > 1 else 0), np.array(table["accuracy"])[shown],
                width=width / (2 if len(series) > 1 else 1), color=colour, alpha=0.75,
                label=f"{name}: ECE {report[ece_key]:.3f}")
        bottom.bar(centres + (offset if len(series) > 1 else 0), count / max(1, count.sum()),
                   width=width / (2 if len(series) > 1 else 1), color=colour, alpha=0.75)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(title, fontsize=10)
    top.legend(loc="upper left", fontsize=8)
    bottom.set_xlabel("top-1 confidence")
    bottom.set_ylabel("share")
    fig.tight_layout()
    tmp = path.with_name("partial-" + path.name)
    fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    os.replace(tmp, path)
