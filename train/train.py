"""Train the expression (FER2013) or the face-mask network.

    python -m train.train --task emotion --network vggbn --epochs 40 --out models/emotion
    python -m train.train --task mask --out models/mask
    python -m train.train ... --resume          # continue a killed run from its last epoch
    python -m train.train --network sepvgg --teacher DIR [DIR ...]   # distil from teacher model folder(s)
    python -m train.train --network vggslim --initial-weights DIR ...  # a further cycle from a trained folder

Reads top to bottom, in the sections of a keras-io example: setup, data, model, train, evaluate (and save). Every
epoch the run folder (`--run-dir`, default `runs/<task>`) gets `last.keras` (model + optimizer, for --resume),
`best.weights.h5` (best validation accuracy), `history.csv` and `curves.png` (live loss/accuracy plots); each is
written under a temporary name and renamed. At the end the best weights go to `--out` as Keras JSON + weights +
metadata (`core.model_folder`) + the checked `model.tflite` (`export.litert`), with a temperature fitted on the
validation split (`train.calibrate`) stored in the metadata, and the training record (`train.record`).
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

from core.quiet import import_tensorflow
from train import log

import_tensorflow()  # before train.augment imports it: no start-up chatter
from train.augment import AugmentConfig  # noqa: E402
from train.data import FER2013_CSV, TRAIN_USAGE, VALIDATION_USAGE  # noqa: E402
from train.run_folder import (  # noqa: E402
    BEST_WEIGHTS,
    CURVES,
    HISTORY,
    LAST_CHECKPOINT,
    STATE,
    make_checkpoint_callback,
    trim_history,
)

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
SEED = 1337
BATCH_SIZE = 64
EVALUATION_BATCH_SIZE = 256
LEARNING_RATE = 2e-3  # the peak, reached after the warm-up
START_LEARNING_RATE_DIVISOR = 20  # the warm-up starts at LEARNING_RATE / this
FINAL_LEARNING_RATE_FRACTION = 0.01  # the cosine decay ends at LEARNING_RATE x this
WARMUP_EPOCHS, WARMUP_MAX_FRACTION = 2, 10  # warm-up: 2 epochs, at most a tenth of all steps
WEIGHT_DECAY = 1e-4
LABEL_SMOOTHING = 0.1
DISTILLATION_ALPHA, DISTILLATION_TEMPERATURE = 0.7, 3.0
BARE_FACES = 1500
EXIT_BAD_INPUT = 2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASK_DEFAULTS), default="emotion")
    parser.add_argument("--data", help="FER2013 CSV(.gz) or folder; face-mask folder (default: under FACEXP_DATA)")
    parser.add_argument("--network", help="network name from train.networks (default per task)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE, help="peak learning rate (cosine decay after warm-up)")
    parser.add_argument("--weight-decay", type=float, default=WEIGHT_DECAY, help="AdamW decoupled weight decay")
    parser.add_argument("--label-smoothing", type=float, default=LABEL_SMOOTHING)
    parser.add_argument("--class-weight", choices=["none", "sqrt"], default="sqrt",
                        help="sqrt: weight each class by sqrt(median count / class count), lifting rare 'disgust'")
    parser.add_argument("--teacher", type=Path, nargs="+", default=[],
                        help="model folder(s) to distil from (several = an ensemble; see train/distill.py)")
    parser.add_argument("--alpha", type=float, default=DISTILLATION_ALPHA, help="weight of the teachers' soft targets (distillation)")
    parser.add_argument("--temperature", type=float, default=DISTILLATION_TEMPERATURE, help="softening temperature (distillation)")
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
    parser.add_argument("--bare-faces", type=int, default=BARE_FACES,
                        help="mask task: add N FER2013 Training faces (tinted, bare; half also with a drawn mask)")
    parser.add_argument("--level-eyes", action="store_true",
                        help="emotion task: turn every face so that its eyes are level (train/registration.py); the "
                             "model's metadata then asks the apps to do the same")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    args = parser.parse_args(argv)
    defaults = TASK_DEFAULTS[args.task]
    args.network = args.network or defaults["network"]
    args.epochs = args.epochs or defaults["epochs"]
    args.out = args.out or Path("models") / args.task
    args.run_dir = args.run_dir or Path("runs") / args.task
    return args


# ---------------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------------


def load_data(args):
    """(data path, (x_train, y_train), (x_val, y_val), how the split was made) of the task, cut to --limit rows."""
    from train.data import DataError, data_dir, load_fer2013
    from train.mask_data import load_mask_data

    defaults = TASK_DEFAULTS[args.task]
    path = Path(args.data) if args.data else data_dir() / defaults["data"]
    if args.task == "emotion":
        x_train, y_train, report = load_fer2013(path, usage=TRAIN_USAGE, skip_bad_rows=args.skip_bad_rows)
        log(report.summary())
        x_val, y_val, report = load_fer2013(path, usage=VALIDATION_USAGE, skip_bad_rows=args.skip_bad_rows)
        log(report.summary())
        split = f"{TRAIN_USAGE} rows for training, {VALIDATION_USAGE} for validation"
    else:
        if args.level_eyes:
            raise DataError("--level-eyes is for the emotion task (the mask model's crops are not turned)")
        (x_train, y_train), (x_val, y_val), split = load_mask_data(
            path, defaults["size"], args.seed, args.bare_faces, args.skip_bad_rows, log=log)
    if args.limit:
        x_train, y_train, x_val, y_val = x_train[: args.limit], y_train[: args.limit], x_val[: args.limit], y_val[: args.limit]
    if args.level_eyes:
        from train.registration import level_faces

        x_train, x_val = level_faces(x_train, "training faces"), level_faces(x_val, "validation faces")
        split += "; eyes levelled (train/registration.py)"
    log(f"training on {len(x_train)} images, validating on {len(x_val)}; {split}")
    return path, (x_train, y_train), (x_val, y_val), split


def class_weights(labels: np.ndarray, num_classes: int, mode: str):
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.sqrt(np.median(counts) / np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


def make_datasets(args, x_train, y_train, x_val, y_val, num_classes: int, weights):
    """The augmented training batches (with the teachers' soft targets when distilling) and the validation batches.
    Loading a teacher that does not fit raises ModelFileError."""
    import keras

    from train.augment import evaluation_dataset, training_dataset

    soft_targets = None
    if args.teacher:
        from train.distill import load_teachers, soft_target_fn

        defaults = TASK_DEFAULTS[args.task]
        teachers = load_teachers(args.teacher, num_classes, (defaults["size"], defaults["size"], defaults["channels"]))
        soft_targets = soft_target_fn(teachers, args.temperature)
        log(f"distilling from {len(teachers)} teacher(s) at temperature {args.temperature}, alpha {args.alpha}")
    train_ds = training_dataset(
        x_train, keras.utils.to_categorical(y_train, num_classes), args.batch_size, args.seed,
        TASK_DEFAULTS[args.task]["augment"], soft_targets=soft_targets,
        class_weights=None if weights is None else [weights[i] for i in range(num_classes)],
    )
    val_ds = evaluation_dataset(x_val, keras.utils.to_categorical(y_val, num_classes), EVALUATION_BATCH_SIZE,
                                packed=bool(args.teacher))
    return train_ds, val_ds


# ---------------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------------


def load_initial_weights(model, folder: Path) -> None:
    """Set `model`'s weights to those of a trained model folder of the same network (a further training cycle)."""
    from core.model_folder import ModelFileError, load_keras_model

    trained, _ = load_keras_model(folder)
    found = [w.shape for w in trained.get_weights()]
    expected = [w.shape for w in model.get_weights()]
    if found != expected:
        raise ModelFileError(f"--initial-weights {folder}: its network ({trained.name}, {trained.count_params():,} "
                             f"parameters) is not the one being trained ({model.name}, {model.count_params():,})")
    model.set_weights(trained.get_weights())


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


def resume_model(args, steps_per_epoch: int, state: dict):
    """The last checkpoint with its optimizer state; `state` updated from the run folder's state.json."""
    import keras

    import train.distill  # noqa: F401  (registers the distillation loss and metric for loading)

    run_dir = args.run_dir
    model = keras.models.load_model(run_dir / LAST_CHECKPOINT)
    state.update(json.loads((run_dir / STATE).read_text()))
    log(f"resuming {run_dir / LAST_CHECKPOINT} after epoch {state['epochs_done']} (best {state['best_val_accuracy']:.4f})")
    dropped = trim_history(run_dir / HISTORY, state["epochs_done"])
    if dropped:
        log(f"{HISTORY}: {dropped} row(s) of the epoch the kill interrupted dropped (it is trained again)")
    fit_schedule_to_epochs(model.optimizer, steps_per_epoch, args.epochs)
    return model


def new_model(args, num_classes: int, steps_per_epoch: int):
    """The network, from random or --initial-weights weights, compiled with AdamW on a warm-up + cosine schedule and
    cross-entropy (or the distillation loss). A folder whose weights do not fit raises ModelFileError."""
    import keras

    from train import networks

    defaults = TASK_DEFAULTS[args.task]
    model = networks.build_network(args.network, (defaults["size"], defaults["size"], defaults["channels"]), num_classes)
    if args.initial_weights:
        load_initial_weights(model, args.initial_weights)
        log(f"starting from the weights of {args.initial_weights}")
    total_steps = steps_per_epoch * args.epochs
    warmup = min(steps_per_epoch * WARMUP_EPOCHS, total_steps // WARMUP_MAX_FRACTION)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=args.learning_rate / START_LEARNING_RATE_DIVISOR, decay_steps=total_steps - warmup,
        alpha=FINAL_LEARNING_RATE_FRACTION, warmup_target=args.learning_rate, warmup_steps=warmup,
    )
    if args.teacher:
        from train.distill import DistillationLoss, accuracy

        loss = DistillationLoss(num_classes, args.alpha, args.temperature, args.label_smoothing)
        metrics = [accuracy]
    else:
        loss, metrics = keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing), ["accuracy"]
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=args.weight_decay),
                  loss=loss, metrics=metrics)
    return model


