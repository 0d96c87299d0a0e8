"""Train the expression (FER2013) or the face-mask network.

    python -m train.train --task emotion --network vggbn --epochs 40 --out models/emotion
    python -m train.train --task mask --out models/mask
    python -m train.train ... --resume          # continue a killed run from its last epoch
    python -m train.train --network sepvgg --teacher models/emotion   # distil from teacher model folder(s)
    python -m train.train --network vggslim --initial-weights DIR ...  # a further cycle from a trained folder

Reads top to bottom: setup, data, model, train, save. Every epoch the run folder (`--run-dir`, default
`runs/<task>`) gets `last.keras` (model + optimizer, for --resume), `best.weights.h5` (best validation accuracy),
`history.csv` and `curves.png` (live loss/accuracy plots); each is written under a temporary name and renamed.
At the end the best weights go to `--out` as Keras JSON + weights + metadata + training record, with a temperature
fitted on the validation split (train/calibrate.py) stored in the metadata.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from core.files import save_figure
from core.quiet import import_tensorflow

import_tensorflow()  # before train.augment imports it: no start-up chatter
from train.augment import ENGINES, AugmentConfig  # noqa: E402
from train.data import FER2013_CSV  # noqa: E402

# ---------------------------------------------------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------------------------------------------------

TASK_DEFAULTS = {
    "emotion": {"network": "vggbn", "size": 48, "channels": 1, "epochs": 36, "data": FER2013_CSV,
                "augment": AugmentConfig()},
    # No random erasing for masks (it could hide the mask and flip the label); more zoom and shift, as detector crops
    # vary; camera degradations (small, blurred, grey, colour-cast, dark faces), as on video.
    "mask": {"network": "mask_net", "size": 64, "channels": 3, "epochs": 40, "data": "facemask",
             "augment": AugmentConfig(max_rotation_deg=15, max_zoom=0.25, max_shift=0.12, erase_probability=0.0,
                                      lowres_probability=0.3, blur_probability=0.3, gray_probability=0.2,
                                      max_color_cast=0.15, dark_probability=0.2)},
}
TRAIN_USAGE, VALIDATION_USAGE = "Training", "PublicTest"
MASK_VALIDATION_FRACTION = 0.15


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASK_DEFAULTS), default="emotion")
    parser.add_argument("--data", help="FER2013 CSV(.gz) or folder; face-mask folder (default: under FACEXP_DATA)")
    parser.add_argument("--network", help="network name from train.networks (default per task)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak learning rate (cosine decay after warm-up)")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW decoupled weight decay")
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--class-weight", choices=["none", "sqrt"], default="sqrt",
                        help="sqrt: weight each class by sqrt(median count / class count), lifting rare 'disgust'")
    parser.add_argument("--augment", choices=ENGINES, default="warp",
                        help="augmentation: the hand-written warp or Keras's preprocessing layers (train/augment.py)")
    parser.add_argument("--teacher", type=Path, nargs="+", default=[],
                        help="model folder(s) to distil from (several = an ensemble; see train/distill.py)")
    parser.add_argument("--alpha", type=float, default=0.7, help="weight of the teachers' soft targets (distillation)")
    parser.add_argument("--temperature", type=float, default=3.0, help="softening temperature (distillation)")
    parser.add_argument("--tta", choices=["none", "flip"], default="flip",
                        help="test-time augmentation recorded in the model's metadata")
    parser.add_argument("--limit", type=int, help="use only the first N training and N validation rows (quick runs)")
    parser.add_argument("--skip-bad-rows", action="store_true", help="skip malformed rows/files instead of failing")
    parser.add_argument("--out", type=Path, help="model folder to write (default models/<task>)")
    parser.add_argument("--run-dir", type=Path, help="checkpoints, history and plots (default runs/<task>)")
    parser.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.keras")
    parser.add_argument("--initial-weights", type=Path, metavar="DIR",
                        help="start from the weights of this model folder (same network) instead of random ones: a "
                             "further learning-rate cycle, e.g. with that folder as one more teacher")
    parser.add_argument("--bare-faces", type=int, default=1500,
                        help="mask task: add N FER2013 Training faces (tinted, bare; half also with a drawn mask)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    args = parser.parse_args(argv)
    defaults = TASK_DEFAULTS[args.task]
    args.network = args.network or defaults["network"]
    args.epochs = args.epochs or defaults["epochs"]
    args.out = args.out or Path("models") / args.task
    args.run_dir = args.run_dir or Path("runs") / args.task
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------------


def load_emotion_data(args):
    from train.data import data_dir, load_fer2013

    path = Path(args.data) if args.data else data_dir() / TASK_DEFAULTS["emotion"]["data"]
    x_train, y_train, report = load_fer2013(path, usage=TRAIN_USAGE, skip_bad_rows=args.skip_bad_rows)
    log(report.summary())
    x_val, y_val, report = load_fer2013(path, usage=VALIDATION_USAGE, skip_bad_rows=args.skip_bad_rows)
    log(report.summary())
    return path, (x_train, y_train), (x_val, y_val), f"{TRAIN_USAGE} rows for training, {VALIDATION_USAGE} for validation"


def grouped_split(paths, labels, fraction: float, seed: int):
    """Validation indices: whole near-duplicate groups (from manifest.csv when present), about `fraction` per class."""
    import csv

    groups = {}
    manifest = Path(paths[0]).parent.parent / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="") as handle:
            groups = {row["file"]: row["dup_group"] for row in csv.DictReader(handle)}
    keys = [groups.get(f"{Path(p).parent.name}/{Path(p).name}", str(p)) for p in paths]
    rng = np.random.default_rng(seed)
    val = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        by_group = {}
        for i in members:
            by_group.setdefault(keys[i], []).append(i)
        order = list(by_group)
        rng.shuffle(order)
        target, taken = fraction * len(members), []
        for key in order:
            if len(taken) >= target:
                break
            taken.extend(by_group[key])
        val.extend(taken)
    return np.array(sorted(val))


def load_mask_data(args):
    """The face-mask folder cropped as the apps crop faces, its grouped validation split, and for training drawn
    masks, hard negatives and bare FER2013 faces (train/mask_data.py)."""
    from core.detector import FaceDetector
    from core.labels import MASK_LABELS
    from train.data import data_dir, load_image_folder
    from train.mask_data import fer_examples, folder_examples

    path = Path(args.data) if args.data else data_dir() / TASK_DEFAULTS["mask"]["data"]
    size = TASK_DEFAULTS["mask"]["size"]
    whole, y, report, paths = load_image_folder(path, MASK_LABELS, size, 3, skip_bad_rows=args.skip_bad_rows)
    log(report.summary())
    val = grouped_split(paths, y, MASK_VALIDATION_FRACTION, args.seed)
    train = np.setdiff1d(np.arange(len(y)), val)
    detector = FaceDetector()
    crops, drawn, drawn_y, counts = folder_examples(paths, y, whole, train, size, args.seed, detector)
    x_train, y_train = np.concatenate([crops[train], drawn]), np.concatenate([y[train], drawn_y])
    how = (f"{100 * MASK_VALIDATION_FRACTION:.0f}% held out for validation, near-duplicate groups kept together "
           f"(seed {args.seed}); every photo cropped as the apps crop its largest face ({counts['face_found']} of "
           f"{len(y)} with a face found, the others used whole); training only: {counts['masks_drawn']} bare photos "
           f"with a drawn mask, {counts['collars_drawn']} with a collar or scarf (without_mask)")
    if args.bare_faces > 0:
        fer_x, fer_y, fer_counts = fer_examples(fer2013_faces(args.bare_faces, args.seed), size, args.seed, detector)
        x_train, y_train = np.concatenate([x_train, fer_x]), np.concatenate([y_train, fer_y])
        how += (f"; {fer_counts['fer_faces']} random FER2013 Training faces (seed {args.seed}), tinted, as "
                f"without_mask, {fer_counts['fer_masks_drawn']} of them also with a drawn mask")
    log(how)
    return path, (x_train, y_train), (crops[val], y[val]), how


def fer2013_faces(count: int, seed: int) -> np.ndarray:
    """`count` random FER2013 Training faces (count, 48, 48, 1) uint8: nobody in FER2013 wears a mask."""
    from train.data import data_dir, load_fer2013

    faces, _, report = load_fer2013(data_dir() / TASK_DEFAULTS["emotion"]["data"], usage=TRAIN_USAGE)
    log(report.summary())
    pick = np.random.default_rng(seed).choice(len(faces), size=min(count, len(faces)), replace=False)
    return faces[np.sort(pick)]


def fit_schedule_to_epochs(optimizer, steps_per_epoch: int, epochs: int) -> None:
    """On --resume with a different --epochs: make the cosine decay end at the new last epoch."""
    import keras

    schedule = optimizer._learning_rate  # Keras keeps the schedule object here; its fields are read when traced
    if not isinstance(schedule, keras.optimizers.schedules.CosineDecay):
        return
    decay_steps = steps_per_epoch * epochs - (schedule.warmup_steps or 0)
    if decay_steps != schedule.decay_steps and decay_steps > 0:
        before = (schedule.decay_steps + (schedule.warmup_steps or 0)) / steps_per_epoch
        log(f"--epochs {epochs}: the learning-rate schedule now ends after epoch {epochs} (was {before:.0f})")
        schedule.decay_steps = decay_steps


def load_initial_weights(model, folder: Path) -> None:
    """Set `model`'s weights to those of a trained model folder of the same network (a further training cycle)."""
    from core.models import ModelFileError, load_keras_model

    trained, _ = load_keras_model(folder)
    found = [w.shape for w in trained.get_weights()]
    expected = [w.shape for w in model.get_weights()]
    if found != expected:
        raise ModelFileError(f"--initial-weights {folder}: its network ({trained.name}, {trained.count_params():,} "
                             f"parameters) is not the one being trained ({model.name}, {model.count_params():,})")
    model.set_weights(trained.get_weights())


