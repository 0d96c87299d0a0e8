"""Label many videos and photos on Ray Data, on this machine or a cluster (other tools call this; keep it stable).

    python app.py batch INPUT [INPUT ...] --out DIR [--workers N] [--address auto|HOST:PORT]
                        [--max-frames N] [--segment-frames N]

INPUT: files, folders (sub-folders included) or glob patterns of videos and photos. For each file, in DIR:
    <name>.faces.parquet     every face of every frame (batch.faces)
    <name>.summary.csv       duration, frames, faces, people, time per expression per person, unmasked share
    <name>.expressions.png   expression probabilities over time, one panel per person
and on stdout one JSON line when the file is finished:
    {"input": path, "frames": n, "faces": n, "people": n, "duration_s": s, "faces_table": path, "summary": path,
     "plot": path}
or {"input": path, "error": why} for a file that cannot be labelled; those are also listed in DIR/failures.csv
(input, reason), and the run goes on (exit code 1). Logs and the progress bar go to stderr.

Resumable: a file's outputs are written under temporary names and renamed, the summary last; a file with all three
is never redone. Videos are labelled in segments (--segment-frames) that any worker may take; a killed run keeps the
segments it finished (DIR/.partial/) and the next run with the same DIR continues from there.

Without --address, Ray starts on this machine (one worker per core, or --workers) and stops at the end; with it, the
run joins that cluster: "auto" on one of its nodes, else the head's HOST:PORT (README: a two-node cluster with
`ray start`). A Ray Client address (ray://HOST:PORT) is refused with the reason: Ray Data cannot run through it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from batch.engine import ClusterAddressError
from batch.plan import (
    FACES_SUFFIX,
    FAILURES_FILE,
    PARTS_DIR,
    PLOT_SUFFIX,
    SEGMENT_FRAMES,
    SUMMARY_SUFFIX,
    InputFile,
    PlanError,
    Segment,
    find_inputs,
    make_segments,
    segment_ranges,
    stale_temporaries,
)

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FRAMES_KEY = b"frames"  # a part file's metadata: frames the segment labelled

log = logging.getLogger("facexp.batch")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python app.py batch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video or photo files, folders, glob patterns")
    parser.add_argument("--out", type=Path, required=True, help="output folder (a rerun into it resumes)")
    parser.add_argument("--workers", type=int, help="workers in the pool (default: each core of the machine or cluster)")
    parser.add_argument("--address", help="join a running Ray cluster: auto (on one of its nodes) or its HOST:PORT")
    parser.add_argument("--max-frames", type=int, help="videos: only the first N frames")
    parser.add_argument("--segment-frames", type=int, default=SEGMENT_FRAMES,
                        help=f"videos: frames per unit of work (default {SEGMENT_FRAMES})")
    parser.add_argument("--emotion-model", type=Path, help="expression model folder (default models/emotion)")
    parser.add_argument("--mask-model", type=Path, help="mask model folder (default models/mask; optional)")
    args = parser.parse_args(argv)
    for name in ("workers", "max_frames", "segment_frames"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


class BatchRun:
    """One run's state: the files, their segments, what is finished and what failed (see the module docstring)."""

    def __init__(self, out_dir: Path, files: list[InputFile], failures: list[tuple[str, str]]):
        self.out_dir = out_dir
        self.files = files
        self.failures = failures  # (input, reason)
        self.failed: set[int] = set()
        self.finished = 0

    def part_path(self, segment: Segment) -> Path:
        return self.files[segment.file].parts_dir(self.out_dir) / segment.part_name

    def fail(self, index: int, reason: str) -> None:
        file = self.files[index]
        if index in self.failed:
            return
        self.failed.add(index)
        self.failures.append((str(file.path), reason))
        shutil.rmtree(file.parts_dir(self.out_dir), ignore_errors=True)
        log.error("%s: %s", file.path, reason)
        emit({"input": str(file.path), "error": reason})
        self.write_failures()

    def write_failures(self) -> None:
        """DIR/failures.csv: this run's failures (removed when there are none)."""
        import csv
        import io

        from core.files import write_atomically

        path = self.out_dir / FAILURES_FILE
        if not self.failures:
            path.unlink(missing_ok=True)
            return
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["input", "reason"])
        writer.writerows(self.failures)
        write_atomically(path, text.getvalue())

    def save_part(self, segment: Segment, table_bytes: bytes, frames: int) -> None:
        import pyarrow.parquet as pq

        from batch.faces import from_bytes
        from core.files import write_via_temporary

        table = from_bytes(table_bytes)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), FRAMES_KEY: str(frames).encode()})
        path = self.part_path(segment)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_via_temporary(path, lambda tmp: pq.write_table(table, tmp))

    def finish(self, index: int) -> dict:
        """Stitch the file's segments, write its three outputs (summary last) and remove its parts."""
        import pyarrow.parquet as pq

        from batch.stitch import stitch_segments
        from batch.summary import PLOT_DPI, expression_plot, summary_csv, summary_rows
        from core.files import save_figure, write_atomically, write_via_temporary

        file = self.files[index]
        parts = [(segment.start, pq.read_table(self.part_path(segment))) for segment in file.segments]
        frames = sum(int(table.schema.metadata[FRAMES_KEY]) for _, table in parts)
        table = stitch_segments(parts).replace_schema_metadata(None)
        faces_path, plot_path, summary_path = (file.output(self.out_dir, suffix)
                                               for suffix in (FACES_SUFFIX, PLOT_SUFFIX, SUMMARY_SUFFIX))
        faces_path.parent.mkdir(parents=True, exist_ok=True)
        write_via_temporary(faces_path, lambda tmp: pq.write_table(table, tmp))
        fps = file.fps if file.is_video else 0.0
        rows = summary_rows(str(file.path), table, frames, fps)
        save_figure(expression_plot(str(file.path), table, fps, rows[0]["duration_s"]), plot_path, dpi=PLOT_DPI)
        write_atomically(summary_path, summary_csv(rows))
        shutil.rmtree(file.parts_dir(self.out_dir), ignore_errors=True)
        self.finished += 1
        return {"input": str(file.path), "frames": frames, "faces": table.num_rows, "people": rows[0]["people"],
                "duration_s": rows[0]["duration_s"], "faces_table": str(faces_path), "summary": str(summary_path),
                "plot": str(plot_path)}


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def plan_run(args) -> BatchRun:
    """The files and their segments; a file that cannot be opened at all is a failure already."""
    from core.video import VideoError, is_video_path, video_info

    files, failures = [], []
    for path, name in find_inputs(args.inputs, args.out):
        if not path.is_file():
            failures.append((str(path), "no such file" if not path.exists() else "not a file"))
            continue
        file = InputFile(path, name, is_video_path(path))
        if file.is_video:
            try:
                file.fps, count = video_info(path)
            except VideoError as error:
                failures.append((str(path), str(error)))
                continue
            file.frames = min(count, args.max_frames) if count and args.max_frames else count
            file.segments = make_segments(len(files), segment_ranges(count, args.max_frames, args.segment_frames))
        else:
            file.segments = make_segments(len(files), [(0, 1)])
        files.append(file)
    return BatchRun(args.out, files, failures)