# ---------------------------------------------------------------------------------------------------------------------
# Train: checkpoints and live plots every epoch (train/run_folder.py)
# ---------------------------------------------------------------------------------------------------------------------


def train_model(args, model, train_ds, val_ds, steps_per_epoch: int, weights, state: dict) -> None:
    """Fit from the epoch `state` has done up to --epochs, checkpointing every epoch into the run folder."""
    import keras

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
                keras.callbacks.CSVLogger(str(args.run_dir / HISTORY), append=True),
                make_checkpoint_callback(args.run_dir, state, start),
            ],
            verbose=2 if args.quiet or not sys.stderr.isatty() else 1,
        )


# ---------------------------------------------------------------------------------------------------------------------
# Evaluate: the best epoch saved as the model folder, calibrated, measured and recorded
# ---------------------------------------------------------------------------------------------------------------------


def remove_stale_figures(folder: Path) -> None:
    """A model folder being (re)written loses the figures of the model it held: `train.evaluate`'s confusion matrix
    and reliability diagram (when they were written there) and the training curves; this run writes its own curves,
    and `train.evaluate --confusion-png FOLDER/confusion.png` redraws the others for the new model."""
    from train.evaluate import MODEL_FOLDER_FIGURES

    for name in (*MODEL_FOLDER_FIGURES, CURVES):
        if (folder / name).is_file():
            (folder / name).unlink()
            log(f"removed {folder / name} (drawn for the model this folder held before)")