def initial_weights_record(folder: Path) -> dict:
    """Where the starting weights came from, with that folder's own training time and epochs (when it has a record)."""
    record = {"folder": str(folder)}
    earlier = folder / "training.json"
    if earlier.is_file():
        found = json.loads(earlier.read_text())
        record.update({key: found.get(key) for key in ("network", "epochs", "train_seconds")})
        record["commands"] = found.get("commands") or [found.get("command", "?")]
        record["validation_accuracy"] = found.get("validation_metrics", {}).get("accuracy", float("nan"))
    return record


def class_weights(labels: np.ndarray, num_classes: int, mode: str):
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.sqrt(np.median(counts) / np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


# ---------------------------------------------------------------------------------------------------------------------
# Checkpoints and live plots
# ---------------------------------------------------------------------------------------------------------------------


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
    save_figure(fig, png_path, dpi=80)


def trim_history(csv_path: Path, epochs_done: int) -> int:
    """Keep the header and the rows of the epochs that state.json counts (epoch < epochs_done), rewritten atomically;
    returns how many rows were dropped. A run killed after CSVLogger wrote an epoch's row but before the checkpoint
    counted that epoch repeats it on --resume; without this its row would be in history.csv twice (issue 20). A row
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
                save_weights_atomically(self.model, run_dir / "best.weights.h5")
            save_model_atomically(self.model, run_dir / "last.keras")
            state["epochs_done"] = epoch + 1
            state["train_seconds"] = state.get("train_seconds_before", 0.0) + time.time() - start_time
            write_atomically(run_dir / "state.json", json.dumps(state, indent=2))
            plot_history(run_dir / "history.csv", run_dir / "curves.png")
            log(f"epoch {epoch + 1}: val_accuracy {val_accuracy:.4f} (best {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']})")

    return Checkpoint()


# ---------------------------------------------------------------------------------------------------------------------
# Main: data -> model -> train -> save
# ---------------------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python -m train.train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))

    from core.quiet import import_tensorflow

    tf = import_tensorflow()
    import keras

    from core.labels import LABELS_BY_TASK
    from core.files import write_atomically
    from core.models import make_metadata, save_model_folder
    from train import networks
    from train.augment import evaluation_dataset, training_dataset
    from train.data import DataError

    keras.utils.set_random_seed(args.seed)
    labels = LABELS_BY_TASK[args.task]
    defaults = TASK_DEFAULTS[args.task]
    input_shape = (defaults["size"], defaults["size"], defaults["channels"])

    # Data
    try:
        data_path, (x_train, y_train), (x_val, y_val), split = (load_emotion_data if args.task == "emotion" else load_mask_data)(args)
    except DataError as error:
        log(f"error: {error}")
        return 2
    if args.limit:
        x_train, y_train, x_val, y_val = x_train[: args.limit], y_train[: args.limit], x_val[: args.limit], y_val[: args.limit]
    log(f"training on {len(x_train)} images, validating on {len(x_val)}; {split}")
    num_classes = len(labels)
    weights = class_weights(y_train, num_classes, args.class_weight)
    soft_targets = None
    from core.models import ModelFileError

    if args.teacher:
        from train.distill import load_teachers, soft_target_fn

        try:
            teachers = load_teachers(args.teacher, num_classes, input_shape)
        except ModelFileError as error:
            log(f"error: {error}")
            return 2
        soft_targets = soft_target_fn(teachers, args.temperature)
        log(f"distilling from {len(teachers)} teacher(s) at temperature {args.temperature}, alpha {args.alpha}")
    train_ds = training_dataset(
        x_train, keras.utils.to_categorical(y_train, num_classes), args.batch_size, args.seed, defaults["augment"],
        soft_targets=soft_targets, class_weights=None if weights is None else [weights[i] for i in range(num_classes)],
        engine=args.augment,
    )
    val_ds = evaluation_dataset(x_val, keras.utils.to_categorical(y_val, num_classes), 256, packed=bool(args.teacher))
    steps_per_epoch = max(1, len(x_train) // args.batch_size)

    # Model (new, or the last checkpoint with its optimizer state when resuming)
    run_dir = args.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {"best_val_accuracy": 0.0, "best_epoch": 0, "epochs_done": 0, "train_seconds": 0.0}
    if args.resume and (run_dir / "last.keras").is_file():
        import train.distill  # noqa: F401  (registers the distillation loss and metric for loading)

        model = keras.models.load_model(run_dir / "last.keras")
        state.update(json.loads((run_dir / "state.json").read_text()))
        log(f"resuming {run_dir / 'last.keras'} after epoch {state['epochs_done']} (best {state['best_val_accuracy']:.4f})")
        dropped = trim_history(run_dir / "history.csv", state["epochs_done"])
        if dropped:
            log(f"history.csv: {dropped} row(s) of the epoch the kill interrupted dropped (it is trained again)")
        fit_schedule_to_epochs(model.optimizer, steps_per_epoch, args.epochs)
    else:
        if args.resume:
            log(f"--resume: no checkpoint in {run_dir}, starting from scratch")
        for stale in ("history.csv", "best.weights.h5", "last.keras", "state.json"):
            (run_dir / stale).unlink(missing_ok=True)
        model = networks.build_network(args.network, input_shape, num_classes)
        if args.initial_weights:
            try:
                load_initial_weights(model, args.initial_weights)
            except ModelFileError as error:
                log(f"error: {error}")
                return 2
            log(f"starting from the weights of {args.initial_weights}")
        total_steps = steps_per_epoch * args.epochs
        warmup = min(steps_per_epoch * 2, total_steps // 10)
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=args.learning_rate / 20, decay_steps=total_steps - warmup, alpha=0.01,
            warmup_target=args.learning_rate, warmup_steps=warmup,
        )
        if args.teacher:
            from train.distill import DistillationLoss, accuracy

            loss = DistillationLoss(num_classes, args.alpha, args.temperature, args.label_smoothing)
            metrics = [accuracy]
        else:
            loss, metrics = keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing), ["accuracy"]
        model.compile(
            optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=args.weight_decay),
            loss=loss,
            metrics=metrics,
        )
    state["train_seconds_before"] = state.get("train_seconds", 0.0)
    state["commands"] = state.get("commands", []) + [command]
    log(f"network {model.name}: {model.count_params():,} parameters")

    # Train
    start = time.time()
    if state["epochs_done"] < args.epochs:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=args.epochs,
            initial_epoch=state["epochs_done"],
            steps_per_epoch=steps_per_epoch,
            class_weight=None if args.teacher else weights,  # distillation batches carry per-sample weights
            callbacks=[
                keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
                make_checkpoint_callback(run_dir, state, start),
            ],
            verbose=2 if args.quiet or not sys.stderr.isatty() else 1,
        )

    # Save the best epoch as the model folder, with its record
    if (run_dir / "best.weights.h5").is_file():
        model.load_weights(run_dir / "best.weights.h5")
    tta = [] if args.tta == "none" else [args.tta]
    save_model_folder(model, args.out, make_metadata(args.task, input_shape, tta), check_faces=x_val)
    remove_stale_figures(args.out)
    from train.calibrate import fit_and_store
    from train.evaluate import evaluate_arrays

    calibration = fit_and_store(args.out, x_val, y_val, split)  # one temperature on the validation split (metadata)
    log(f"temperature {calibration['temperature']}: validation ECE {calibration['ece_uncalibrated']:.4f} -> {calibration['ece']:.4f}")
    metrics = evaluate_arrays(args.out, x_val, y_val)
    record = {
        "command": command,
        "commands": state["commands"],  # every invocation of this run, the first one and each --resume
        "data": os.path.relpath(data_path),
        "split": split,
        "train_images": int(len(x_train)),
        "validation_images": int(len(x_val)),
        "network": args.network,
        "parameters": int(model.count_params()),
        "epochs": args.epochs,
        "best_epoch": state["best_epoch"],
        "batch_size": args.batch_size,
        "optimizer": f"AdamW lr {args.learning_rate} cosine decay with warm-up, weight decay {args.weight_decay}",
        "loss": f"categorical cross-entropy, label smoothing {args.label_smoothing}" + (
            f"; distilled from {', '.join(map(str, args.teacher))} (alpha {args.alpha}, temperature {args.temperature})"
            if args.teacher else ""),
        "teachers": [str(t) for t in args.teacher],
        "initial_weights": initial_weights_record(args.initial_weights) if args.initial_weights else None,
        "class_weight": args.class_weight,
        "augmentation": args.augment,
        "seed": args.seed,
        "train_seconds": round(state["train_seconds"], 1),
        "seconds_per_epoch": round(state["train_seconds"] / max(1, state["epochs_done"]), 1),
        "machine": f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, Keras {keras.__version__}",
        "validation_metrics": metrics,
    }
    write_atomically(args.out / "training.json", json.dumps(record, indent=2) + "\n")
    write_atomically(args.out / "TRAINING.md", training_markdown(record))
    if (run_dir / "curves.png").is_file():
        write_atomically(args.out / "curves.png", (run_dir / "curves.png").read_bytes())
    log(f"wrote {args.out}: validation accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}")
    return 0


def remove_stale_figures(folder: Path) -> None:
    """A model folder being (re)written loses the figures of the model it held: `train.evaluate`'s confusion matrix
    and reliability diagram (when they were written there) and the training curves; this run writes its own curves,
    and `train.evaluate --confusion-png FOLDER/confusion.png` redraws the others for the new model."""
    from train.evaluate import MODEL_FOLDER_FIGURES

    for name in (*MODEL_FOLDER_FIGURES, "curves.png"):
        if (folder / name).is_file():
            (folder / name).unlink()
            log(f"removed {folder / name} (drawn for the model this folder held before)")


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


if __name__ == "__main__":
    sys.exit(main())
