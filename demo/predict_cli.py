"""Label the faces of images and videos from the shell (other tools call this; keep the interface stable).

    python app.py predict INPUT [INPUT ...] [--json] [--out DIR]

--json prints one JSON object per image on stdout (logs go to stderr):
    {"input": path, "faces": [{"box": [x, y, w, h], "score": detector confidence,
      "emotion": {"label": str, "scores": {label: prob}} | null, "mask": {"label": ..., "score": prob} | null,
      "too_small": bool, "head_turned": bool}], "ms": ms}
and for a video one object per frame, with a "frame" index (emotion is null for a masked face, for a head turned
too far to read it (head_turned) and for a face too small to judge, whose mask is null too: core/pipeline.py). An input that cannot be read gives
    {"input": path, "error": message, "faces": []}
and the exit code is 1. A folder stands for the image and video files directly in it (sorted by name; other files and
sub-folders are skipped, said on stderr). Without --json a short line per image is printed.

--out DIR writes annotated copies (images keep their format, except .pgm/.pbm, which become .png; videos become .mp4:
H.264 at most 1280 pixels wide, `core.video.VideoWriter`), and each record then has "output": the copy's path. Nothing
is ever written over an input or over another copy of the same run: two inputs with the same name get `name.jpg` and
`name-2.jpg`, and a DIR that holds inputs is refused (exit 2) unless --allow-input-folder is given (a copy then never
takes an input's name). Every copy is written under a temporary name and renamed once complete; a copy that cannot be
written (a full disk, no permission) is an error naming the file, leaves nothing behind, and the exit code is 3.

Sizes are checked from the file headers before anything is decoded (core/input_limits.py): images over 100 megapixels,
video frames over 4096x2160 and videos over 10 minutes are refused (--max-frames lifts the duration limit: the user
has bounded the work); an image whose header PIL cannot read is not decoded at all. Inputs refused from their headers
never load the models.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from core.draw import expression_text

EXIT_OK, EXIT_INPUT_ERROR, EXIT_USAGE, EXIT_WRITE_ERROR = 0, 1, 2, 3
ANNOTATED_SUFFIXES = {".pgm": ".png", ".pbm": ".png"}  # grey-only formats: the coloured copy is written as PNG
PROGRESS_EVERY = 100  # videos: a progress line on stderr every this many frames
MAX_VIDEO_SECONDS = 600  # longer videos need --max-frames (every frame is labelled: an hour is hours of CPU)

log = logging.getLogger("facexp.predict")


class UsageError(Exception):
    """Arguments that cannot be followed (the message names the argument); exit EXIT_USAGE."""


class OutputError(Exception):
    """An annotated copy that could not be written; the message names the file."""

    def __init__(self, path: Path, error: OSError):
        reason = getattr(error, "strerror", None) or str(error)
        super().__init__(f"{path}: cannot write the annotated copy ({reason}); nothing was left there")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python app.py predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image or video files, or folders of them")
    parser.add_argument("--json", action="store_true", help="one JSON object per image / video frame on stdout")
    parser.add_argument("--out", type=Path, help="folder for annotated copies (created if missing; not a folder that "
                                                 "holds inputs, unless --allow-input-folder)")
    parser.add_argument("--allow-input-folder", action="store_true",
                        help="let --out hold inputs; a copy then never takes an input's name (name-2.jpg)")
    parser.add_argument("--emotion-model", type=Path, help="expression model folder (default: env FACEXP_EMOTION_MODEL or models/emotion)")
    parser.add_argument("--mask-model", type=Path, help="mask model folder (default: env FACEXP_MASK_MODEL or models/mask; optional)")
    parser.add_argument("--no-smoothing", action="store_true", help="videos: label each frame on its own (no tracking)")
    parser.add_argument("--max-frames", type=positive_int, help="videos: stop after this many frames (at least 1)")
    args = parser.parse_args(argv)
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out}: is a file, not a folder")
    return args


def read_image(path: Path):
    """An image file as an array (RGB, RGBA or gray, as stored: core.image_files.read_image, shared with the Gradio
    app; its header is checked before decoding), or `InputError` naming the file and saying why not."""
    from core.image_files import read_image as read_image_file
    from core.pipeline import InputError

    if path.is_dir():
        raise InputError(f"{path}: is a directory with no image or video files")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return read_image_file(path)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def check_header(path: Path, max_frames: int | None) -> None:
    """`InputError` when the file's header shows it over the size limits (core/input_limits.py); nothing is decoded.
    With --max-frames the duration is not limited."""
    from core.input_limits import check_image_header, check_video_header
    from core.pipeline import InputError
    from core.video import is_video_path

    if not path.is_file():
        return  # told later, in its turn
    try:
        if is_video_path(path):
            check_video_header(path, max_seconds=None if max_frames else MAX_VIDEO_SECONDS)
        else:
            check_image_header(path)
    except ValueError as error:
        hint = " (--max-frames N labels only the first N frames)" if "lasts" in str(error) else ""
        raise InputError(f"{path}: {error}{hint}") from None


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


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def holds_inputs(folder: Path, inputs: list[Path]) -> list[Path]:
    """The inputs that sit directly in `folder` (symbolic links and other spellings of the folder included)."""
    if not folder.is_dir():
        return []
    return [path for path in inputs if path.is_file() and same_file(path.resolve().parent, folder)]


def plan_outputs(inputs: list[Path], out_dir: Path) -> dict[Path, Path]:
    """Where each input file's annotated copy goes: `out_dir/<its name>` (a video's as .mp4, ANNOTATED_SUFFIXES
    applied), with -2, -3, ... before the suffix when that name is already another input's copy, or is an input itself
    (or its temporary name, `core.files.temporary_path`, would be). So no copy is written over an input or over
    another copy of this run."""
    from core.files import temporary_path
    from core.video import OUTPUT_SUFFIX, is_video_path

    files = [path for path in inputs if path.is_file()]
    resolved_inputs = {path.resolve() for path in files}

    def is_input(candidate: Path) -> bool:
        return candidate.resolve() in resolved_inputs or any(same_file(candidate, path) for path in files)

    plan, taken = {}, set()
    for path in files:
        if path in plan:  # the same input given twice: one copy
            continue
        suffix = OUTPUT_SUFFIX if is_video_path(path) else ANNOTATED_SUFFIXES.get(path.suffix.lower(), path.suffix)
        candidate, number, reason = out_dir / (path.stem + suffix), 1, None
        while True:
            if candidate.resolve() in taken:
                reason = reason or "another input's copy"
            elif is_input(candidate) or is_input(temporary_path(candidate)):
                reason = reason or "an input"
            else:
                break
            number += 1
            candidate = out_dir / f"{path.stem}-{number}{suffix}"
        if reason:
            log.info("%s: its annotated copy is %s (%s would be %s)", path, candidate, path.stem + suffix, reason)
        taken.add(candidate.resolve())
        plan[path] = candidate
    return plan


def prepare_out_dir(out_dir: Path, inputs: list[Path], allow_input_folder: bool) -> None:
    """`UsageError` when --out holds inputs (without --allow-input-folder) or cannot be created."""
    held = holds_inputs(out_dir, inputs)
    if held and not allow_input_folder:
        more = f" and {len(held) - 1} more" if len(held) > 1 else ""
        raise UsageError(f"--out {out_dir}: this folder holds input files ({held[0].name}{more}); the annotated copies "
                         f"would sit beside the originals. Choose another folder, or add --allow-input-folder (a copy "
                         f"then never takes an input's name)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {out_dir}: cannot create the folder ({error.strerror or error})") from None


def emit(record: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
        return
    where = record["input"] + (f" frame {record['frame']}" if "frame" in record else "")
    if "error" in record:
        print(f"{where}: error: {record['error']}", flush=True)
        return
    faces = ", ".join(
        expression_text(face) + (f" {face['emotion']['scores'][face['emotion']['label']]:.2f}" if face["emotion"] else "")
        + (f" ({face['mask']['label']})" if face["mask"] else "")
        for face in record["faces"]
    )
    print(f"{where}: {len(record['faces'])} face(s){': ' + faces if faces else ''} [{record['ms']:.1f} ms]", flush=True)


def predict_image(pipeline, path: Path, output: Path | None, as_json: bool) -> None:
    import cv2

    from core.files import write_image_atomically

    image = read_image(path)
    record = {"input": str(path)}
    if output is not None:
        annotated, result = pipeline.run(image, photo=True)
        try:
            write_image_atomically(output, cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
        except OSError as error:
            raise OutputError(output, error) from None
        record["output"] = str(output)
    else:
        result = pipeline.process(image, photo=True)
    if result.note:
        log.warning("%s: %s", path, result.note)
    emit({**record, "faces": result.faces, "ms": result.timings_ms["total"]}, as_json)


def predict_video(pipeline, path: Path, output: Path | None, as_json: bool, smoothing: bool, max_frames: int | None) -> None:
    from core.tracking import FaceTracker
    from core.video import VideoWriter, video_info

    fps, count = video_info(path)
    total = min(count, max_frames) if count and max_frames else (count or max_frames)
    log.info("%s: %s frames at %.1f frames/s%s", path, count or "an unknown number of", fps,
             f"; only the first {max_frames} are labelled (--max-frames)" if max_frames and (not count or count > max_frames) else "")
    tracker = FaceTracker() if smoothing else None
    writer = VideoWriter(output, fps) if output is not None else None
    record = {"input": str(path)} if output is None else {"input": str(path), "output": str(output)}
    try:
        for index, result in pipeline.run_video(path, tracker, writer, max_frames):
            emit({**record, "frame": index, "faces": result.faces, "ms": result.timings_ms["total"]}, as_json)
            if (index + 1) % PROGRESS_EVERY == 0:
                log.info("%s: %d%s frames done", path, index + 1, f" of {total}" if total else "")
        if writer is not None:
            writer.close()
    except OSError as error:  # with a writer, only it raises OSError here (reading errors are VideoError)
        if writer is None:
            raise
        writer.discard()
        raise OutputError(output, error) from None
    except BaseException:
        if writer is not None:
            writer.discard()
        raise


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from core.pipeline import EXIT_NO_MODELS, InputError, load_pipeline
    from core.video import VideoError, is_video_path

    inputs = expand_inputs(args.inputs)
    outputs: dict[Path, Path] = {}
    if args.out is not None:
        try:
            prepare_out_dir(args.out, inputs, args.allow_input_folder)
        except UsageError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
        outputs = plan_outputs(inputs, args.out)

    refused: dict[Path, InputError] = {}  # over the size limits, from the headers alone: no model is needed for them
    for path in inputs:
        try:
            check_header(path, args.max_frames)
        except InputError as error:
            refused[path] = error
    pipeline = None
    if len(refused) < len(inputs):
        pipeline = load_pipeline(args.emotion_model, args.mask_model)
        if pipeline is None:
            return EXIT_NO_MODELS

    status = EXIT_OK
    for path in inputs:
        try:
            if path in refused:
                raise refused[path]
            if is_video_path(path) and not path.is_dir():
                predict_video(pipeline, path, outputs.get(path), args.json, not args.no_smoothing, args.max_frames)
            else:
                predict_image(pipeline, path, outputs.get(path), args.json)
        except (InputError, VideoError, OutputError) as error:
            status = max(status, EXIT_WRITE_ERROR if isinstance(error, OutputError) else EXIT_INPUT_ERROR)
            message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
            log.error("%s", message)
            emit({"input": str(path), "error": message, "faces": []}, args.json)
    return status