def save_model(args, model, x_val) -> None:
    """The best epoch's weights as the model folder (Keras files + metadata, then the checked model.tflite)."""
    from core.model_folder import make_metadata, save_model_folder
    from export.litert import write_tflite

    if (args.run_dir / BEST_WEIGHTS).is_file():
        model.load_weights(args.run_dir / BEST_WEIGHTS)
    defaults = TASK_DEFAULTS[args.task]
    tta = [] if args.tta == "none" else [args.tta]
    metadata = make_metadata(args.task, (defaults["size"], defaults["size"], defaults["channels"]), tta,
                             level_eyes=args.level_eyes)
    write_tflite(args.out, x_val, model=save_model_folder(model, args.out, metadata))
    remove_stale_figures(args.out)


def calibrate_evaluate_and_record(args, model, data_path, x_train, x_val, y_val, split: str, state: dict) -> dict:
    """Fit the temperature on the validation split, measure the folder, write its training record; the metrics."""
    import keras

    from core.files import write_atomically
    from train.calibrate import fit_and_store
    from train.evaluate import evaluate_arrays
    from train.record import initial_weights_record, write_training_record

    calibration = fit_and_store(args.out, x_val, y_val, split)  # one temperature on the validation split (metadata)
    log(f"temperature {calibration['temperature']}: validation ECE {calibration['ece_uncalibrated']:.4f} -> {calibration['ece']:.4f}")
    metrics = evaluate_arrays(args.out, x_val, y_val)
    record = {
        "command": state["commands"][-1],
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
        "augmentation": "keras-layers",
        "seed": args.seed,
        "train_seconds": round(state["train_seconds"], 1),
        "seconds_per_epoch": round(state["train_seconds"] / max(1, state["epochs_done"]), 1),
        "machine": f"{os.cpu_count()} CPU cores, TensorFlow {import_tensorflow().__version__}, Keras {keras.__version__}",
        "validation_metrics": metrics,
    }
    write_training_record(args.out, record)
    if (args.run_dir / CURVES).is_file():
        write_atomically(args.out / CURVES, (args.run_dir / CURVES).read_bytes())
    return metrics


