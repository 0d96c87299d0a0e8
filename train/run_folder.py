"""A training run's folder (`--run-dir`): what `train.train` keeps there every epoch, and reads back on --resume.

- `last.keras`: the model with its optimizer state (for --resume),
- `best.weights.h5`: the weights of the best validation accuracy so far,
- `state.json`: epochs done, best epoch and accuracy, training time, the commands of the run,
- `history.csv`: Keras's CSVLogger, one row per epoch, and `curves.png` drawn from it (`plot_history`).
Each file is written under a temporary name and renamed (core/files.py), so a kill never leaves half a file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from core.files import save_figure
from train import log

LAST_CHECKPOINT, BEST_WEIGHTS, STATE = "last.keras", "best.weights.h5", "state.json"
HISTORY, CURVES = "history.csv", "curves.png"
CURVES_DPI = 80


def plot_history(csv_path: Path, png_path: Path) -> None:
    """Loss and accuracy curves from history.csv, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    history = pd.read_csv(csv_path)
    epochs = history["epoch"] + 1
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in ((left, "loss"), (right, "accuracy")):
        axis.plot(epochs, history[metric], label="train")
        axis.plot(epochs, history[f"val_{metric}"], label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    save_figure(fig, png_path, dpi=CURVES_DPI)


def trim_history(csv_path: Path, epochs_done: int) -> int:
    """Keep the header and the rows of the epochs that state.json counts (epoch < epochs_done), rewritten atomically;
    returns how many rows were dropped. A run killed after CSVLogger wrote an epoch's row but before the checkpoint
    counted that epoch repeats it on --resume; without this its row would be in history.csv twice. A row
    cut short by the kill is dropped too, and an epoch already repeated keeps its last row."""
    import csv

    from core.files import write_atomically

    if not csv_path.is_file():
        return 0
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return 0
    header, body = rows[0], rows[1:]

    def counted(row) -> bool:
        return len(row) == len(header) and row[0].isdigit() and int(row[0]) < epochs_done

    latest = {int(row[0]): row for row in body if counted(row)}  # an epoch repeated before this fix: its last row
    kept = [latest[epoch] for epoch in sorted(latest)]
    if kept != body:
        import io

        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([header, *kept])
        write_atomically(csv_path, text.getvalue())
    return len(body) - len(kept)


def make_checkpoint_callback(run_dir: Path, state: dict, start_time: float):
    import keras

    from core.files import save_model_atomically, save_weights_atomically, write_atomically

    class Checkpoint(keras.callbacks.Callback):
        """Each epoch: best weights on val accuracy, full model for --resume, state.json, curves.png."""

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            val_accuracy = float(logs.get("val_accuracy", 0.0))
            if val_accuracy > state["best_val_accuracy"]:
                state.update(best_val_accuracy=val_accuracy, best_epoch=epoch + 1)
                save_weights_atomically(self.model, run_dir / BEST_WEIGHTS)
            save_model_atomically(self.model, run_dir / LAST_CHECKPOINT)
            state["epochs_done"] = epoch + 1
            state["train_seconds"] = state.get("train_seconds_before", 0.0) + time.time() - start_time
            write_atomically(run_dir / STATE, json.dumps(state, indent=2))
            plot_history(run_dir / HISTORY, run_dir / CURVES)
            log(f"epoch {epoch + 1}: val_accuracy {val_accuracy:.4f} (best {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']})")

    return Checkpoint()
