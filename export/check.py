"""The export checks itself: the written bundle runs in a real JS runtime and must agree with Keras.

`check_bundle(folder, model, faces)` runs `node export/check_bundle.cjs` (tfjs-core + tfjs-layers 4.22.0 from
node_modules, the page's versions) which serves the bundle over HTTP on 127.0.0.1 and loads it with
`tf.loadLayersModel(url)`, exactly as the page does, then predicts on the sample faces with the wasm backend (the
page's) and, on a few faces, the pure-JS cpu backend (the page's fallback). Keras predicts the same faces.

Pass criteria (what the page needs to give the same labels as Python): float32 weights: max |tfjs - Keras| <= 1e-4 on every probability; quantized weights
(float16, uint8): top-1 agreement >= 99 %. Anything else raises `ExportError` with the numbers.

`check_detector_bundle` does the same for a BlazeFace bundle against LiteRT running the .tflite it was rebuilt from,
on every media/ photo and a few footage/photos/ (letterboxed as core.detector does): Keras and tfjs (wasm on all, cpu
on a few) must give LiteRT's raw outputs within DETECTOR_ATOL + DETECTOR_RTOL * |LiteRT|; and for the face-check
network (core/face_check.py) on the crops of the faces found there and of boxes moved off them.

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
# Raw BlazeFace outputs (box offsets in input pixels, score logits), tfjs / Keras vs LiteRT: |diff| <= ATOL + RTOL * |LiteRT|.
# The relative part is for the anchors far from any face, whose raw values reach 10^4 (a float32 sum-order difference
# of 0.04 there moves nothing: they score 0); core/detector decodes only rows scoring >= 0.5.
DETECTOR_ATOL = 0.02
DETECTOR_RTOL = 1e-3
DETECTOR_FOOTAGE_PHOTOS = 8  # footage/photos checked besides every media/ photo
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


def run_node_outputs(folder: Path, inputs: np.ndarray, backend: str) -> tuple[list[np.ndarray], dict]:
    """Every output of the bundle on `inputs` (N, H, W, C), as tfjs computes it in Node: [array (N, *shape)], info."""
    node = node_binary()
    require_node_modules()
    with tempfile.TemporaryDirectory(prefix="facexp-check-") as tmp:
        in_file, out_file = Path(tmp) / "inputs.f32", Path(tmp) / "outputs.f32"
        np.ascontiguousarray(inputs, dtype="<f4").tofile(in_file)
        command = [node, str(NODE_SCRIPT), "--model", str(folder), "--input", str(in_file),
                   "--shape", ",".join(map(str, inputs.shape)), "--out", str(out_file), "--backend", backend]
        try:
            result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=NODE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ExportError(f"the tfjs check ({backend}) did not finish within {NODE_TIMEOUT_S} s") from None
        if result.returncode != 0:
            raise ExportError(f"the exported bundle failed in Node/tfjs ({backend} backend):\n{result.stderr.strip()[-3000:]}")
        info = json.loads(result.stdout.strip().splitlines()[-1])
        flat = np.fromfile(out_file, dtype="<f4")
    shapes = [tuple(shape) for shape in info["outputs"]]
    sizes = [len(inputs) * int(np.prod(shape)) for shape in shapes]
    if flat.size != sum(sizes):
        raise ExportError(f"tfjs returned {flat.size} numbers for {len(inputs)} inputs x outputs {shapes}")
    parts = np.split(flat, np.cumsum(sizes)[:-1])
    return [part.reshape(len(inputs), *shape) for part, shape in zip(parts, shapes)], info


def run_node(folder: Path, faces: np.ndarray, backend: str) -> tuple[np.ndarray, dict]:
    """A classifier bundle's probabilities (N, classes) on `faces`, as tfjs computes them in Node."""
    outputs, info = run_node_outputs(folder, faces, backend)
    if len(outputs) != 1 or outputs[0].ndim != 2:
        raise ExportError(f"a classifier bundle has one (N, classes) output; this one has {[o.shape for o in outputs]}")
    return outputs[0], info


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


