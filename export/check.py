"""The export checks itself: the written bundle runs in a real JS runtime and must agree with Keras.

`check_bundle(folder, model, faces)` runs `node export/check_bundle.cjs` (tfjs-core + tfjs-layers 4.9.0 from
node_modules, the page's versions) which serves the bundle over HTTP on 127.0.0.1 and loads it with
`tf.loadLayersModel(url)`, exactly as the page does, then predicts on the sample faces with the wasm backend (the
page's) and, on a few faces, the pure-JS cpu backend (the page's fallback). Keras predicts the same faces.

Pass criteria (what the page needs to give the same labels as Python): float32 weights: max |tfjs - Keras| <= 1e-4 on every probability; quantized weights
(float16, uint8): top-1 agreement >= 99 %. Anything else raises `ExportError` with the numbers.

Sample faces: the expression model gets FER2013's PublicTest faces (all 3,589 by default); the mask model gets the
face-mask images resized to its input, as training reads them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from export import ExportError

REPO = Path(__file__).resolve().parent.parent
NODE_SCRIPT = Path(__file__).resolve().parent / "check_bundle.cjs"
FLOAT32_MAX_ABS_DIFF = 1e-4
QUANTIZED_MIN_TOP1_AGREEMENT = 0.99
CPU_BACKEND_SAMPLES = 8  # the pure-JS backend takes ~0.3 s per face here; a few faces prove it loads and agrees
NODE_TIMEOUT_S = 900


def node_binary() -> str:
    node = os.environ.get("NODE") or shutil.which("node")
    if not node:
        raise ExportError("node (Node.js >= 18) is not on PATH; it runs the exported bundle to check it (apt-get install nodejs)")
    return node


def require_node_modules() -> None:
    for package in ("tfjs-core", "tfjs-layers", "tfjs-backend-wasm", "tfjs-backend-cpu"):
        if not (REPO / "node_modules" / "@tensorflow" / package / "package.json").is_file():
            raise ExportError(f"node_modules/@tensorflow/{package} is missing: run `npm ci` (or `make setup`) in {REPO}")


def sample_faces(task: str, size: int, channels: int, limit: int | None = None) -> tuple[np.ndarray, str]:
    """float32 (N, size, size, channels) 0-255 sample faces for a task, and where they came from."""
    from core.labels import MASK_LABELS
    from train.data import FER2013_CSV, data_dir, load_fer2013_csv, load_image_folder

    root = data_dir()
    if task == "emotion":
        if (size, channels) != (48, 1):
            raise ExportError(f"the expression model takes {size}x{size}x{channels}; FER2013 faces are 48x48x1")
        csv_path = root / FER2013_CSV
        if not csv_path.is_file():
            raise ExportError(f"{csv_path}: FER2013 CSV not found (set FACEXP_DATA); the check needs its PublicTest faces")
        images, _, _ = load_fer2013_csv(csv_path, usage="PublicTest")
        source = f"FER2013 PublicTest ({csv_path.name})"
    elif task == "mask":
        folder = root / "facemask"
        if not folder.is_dir():
            raise ExportError(f"{folder}: face-mask images not found (set FACEXP_DATA); the check needs them")
        images, _, _, _ = load_image_folder(folder, MASK_LABELS, size, channels, skip_bad_rows=True)
        source = f"face-mask images ({folder.parent.name}/{folder.name})"
    else:
        raise ExportError(f"no sample faces for task {task!r}")
    if limit is not None and limit < len(images):
        # spread over the whole set (it is sorted by class)
        images = images[np.linspace(0, len(images) - 1, limit).round().astype(int)]
    return images.astype(np.float32), f"{len(images)} {source}"


def keras_probabilities(model, faces: np.ndarray, batch: int = 256) -> np.ndarray:
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False))
    return np.concatenate([call(tf.constant(faces[i:i + batch])).numpy() for i in range(0, len(faces), batch)])


def run_node(folder: Path, faces: np.ndarray, backend: str) -> tuple[np.ndarray, dict]:
    node = node_binary()
    require_node_modules()
    with tempfile.TemporaryDirectory(prefix="facexp-check-") as tmp:
        inputs, outputs = Path(tmp) / "faces.f32", Path(tmp) / "probs.f32"
        np.ascontiguousarray(faces, dtype="<f4").tofile(inputs)
        command = [node, str(NODE_SCRIPT), "--model", str(folder), "--input", str(inputs),
                   "--shape", ",".join(map(str, faces.shape)), "--out", str(outputs), "--backend", backend]
        try:
            result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=NODE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ExportError(f"the tfjs check ({backend}) did not finish within {NODE_TIMEOUT_S} s") from None
        if result.returncode != 0:
            raise ExportError(f"the exported bundle failed in Node/tfjs ({backend} backend):\n{result.stderr.strip()[-3000:]}")
        info = json.loads(result.stdout.strip().splitlines()[-1])
        probs = np.fromfile(outputs, dtype="<f4")
    if probs.size != len(faces) * info["classes"]:
        raise ExportError(f"tfjs returned {probs.size} numbers for {len(faces)} faces x {info['classes']} classes")
    return probs.reshape(len(faces), info["classes"]), info


def compare(reference: np.ndarray, probs: np.ndarray) -> dict:
    if probs.shape != reference.shape:
        raise ExportError(f"tfjs output shape {probs.shape} differs from Keras {reference.shape}")
    if not np.all(np.isfinite(probs)):
        raise ExportError("tfjs produced NaN or infinite probabilities")
    return {
        "max_abs_diff": float(np.abs(probs - reference).max()),
        "top1_agreement": float((probs.argmax(1) == reference.argmax(1)).mean()),
    }


def check_bundle(folder: Path, model, faces: np.ndarray, quantization: str | None, log=print) -> dict:
    """Run the bundle in Node (wasm on every face, cpu on a few) and compare with Keras. Returns the numbers."""
    reference = keras_probabilities(model, faces)
    report = {"samples": int(len(faces)), "weights": quantization or "float32"}
    for backend, subset in (("wasm", faces), ("cpu", faces[:CPU_BACKEND_SAMPLES])):
        probs, info = run_node(folder, subset, backend)
        numbers = compare(reference[: len(subset)], probs)
        log(f"  tfjs {backend:4s} on {len(subset)} faces: max |tfjs - keras| = {numbers['max_abs_diff']:.2e}, "
            f"top-1 agreement {numbers['top1_agreement']:.3%}, {info['ms_per_face']:.1f} ms/face in Node")
        if quantization is None and numbers["max_abs_diff"] > FLOAT32_MAX_ABS_DIFF:
            raise ExportError(f"tfjs ({backend}) differs from Keras by up to {numbers['max_abs_diff']:.3g} "
                             f"(> {FLOAT32_MAX_ABS_DIFF:g} allowed for float32 weights)")
        if quantization is not None and numbers["top1_agreement"] < QUANTIZED_MIN_TOP1_AGREEMENT:
            raise ExportError(f"tfjs ({backend}, {quantization} weights) agrees with Keras on only "
                             f"{numbers['top1_agreement']:.3%} of top-1 labels ({QUANTIZED_MIN_TOP1_AGREEMENT:.0%} required)")
        report[backend] = {"faces": int(len(subset)), "max_abs_diff": float(f"{numbers['max_abs_diff']:.3g}"),
                           "top1_agreement": round(numbers["top1_agreement"], 4)}
    return report
