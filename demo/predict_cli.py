"""Label the faces of images and videos from the shell (other tools call this; keep the interface stable).

    python app.py predict INPUT [INPUT ...] [--json] [--out DIR]

--json prints one JSON object per image on stdout (logs go to stderr):
    {"input": path, "faces": [{"box": [x, y, w, h], "score": detector confidence,
      "emotion": {"label": str, "scores": {label: prob}}, "mask": {"label": ..., "score": prob} | null}], "ms": ms}
and for a video one object per frame, with a "frame" index. An input that cannot be read gives
    {"input": path, "error": message, "faces": []}
and the exit code is 1. A folder stands for the image and video files directly in it (sorted by name; other files and
sub-folders are skipped, said on stderr). Without --json a short line per image is printed; --out DIR writes annotated copies
(images keep their format, videos become .webm).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_INPUT_ERROR = 0, 1
PROGRESS_EVERY = 100  # videos: a progress line on stderr every this many frames

log = logging.getLogger("facexp.predict")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python app.py predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image or video files, or folders of them")
    parser.add_argument("--json", action="store_true", help="one JSON object per image / video frame on stdout")
    parser.add_argument("--out", type=Path, help="folder for annotated copies")
    parser.add_argument("--emotion-model", type=Path, help="expression model folder (default: env FACEXP_EMOTION_MODEL or models/emotion)")
    parser.add_argument("--mask-model", type=Path, help="mask model folder (default: env FACEXP_MASK_MODEL or models/mask; optional)")
    parser.add_argument("--no-smoothing", action="store_true", help="videos: label each frame on its own (no tracking)")
    parser.add_argument("--max-frames", type=int, help="videos: stop after this many frames")
    return parser.parse_args(argv)


def read_image(path: Path):
    """An image file as an array (RGB, RGBA or gray, as stored), or `InputError` saying why not."""
    import cv2
    import numpy as np

    from core.pipeline import InputError

    if path.is_dir():
        raise InputError(f"{path}: is a directory with no image or video files")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        try:
            from PIL import Image

            with Image.open(path) as pil_image:
                return np.asarray(pil_image.convert("RGB"))
        except Exception:
            raise InputError(f"{path}: not an image file (or a corrupt one)") from None
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".jp2", ".pgm", ".ppm", ".pbm")


def expand_inputs(paths: list[Path], recursive: bool = False) -> list[Path]:
    """Each folder replaced by the image and video files directly in it (sorted; with `recursive`, those of its
    sub-folders too; names starting with "." are left out); files are kept as given."""
    from core.video import VIDEO_SUFFIXES

    expanded = []
    for path in paths:
        if not path.is_dir():
            expanded.append(path)
            continue
        if recursive:
            entries = sorted(p for p in path.rglob("*")
                             if not any(part.startswith(".") for part in p.relative_to(path).parts) and not p.is_dir())
        else:
            entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        media = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES]
        skipped = len(entries) - len(media)
        if skipped:
            log.info("%s: %d of %d entries skipped (not image or video files%s)", path, skipped, len(entries),
                     "" if recursive else ", or sub-folders")
        expanded.extend(media if media else [path])  # an empty folder stays, to be reported
    return expanded


def emit(record: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
        return
    where = record["input"] + (f" frame {record['frame']}" if "frame" in record else "")
    if "error" in record:
        print(f"{where}: error: {record['error']}", flush=True)
        return
    faces = ", ".join(
        f"{face['emotion']['label']} {face['emotion']['scores'][face['emotion']['label']]:.2f}"
        + (f" ({face['mask']['label']})" if face["mask"] else "")
        for face in record["faces"]
    )
    print(f"{where}: {len(record['faces'])} face(s){': ' + faces if faces else ''} [{record['ms']:.1f} ms]", flush=True)


def predict_image(pipeline, path: Path, out_dir: Path | None, as_json: bool) -> None:
    import cv2

    image = read_image(path)
    if out_dir is not None:
        annotated, result = pipeline.run(image)
        cv2.imwrite(str(out_dir / path.name), cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
    else:
        result = pipeline.process(image)
    if result.note:
        log.warning("%s: %s", path, result.note)
    emit({"input": str(path), "faces": result.faces, "ms": result.timings_ms["total"]}, as_json)


def predict_video(pipeline, path: Path, out_dir: Path | None, as_json: bool, smoothing: bool, max_frames: int | None) -> None:
    from core.tracking import FaceTracker
    from core.video import VideoWriter, video_info

    fps, count = video_info(path)
    total = min(count, max_frames) if count and max_frames else (count or max_frames)
    log.info("%s: %s frames at %.1f frames/s%s", path, count or "an unknown number of", fps,
             f"; only the first {max_frames} are labelled (--max-frames)" if max_frames and (not count or count > max_frames) else "")
    tracker = FaceTracker() if smoothing else None
    writer = VideoWriter(out_dir / path.name, fps) if out_dir is not None else None
    try:
        for index, result in pipeline.run_video(path, tracker, writer, max_frames):
            emit({"input": str(path), "frame": index, "faces": result.faces, "ms": result.timings_ms["total"]}, as_json)
            if (index + 1) % PROGRESS_EVERY == 0:
                log.info("%s: %d%s frames done", path, index + 1, f" of {total}" if total else "")
    finally:
        if writer is not None:
            writer.close()


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from core.pipeline import EXIT_NO_MODELS, InputError, load_pipeline
    from core.video import VideoError, is_video_path

    pipeline = load_pipeline(args.emotion_model, args.mask_model)
    if pipeline is None:
        return EXIT_NO_MODELS
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)

    status = EXIT_OK
    for path in expand_inputs(args.inputs):
        try:
            if is_video_path(path) and not path.is_dir():
                predict_video(pipeline, path, args.out, args.json, not args.no_smoothing, args.max_frames)
            else:
                predict_image(pipeline, path, args.out, args.json)
        except (InputError, VideoError) as error:
            status = EXIT_INPUT_ERROR
            message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
            log.error("%s", message)
            emit({"input": str(path), "error": message, "faces": []}, args.json)
    return status
