"""Per-frame latency of the face pipeline at 640x480, split by stage (median and p95, milliseconds).

    nice -n 19 .venv/bin/python -m bench.pipeline_latency [--frames 200] [--emotion-model DIR]

Frames: media photos letterboxed into 640x480 (1 face: obama.jpg; 4 faces: bbt1.jpg; 6 faces: 2008_002506.jpg,
two_people.jpg and happy.jpg stacked top to bottom), from FACEXP_DATA/media.
Wall-clock times depend on what else runs (this machine is shared with a training job); the CPU time of the calling
thread (every stage runs in it: LiteRT with one thread) is what a frame costs on an idle core.
Also times the detector alone for both BlazeFace models (short and full range) and how many faces each finds
in the media photos, which is how the default detector was chosen.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from core.detector import DETECTOR_MODELS, FaceDetector
from core.pipeline import FacePipeline
from tests.harness import webcam_frame
from train.data import data_dir

SCENES = {"1 face": ("obama.jpg",), "4 faces": ("bbt1.jpg",), "6 faces": ("2008_002506.jpg", "two_people.jpg", "happy.jpg")}
DETECTOR_PHOTOS = {"obama_and_biden.jpg": 2, "bbt1.jpg": 4, "2008_002506.jpg": 3, "two_people.jpg": 2, "happy.jpg": 1}
STAGES = ("detect", "crop", "emotion", "mask", "smooth", "draw", "total")
WARMUP = 10


def percentiles(values) -> tuple[float, float]:
    return float(np.median(values)), float(np.percentile(values, 95))


def scene_frame(media: Path, photos: tuple[str, ...]) -> np.ndarray:
    """The photos stacked top to bottom at the width of the narrowest, letterboxed into a 640x480 frame."""
    import tempfile

    import cv2

    if len(photos) == 1:
        return webcam_frame(media / photos[0])
    images = [cv2.imread(str(media / name)) for name in photos]
    width = min(image.shape[1] for image in images)
    stacked = np.concatenate([cv2.resize(i, (width, round(i.shape[0] * width / i.shape[1])), interpolation=cv2.INTER_AREA)
                              for i in images])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scene.png"
        cv2.imwrite(str(path), stacked)
        return webcam_frame(path)


def bench_pipeline(pipeline: FacePipeline, frame: np.ndarray, frames: int) -> dict:
    for _ in range(WARMUP):
        pipeline.run(frame)
    wall = {stage: [] for stage in STAGES}
    cpu = {stage: [] for stage in STAGES}
    faces = 0
    for _ in range(frames):
        start, cpu_start = time.perf_counter(), time.thread_time()
        _, result = pipeline.run(frame)
        result.timings_ms["total"] = (time.perf_counter() - start) * 1000  # process + draw
        result.cpu_ms["total"] = (time.thread_time() - cpu_start) * 1000
        faces = len(result.faces)
        for stage in STAGES:
            wall[stage].append(result.timings_ms.get(stage, 0.0))
            cpu[stage].append(result.cpu_ms.get(stage, 0.0))
    return {"faces": faces, "wall": {stage: percentiles(v) for stage, v in wall.items()},
            "cpu": {stage: percentiles(v) for stage, v in cpu.items()}}


def bench_detector(model: str, media: Path, frames: int) -> dict:
    detector = FaceDetector(model)
    found = {}
    for name, expected in DETECTOR_PHOTOS.items():
        import cv2

        photo = cv2.cvtColor(cv2.imread(str(media / name)), cv2.COLOR_BGR2RGB)
        found[name] = f"{len(detector.detect(photo))}/{expected} (640x480: {len(detector.detect(webcam_frame(media / name)))})"
    frame = webcam_frame(media / SCENES["4 faces"][0])
    for _ in range(WARMUP):
        detector.detect(frame)
    times, cpu_times = [], []
    for _ in range(frames):
        start, cpu_start = time.perf_counter(), time.thread_time()
        detector.detect(frame)
        times.append((time.perf_counter() - start) * 1000)
        cpu_times.append((time.thread_time() - cpu_start) * 1000)
    return {"found": found, "ms": percentiles(times), "cpu_ms": percentiles(cpu_times)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--emotion-model", type=Path)
    parser.add_argument("--mask-model", type=Path)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    media = data_dir() / "media"

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()} {platform.processor() or ''}, "
          f"Python {platform.python_version()}, {args.frames} frames per row\n")
    report = {"detector": {}, "pipeline": {}}
    print("| detector | input | ms per 640x480 frame, wall (median / p95) | CPU ms (median / p95) | faces found (photo, 640x480) |\n|---|---|---|---|---|")
    for model, config in DETECTOR_MODELS.items():
        row = report["detector"][model] = bench_detector(model, media, args.frames)
        found = ", ".join(f"{name} {text}" for name, text in row["found"].items())
        print(f"| {model} range | {config['input_size']} | {row['ms'][0]:.1f} / {row['ms'][1]:.1f} | "
              f"{row['cpu_ms'][0]:.1f} / {row['cpu_ms'][1]:.1f} | {found} |")

    pipeline = FacePipeline(args.emotion_model, args.mask_model)
    print(f"\nexpression model: {pipeline.emotion_model.folder} (tta: {', '.join(pipeline.emotion_model.tta) or 'none'}); "
          f"mask model: {pipeline.mask_model.folder if pipeline.mask_model else 'none'}\n")
    print("| frame | clock | " + " | ".join(STAGES) + " |\n|---|---|" + "---|" * len(STAGES))
    for scene, photos in SCENES.items():
        photo = " + ".join(photos)
        row = report["pipeline"][scene] = bench_pipeline(pipeline, scene_frame(media, photos), args.frames)
        for clock in ("cpu", "wall"):
            cells = " | ".join(f"{row[clock][stage][0]:.1f} / {row[clock][stage][1]:.1f}" for stage in STAGES)
            print(f"| 640x480, {row['faces']} face(s) ({photo}) | {clock} | {cells} |")
    print("\n(median / p95 ms per stage; total = process + draw around `FacePipeline.run`; cpu = CPU time of the calling "
          "thread, where every stage runs, i.e. the latency on an otherwise idle core; wall = elapsed time on this shared "
          "machine)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