def segment_row(run: BatchRun, number: int, segment: Segment) -> dict:
    """A segment as the workers get it (batch.labeller)."""
    from batch.labeller import NO_STOP

    file = run.files[segment.file]
    return {"segment": number, "path": str(file.path.resolve()), "file": str(file.path), "is_video": file.is_video,
            "fps": file.fps, "start": segment.start, "stop": NO_STOP if segment.stop is None else segment.stop,
            "warmup_start": segment.warmup_start}


def raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    signal.signal(signal.SIGTERM, raise_interrupt)  # `kill`: stop as Ctrl-C does (Ray shut down, parts kept)
    from tqdm import tqdm

    from core.model_folder import ModelFileError, check_folder_files
    from core.pipeline import EXIT_NO_MODELS, emotion_model_dir, mask_model_dir

    emotion_model, mask_model = args.emotion_model or emotion_model_dir(), args.mask_model or mask_model_dir()
    try:
        check_folder_files(emotion_model)
    except ModelFileError as error:
        print(f"error: cannot load the models: {error}", file=sys.stderr)
        return EXIT_NO_MODELS
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        run = plan_run(args)
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    for failure in run.failures:
        log.error("%s: %s", *failure)
        emit({"input": failure[0], "error": failure[1]})
    run.write_failures()
    for path in stale_temporaries(args.out, run.files):
        path.unlink()

    todo = [index for index, file in enumerate(run.files) if not file.is_done(args.out)]
    if len(todo) < len(run.files):
        log.info("%d of %d files already done in %s (not redone)", len(run.files) - len(todo), len(run.files), args.out)
    pending = [segment for index in todo for segment in run.files[index].segments
               if not run.part_path(segment).is_file()]
    left = {index: sum(not run.part_path(s).is_file() for s in run.files[index].segments) for index in todo}
    planned_frames = sum(run.files[index].frames for index in todo)
    started = time.perf_counter()
    bar = tqdm(total=planned_frames or None, unit="frame", file=sys.stderr, dynamic_ncols=True, disable=None,
               desc=f"files 0/{len(todo)}", smoothing=0.1)
    bar.update(sum(segment_frames(run, s) for index in todo for s in run.files[index].segments
                   if run.part_path(s).is_file()))

    def finish(index: int) -> None:
        record = run.finish(index)
        emit(record)
        bar.set_description(f"files {run.finished}/{len(todo)}")

    ray_run, status = None, EXIT_OK
    try:
        for index in [index for index in todo if left[index] == 0]:  # every segment was labelled before a kill
            finish(index)
        if pending:
            from batch.engine import label_segments, start_ray

            ray_started = time.perf_counter()
            try:
                ray_run = start_ray(args.address, args.workers)
            except (ClusterAddressError, ConnectionError) as error:
                print(f"error: {error}", file=sys.stderr)
                return EXIT_USAGE
            log.info("Ray %s in %.1f s: %d worker(s), %d segment(s) of %d file(s) to label",
                     "joined at " + args.address if args.address else "started", time.perf_counter() - ray_started,
                     ray_run.pool_size, len(pending), sum(1 for index in todo if left[index]))
            rows = [segment_row(run, number, segment) for number, segment in enumerate(pending)]
            for result in label_segments(ray_run, rows, emotion_model, mask_model):
                segment = pending[result["segment"]]
                index = segment.file
                bar.update(int(result["frames"]) if run.files[index].frames else 0)
                if index in run.failed:
                    continue
                if result["error"]:
                    run.fail(index, result["error"])
                    continue
                run.save_part(segment, result["table"], int(result["frames"]))
                left[index] -= 1
                if left[index] == 0:
                    finish(index)
    except KeyboardInterrupt:
        log.warning("interrupted: %d file(s) finished in this run; run the same command again to continue",
                    run.finished)
        status = EXIT_INTERRUPTED
    finally:
        bar.close()
        if ray_run is not None:
            from batch.engine import stop_ray

            stop_ray(ray_run)
    if status == EXIT_INTERRUPTED:
        return status
    remove_empty_folders(args.out / PARTS_DIR)
    log.info("%d file(s) finished, %d already done, %d failed, in %.1f s", run.finished, len(run.files) - len(todo),
             len(run.failures), time.perf_counter() - started)
    return EXIT_FAILURES if run.failures else EXIT_OK


def segment_frames(run: BatchRun, segment: Segment) -> int:
    """Frames a finished segment counted for (its part's record), for the progress bar."""
    import pyarrow.parquet as pq

    if not run.files[segment.file].frames:
        return 0
    return int(pq.read_schema(run.part_path(segment)).metadata[FRAMES_KEY])


def remove_empty_folders(folder: Path) -> None:
    """`folder` and the folders below it that hold no file (the parts' folders of files that are finished)."""
    if not folder.is_dir():
        return
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(path.iterdir()):
            path.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()
