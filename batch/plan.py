"""What a batch run has to do: the input files, the name of each one's outputs, its frame ranges (segments), and what
an earlier run into the same folder already finished.

Inputs are files, folders (with their sub-folders) and glob patterns (`'videos/*.mp4'`, `'footage/**/*.mkv'`, for
shells that do not expand them). A folder stands for its image and video files (demo.predict_cli.expand_inputs, the
CLI's own rule; hidden names and anything inside the output folder are left out). Outputs are named after the input:
`OUT/<name>.faces.parquet`, `.summary.csv` and `.expressions.png`, where <name> is the file's name, or for a file
found in a folder its path below that folder (sub-folders are kept), so the same name in two folders of one footage
tree stays apart. Two inputs that would write the same outputs are refused before anything runs.

A video is cut into segments of `segment_frames` frames; each is labelled on its own (by any worker), starting its
tracker WARMUP_FRAMES frames before the segment so its smoothing and tracks are settled when the segment begins, and
batch.stitch joins the tracks at the borders. A photo is one segment. Resume: a file whose three outputs exist is
done and never redone; of an unfinished video, the segments already labelled (parts under OUT/.partial/<name>/)
are kept and only the others run.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass, field
from pathlib import Path

from core.files import temporary_path
from core.tracking import MAX_MISSED_FRAMES

SEGMENT_FRAMES = 600  # frames per segment (24 s at 25 frames/s): the unit of work a worker takes, and of resume
# Tracker warm-up before a segment: the smoothing forgets its start as 0.6**n (core.tracking.SMOOTHING), below the
# 4 decimals the probabilities are given with after 20 frames; and every track seen before is matched by then.
WARMUP_FRAMES = max(24, 4 * MAX_MISSED_FRAMES)
PARTS_DIR = ".partial"  # inside the output folder: the labelled segments of unfinished videos
FACES_SUFFIX = ".faces.parquet"
SUMMARY_SUFFIX = ".summary.csv"
PLOT_SUFFIX = ".expressions.png"
FAILURES_FILE = "failures.csv"
GLOB_CHARACTERS = "*?["

log = logging.getLogger("facexp.batch")


class PlanError(ValueError):
    """Inputs that cannot be run as given (no such file, two inputs with the same output names), said to the user."""


@dataclass(frozen=True)
class Segment:
    """Frames [start, stop) of one input (stop None: to the end), labelled from `warmup_start` on."""

    file: int  # index into Plan.files
    start: int
    stop: int | None
    warmup_start: int

    @property
    def part_name(self) -> str:
        return f"{self.start:09d}-{'end' if self.stop is None else f'{self.stop:09d}'}.parquet"


@dataclass
class InputFile:
    path: Path  # as found (what the tables and JSON lines call the file)
    name: str  # output name below the output folder ("clip.mp4", "cam1/clip.mp4")
    is_video: bool
    fps: float = 0.0  # videos
    frames: int = 1  # frames to label (videos: the container's count, capped by max_frames; 0 when unknown)
    segments: list[Segment] = field(default_factory=list)

    def output(self, out_dir: Path, suffix: str) -> Path:
        return out_dir / (self.name + suffix)

    def outputs(self, out_dir: Path) -> list[Path]:
        """The finished file's outputs, in the order they are written (the summary last: it marks the file done)."""
        return [self.output(out_dir, FACES_SUFFIX), self.output(out_dir, PLOT_SUFFIX),
                self.output(out_dir, SUMMARY_SUFFIX)]

    def parts_dir(self, out_dir: Path) -> Path:
        return out_dir / PARTS_DIR / self.name

    def is_done(self, out_dir: Path) -> bool:
        return all(path.is_file() for path in self.outputs(out_dir))


def find_inputs(arguments: list[str], out_dir: Path) -> list[tuple[Path, str]]:
    """(path, output name) of every input file the arguments stand for, in the order given (a folder's files sorted).
    A file that does not exist is kept (it is reported as a failure); a pattern that matches nothing is refused."""
    from demo.predict_cli import expand_inputs

    out_dir = out_dir.resolve()
    found: list[tuple[Path, str]] = []
    for argument in arguments:
        path = Path(argument)
        if not path.exists() and any(c in argument for c in GLOB_CHARACTERS):
            matches = sorted(Path(match) for match in glob.glob(argument, recursive=True))
            if not matches:
                raise PlanError(f"{argument}: no file matches this pattern")
            found.extend((match, match.name) for match in matches if match.is_file())
        elif path.is_dir():
            files = [file for file in expand_inputs([path], recursive=True) if file != path]
            if not files:
                log.warning("%s: no image or video file in this folder", path)
            found.extend((file, file.relative_to(path).as_posix()) for file in files)
        else:
            found.append((path, path.name))
    kept, names = [], {}
    for path, name in found:
        if path.resolve().is_relative_to(out_dir):
            continue  # the outputs of this very run (a folder given with the output folder inside it)
        if name in names and names[name].resolve() != path.resolve():
            raise PlanError(f"{names[name]} and {path} would both write {out_dir / name}.*: "
                            f"run them into different output folders (--out)")
        if name not in names:
            names[name] = path
            kept.append((path, name))
    return kept


def segment_ranges(frames: int, max_frames: int | None, segment_frames: int) -> list[tuple[int, int | None]]:
    """[start, stop) ranges covering a video of `frames` frames (0: unknown), at most `max_frames` of them. The last
    range of a whole video runs to the end (None): a container's frame count is an estimate."""
    limit = min(frames, max_frames) if frames and max_frames else (frames or max_frames)
    if not limit:
        return [(0, None)]
    starts = list(range(0, limit, segment_frames))
    ranges: list[tuple[int, int | None]] = [(start, start + segment_frames) for start in starts]
    ranges[-1] = (starts[-1], max_frames)
    return ranges


def make_segments(file_index: int, ranges: list[tuple[int, int | None]]) -> list[Segment]:
    return [Segment(file_index, start, stop, max(0, start - WARMUP_FRAMES)) for start, stop in ranges]


def stale_temporaries(out_dir: Path, files: list[InputFile]) -> list[Path]:
    """Temporary outputs a killed run left behind ("partial-<name>", core.files), to be removed before this run."""
    return [temporary_path(path) for file in files for path in file.outputs(out_dir) if temporary_path(path).exists()]
