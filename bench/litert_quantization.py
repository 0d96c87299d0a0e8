"""LiteRT weight formats for an expression model folder, side by side in one run: size, top-1 agreement with Keras and
accuracy on all FER2013 PublicTest faces, and CPU ms per face (flip TTA) at batch 1 and 6.

    .venv/bin/python -m bench.litert_quantization [--model models/emotion]

Formats: float32; dynamic-range (int8 weights, float activations); float16 weights; full int8 (calibrated on 400
PublicTest faces). Converted with TensorFlow's TFLiteConverter, run by the `ai-edge-litert` interpreter with one
thread. The bar for shipping a quantized model: top-1 agreement >= 99.5 % (at most 1 face in 200 labelled otherwise).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from tests.harness import litert_cpu_ms_per_call

FORMATS = ("float32", "dynamic-range int8", "float16", "int8")
BATCH = 256


def convert(model, fmt: str, calibration: np.ndarray) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if fmt != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if fmt == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if fmt == "int8":
        converter.representative_dataset = lambda: ([calibration[i:i + 4]] for i in range(0, len(calibration), 4))
    return converter.convert()


def run_all(content: bytes, faces: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=1)
    index, output = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    outputs = []
    for start in range(0, len(faces), BATCH):
        batch = faces[start:start + BATCH]
        interpreter.resize_tensor_input(index, batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, batch)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output).copy())
    return np.concatenate(outputs)


def cpu_ms_per_face(content: bytes, faces: np.ndarray, count: int, runs: int = 200) -> float:
    batch = np.ascontiguousarray(np.concatenate([faces[:count], faces[:count, :, ::-1]]))  # flip TTA
    return litert_cpu_ms_per_call(content, batch, runs) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/emotion"))
    args = parser.parse_args()

    from core.model_folder import load_keras_model
    from train.data import data_dir, load_fer2013

    model, _ = load_keras_model(args.model)
    faces, labels, _ = load_fer2013(data_dir() / "fer2013" / "fer2013_train_public.csv.gz", usage="PublicTest")
    faces = faces.astype(np.float32)
    reference = model.predict(faces, batch_size=BATCH, verbose=0).argmax(axis=1)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.model}, {len(faces)} PublicTest faces, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| weights | .tflite MB | top-1 agreement with Keras | accuracy (no TTA) | CPU ms/face batch 1 | batch 6 |")
    print("|---|---|---|---|---|---|")
    for fmt in FORMATS:
        content = convert(model, fmt, faces[:400])
        predicted = run_all(content, faces).argmax(axis=1)
        one, six = cpu_ms_per_face(content, faces, 1), cpu_ms_per_face(content, faces, 6)
        print(f"| {fmt} | {len(content) / 1e6:.2f} | {100 * (predicted == reference).mean():.2f} % | "
              f"{100 * (predicted == labels).mean():.2f} % | {one:.2f} | {six:.2f} |", flush=True)


if __name__ == "__main__":
    main()