# ---------------------------------------------------------------------------------------------------------------------
# Main: setup -> data -> model -> train -> evaluate
# ---------------------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python -m train.train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    import keras

    from core.labels import LABELS_BY_TASK
    from core.model_folder import ModelFileError
    from train.data import DataError

    keras.utils.set_random_seed(args.seed)
    num_classes = len(LABELS_BY_TASK[args.task])
    run_dir = args.run_dir
    state = {"best_val_accuracy": 0.0, "best_epoch": 0, "epochs_done": 0, "train_seconds": 0.0}
    try:
        data_path, (x_train, y_train), (x_val, y_val), split = load_data(args)
        weights = class_weights(y_train, num_classes, args.class_weight)
        train_ds, val_ds = make_datasets(args, x_train, y_train, x_val, y_val, num_classes, weights)
        steps_per_epoch = max(1, len(x_train) // args.batch_size)
        run_dir.mkdir(parents=True, exist_ok=True)
        if args.resume and (run_dir / LAST_CHECKPOINT).is_file():
            model = resume_model(args, steps_per_epoch, state)
        else:
            if args.resume:
                log(f"--resume: no checkpoint in {run_dir}, starting from scratch")
            for stale in (HISTORY, BEST_WEIGHTS, LAST_CHECKPOINT, STATE):
                (run_dir / stale).unlink(missing_ok=True)
            model = new_model(args, num_classes, steps_per_epoch)
    except (DataError, ModelFileError) as error:
        log(f"error: {error}")
        return EXIT_BAD_INPUT
    state["train_seconds_before"] = state.get("train_seconds", 0.0)
    state["commands"] = state.get("commands", []) + [command]
    log(f"network {model.name}: {model.count_params():,} parameters")

    train_model(args, model, train_ds, val_ds, steps_per_epoch, weights, state)

    save_model(args, model, x_val)
    metrics = calibrate_evaluate_and_record(args, model, data_path, x_train, x_val, y_val, split, state)
    log(f"wrote {args.out}: validation accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
