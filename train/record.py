"""A model folder's training record: `training.json` (every fact of the run) and `TRAINING.md` (the same, to read).

`train.train` builds the record at the end of a run and writes both with `write_training_record`; a further cycle
(`--initial-weights DIR`) reads DIR's record back with `initial_weights_record`, so that the new record says where
its starting weights came from and how they were made.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.files import write_atomically

RECORD_JSON, RECORD_MARKDOWN = "training.json", "TRAINING.md"


def initial_weights_record(folder: Path) -> dict:
    """Where the starting weights came from, with that folder's own training time and epochs (when it has a record)."""
    record = {"folder": str(folder)}
    earlier = folder / RECORD_JSON
    if earlier.is_file():
        found = json.loads(earlier.read_text())
        record.update({key: found.get(key) for key in ("network", "epochs", "train_seconds")})
        record["commands"] = found.get("commands") or [found.get("command", "?")]
        record["validation_accuracy"] = found.get("validation_metrics", {}).get("accuracy", float("nan"))
    return record


def write_training_record(folder: Path, record: dict) -> None:
    """`training.json` and `TRAINING.md` into the model folder, each atomically."""
    write_atomically(Path(folder) / RECORD_JSON, json.dumps(record, indent=2) + "\n")
    write_atomically(Path(folder) / RECORD_MARKDOWN, training_markdown(record))


def training_markdown(record: dict) -> str:
    metrics = record["validation_metrics"]
    rows = "\n".join(
        f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
        for label, m in metrics["per_class"].items()
    )
    tta = f" (test-time augmentation: {', '.join(metrics['tta'])})" if metrics.get("tta") else ""
    commands = record.get("commands") or [record["command"]]
    cal = metrics.get("calibration")
    calibration = ""
    if cal and cal["temperature"] != 1.0:
        calibration = (f"Expected calibration error {cal['ece_uncalibrated']:.4f} before, **{cal['ece']:.4f}** after "
                       f"temperature scaling (T = {cal['temperature']:g}, fitted on this split; {cal['bins']} bins).\n")
    elif cal:
        calibration = (f"Expected calibration error {cal['ece']:.4f} ({cal['bins']} bins); no temperature fitted: "
                       f"{metrics['n'] - round(metrics['accuracy'] * metrics['n'])} validation error(s) cannot show how "
                       "confident the model should be.\n")
    initial = record.get("initial_weights")
    if initial:
        earlier = (f": {initial['epochs']} epochs, {initial['train_seconds'] / 60:.1f} min, validation accuracy "
                   f"{initial['validation_accuracy']:.4f}, by `{'` then `'.join(initial['commands'])}`"
                   if initial.get("train_seconds") is not None else "")
        start_line = f"- Started from the weights of `{initial['folder']}`{earlier}\n"
    else:
        start_line = ""
    if len(commands) > 1:
        command_lines = "- Commands (the run was stopped and resumed with `--resume`):\n" + "\n".join(f"  - `{c}`" for c in commands)
    else:
        command_lines = f"- Command: `{commands[0]}`"
    return f"""# Training record

{command_lines}
{start_line}- Data: `{record['data']}`; {record['split']}
- Images: {record['train_images']} training, {record['validation_images']} validation
- Network: `{record['network']}`, {record['parameters']:,} parameters
- Epochs: {record['epochs']} (best validation accuracy at epoch {record['best_epoch']}), batch {record['batch_size']}
- Optimizer: {record['optimizer']}; loss: {record['loss']}; class weights: {record['class_weight']}; seed {record['seed']}
- Training time: {record['train_seconds'] / 60:.1f} min ({record['seconds_per_epoch']} s per epoch) on {record['machine']}

## Validation metrics{tta}

Accuracy **{metrics['accuracy']:.4f}**, macro-F1 **{metrics['macro_f1']:.4f}** on {metrics['n']} images.
{calibration}
| class | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}
"""