def detector_sample_frames() -> tuple[list[np.ndarray], str]:
    """RGB frames to check the detector on: every media/ photo and a few footage/ photos (FACEXP_DATA)."""
    import cv2

    from train.data import data_dir

    root = data_dir()
    paths = sorted((root / "media").glob("*.jpg"))
    footage = sorted((root / "footage" / "photos").glob("*.jpg"))
    paths += footage[:: max(1, len(footage) // DETECTOR_FOOTAGE_PHOTOS)][:DETECTOR_FOOTAGE_PHOTOS]
    if not paths:
        raise ExportError(f"{root / 'media'}: no photos to check the detector on (set FACEXP_DATA)")
    frames = [cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB) for path in paths]
    return frames, f"{len(paths)} photos of media/ and footage/photos/"


def detector_raw_outputs(model: str, padding: float, frames: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The letterboxed input tensors (N, S, S, 3) of `frames` for one BlazeFace model (core.detector's letterbox and
    normalisation) and LiteRT's raw outputs [regressors (N, A, 16), classificators (N, A, 1)] on them."""
    from core.detector import PIXEL_SCALE, FaceDetector

    detector = FaceDetector(model, close_range=False, padding=padding)
    inputs, boxes, logits = [], [], []
    for frame in frames:
        image, _, _, _ = detector.letterbox(frame)
        tensor = image.astype(np.float32)[None] / PIXEL_SCALE - 1.0
        detector.interpreter.set_tensor(detector.input_index, tensor)
        detector.interpreter.invoke()
        inputs.append(tensor[0])
        boxes.append(detector.interpreter.get_tensor(detector.boxes_index)[0].copy())
        logits.append(detector.interpreter.get_tensor(detector.scores_index)[0].copy())
    return np.stack(inputs), [np.stack(boxes), np.stack(logits)]


def face_check_raw_outputs(frames: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The face-check inputs (N, 192, 192, 3) of every face the detector finds in `frames`, and of the same box moved
    by its own width to the right (mostly no face: the check's "no" side), and LiteRT's presence logits (N, 1, 1, 1)."""
    from core.detector import Detection, FaceDetector
    from core.face_check import FaceCheck, face_check_input

    detector, check = FaceDetector(), FaceCheck()
    inputs, logits = [], []
    for frame in frames:
        for face in detector.detect(frame):
            x, y, w, h = face.box
            moved = Detection([x + w, y, w, h], face.score, [[px + w, py] for px, py in face.keypoints])
            for detection in (face, moved):
                inputs.append(face_check_input(frame, detection.box, detection.keypoints))
                logits.append(np.full((1, 1, 1), check.presence_logit(frame, detection), np.float32))
    if not inputs:
        raise ExportError("no face found in the sample photos to check the face-check network on")
    return np.stack(inputs), [np.stack(logits)]


def check_detector_bundle(folder: Path, model, name: str, padding: float | None, log=print) -> dict:
    """A BlazeFace bundle (or, with padding None, the face-check network's) against LiteRT on real photos: Keras (the
    rebuilt model) and tfjs in Node (wasm on every input, cpu on a few) must give LiteRT's raw outputs within
    DETECTOR_ATOL + DETECTOR_RTOL * |LiteRT|. Returns the numbers (max |diff| per runtime)."""
    frames, source = detector_sample_frames()
    if padding is None:
        inputs, litert = face_check_raw_outputs(frames)
        source = f"{len(inputs)} face and moved-box crops of {source}"
    else:
        inputs, litert = detector_raw_outputs(name, padding, frames)
    keras_out = model.predict(inputs, verbose=0, batch_size=16)
    keras_out = [np.asarray(o) for o in (keras_out if isinstance(keras_out, list) else [keras_out])]
    report = {"samples": source, "max_abs_diff": {}}

    def compare_outputs(label: str, outputs: list[np.ndarray]) -> float:
        if [o.shape[1:] for o in outputs] != [r.shape[1:] for r in litert]:
            raise ExportError(f"{label}: outputs {[o.shape for o in outputs]} differ from LiteRT's {[o.shape for o in litert]}")
        diff = max(float(np.abs(o - ref[: len(o)]).max()) for o, ref in zip(outputs, litert))
        worst = max(float((np.abs(o - ref[: len(o)]) / (DETECTOR_ATOL + DETECTOR_RTOL * np.abs(ref[: len(o)]))).max())
                    for o, ref in zip(outputs, litert))
        if not np.isfinite(worst) or worst > 1:
            raise ExportError(f"{name}: {label} differs from LiteRT by {worst:.2f} x the tolerance "
                              f"({DETECTOR_ATOL:g} + {DETECTOR_RTOL:g} x |LiteRT|; max |diff| {diff:.3g}) on {source}")
        report["max_abs_diff"][label] = float(f"{diff:.3g}")
        return diff

    diff = compare_outputs("keras", keras_out)
    log(f"  {name}: Keras vs LiteRT on {source}: max |diff| = {diff:.2e}")
    for backend, subset in (("wasm", inputs), ("cpu", inputs[:CPU_BACKEND_SAMPLES])):
        outputs, info = run_node_outputs(folder, subset, backend)
        diff = compare_outputs(f"tfjs_{backend}", outputs)
        log(f"  {name}: tfjs {backend} vs LiteRT on {len(subset)} inputs: max |diff| = {diff:.2e}, "
            f"{info['ms_per_face']:.1f} ms per input in Node")
    return report
