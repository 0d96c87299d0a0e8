"""One person, one track? Tracks per person and ID switches on clips annotated with their true number of people,
the tracker of core/tracking.py beside the one before it, in one run on the same detections.

    nice -n 5 .venv/bin/python -m bench.tracking_people [--before REF] [--clips PATTERN ...] [--json FILE]

The clips and their people are bench/people_counts.json (FACEXP_DATA/footage/videos and media; counted by eye, a
person seen in several shots once; the shot cuts listed). Every frame runs through `FacePipeline.process` with
core.tracking.FaceTracker, as in the apps; the same boxes go to the tracker before it, core/tracking.py at git REF
(default BEFORE_REF, the greedy IoU tracker: read with `git show`, not copied here). Printed per clip and in total:

- tracks: distinct track ids, the people the live session counts as "faces seen" (the tracker of core/tracking.py
  gives ids to confirmed tracks only; the one before gave every track an id);
- tracks per person: tracks / the annotated people (the goal: at most 1.3; a person in k shots needs k tracks), and
  tracks / the people the detector finds at all (where it finds fewer, no tracker can do better than it);
- the time of a tracker's update per frame (after: the pipeline's "smooth" stage, which holds the tracker);
- ID switches, two kinds, as no box of the clips is annotated:
  restarts: a track ends and another starts within RESTART_FRAMES frames, its centre within one box side of where
  the first ended, no cut between (the same person, most likely, under a new id);
  across cuts: a track seen on both sides of a shot cut (after a cut it follows another person, or a false face).
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.pipeline import FacePipeline  # noqa: E402
from core.tracking import FaceTracker  # noqa: E402
from core.video import read_frames  # noqa: E402
from train.data import data_dir  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PEOPLE_COUNTS = REPO / "bench" / "people_counts.json"
BEFORE_REF = "afa4d4b132fa0a7bfb7595304ae78ae324a067da"  # the last commit with the greedy IoU tracker
RESTART_FRAMES = 30  # a track starting this soon after another ended near it is a restart (1 s at 30 frames/s)


def tracker_at(ref: str):
    """core/tracking.py as it was at git `ref`, imported as a module of its own."""
    source = subprocess.run(["git", "show", f"{ref}:core/tracking.py"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    spec = importlib.util.spec_from_loader("tracking_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    exec(compile(source, f"{ref[:7]}:core/tracking.py", "exec"), module.__dict__)
    return module


def clip_frames(path: Path):
    """RGB frames of a video file, or of an animated GIF (which core.video does not read)."""
    if path.suffix.lower() == ".gif":
        from PIL import Image, ImageSequence

        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                yield np.asarray(frame.convert("RGB"))
    else:
        for _, frame in read_frames(path):
            yield frame


def centre(box) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def id_switches(spans: dict, cuts: list[int]) -> dict:
    """Restarts and tracks across cuts of {track: (first frame, first box, last frame, last box)}."""
    def cut_between(a: int, b: int) -> bool:
        return any(a < cut <= b for cut in cuts)

    restarts, restarted = 0, set()
    for ended, (_, _, last, last_box) in spans.items():
        for started, (first, first_box, _, _) in sorted(spans.items(), key=lambda item: item[1][0]):
            if started == ended or started in restarted or not last < first <= last + RESTART_FRAMES:
                continue
            side = max(last_box[2], last_box[3], first_box[2], first_box[3])
            if math.dist(centre(last_box), centre(first_box)) <= side and not cut_between(last, first):
                restarts += 1
                restarted.add(started)
                break
    across = sum(cut_between(first, last) for first, _, last, _ in spans.values())
    return {"restarts": restarts, "across_cuts": across}


def measure_clip(pipeline: FacePipeline, before, path: Path, cuts: list[int], update_ms: dict) -> dict:
    trackers = {"before": before.FaceTracker(), "after": FaceTracker()}
    spans: dict[str, dict] = {name: {} for name in trackers}
    frames = 0
    for index, frame in enumerate(clip_frames(path)):
        frames += 1
        result = pipeline.process(frame, trackers["after"])
        boxes = [face["box"] for face in result.faces]
        uniform = np.full((len(boxes), 7), 1 / 7, np.float32)
        start = time.perf_counter()
        ids = {"after": result.track_ids, "before": trackers["before"].update(boxes, uniform)[0]}
        update_ms["before"].append((time.perf_counter() - start) * 1000)
        update_ms["after"].append(result.timings_ms["smooth"])
        for name, frame_ids in ids.items():
            for track, box in zip(frame_ids, boxes):
                if track is not None:
                    first = spans[name].get(track, (index, box))[:2]
                    spans[name][track] = (*first, index, box)
    out = {"frames": frames}
    for name, tracks in spans.items():
        out[name] = {"tracks": len(tracks), **id_switches(tracks, cuts),
                     "lengths": sorted((last - first + 1 for first, _, last, _ in tracks.values()), reverse=True)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE_REF, metavar="REF", help="git ref of the tracker to compare with")
    parser.add_argument("--clips", nargs="+", metavar="PATTERN", help="only clips whose name matches (fnmatch)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    counts = {clip: truth for clip, truth in json.loads(PEOPLE_COUNTS.read_text()).items() if not clip.startswith("_")}
    root = data_dir()
    clips = [clip for clip in counts if not args.clips or any(fnmatch.fnmatch(Path(clip).name, p) for p in args.clips)]
    missing = [clip for clip in clips if not (root / clip).is_file()]
    if missing:
        print(f"error: {', '.join(missing)} missing under {root} (set FACEXP_DATA)", file=sys.stderr)
        return 2
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start; command: python -m bench.tracking_people "
          + " ".join(argv if argv is not None else sys.argv[1:]))
    started = time.perf_counter()
    before, pipeline = tracker_at(args.before), FacePipeline()
    update_ms = {"before": [], "after": []}  # per frame: the tracker's update (after: the pipeline's "smooth" stage)
    results = {clip: measure_clip(pipeline, before, root / clip, counts[clip]["shots"], update_ms) for clip in clips}

    names = ("before", "after")
    print(f"\nbefore = core/tracking.py at {args.before[:7]}; after = core/tracking.py now; people (found: those the "
          "detector finds at all, where fewer)\n")
    print("| clip | frames | people (found) | " + " | ".join(
        f"{n}: tracks (per person) | {n}: restarts + across cuts" for n in names) + " |")
    print("|---|---:|---:|" + "---:|---:|" * len(names))
    total = {name: {"tracks": 0, "restarts": 0, "across_cuts": 0} for name in names}
    people = found = 0
    for clip, result in results.items():
        n, n_found = counts[clip]["people"], counts[clip].get("found", counts[clip]["people"])
        people, found = people + n, found + n_found
        cells = []
        for name in names:
            r = result[name]
            cells += [f"{r['tracks']} ({r['tracks'] / n:.2f})", f"{r['restarts']} + {r['across_cuts']}"]
            for key in total[name]:
                total[name][key] += r[key]
        shown = f"{n} ({n_found})" if n_found != n else str(n)
        print(f"| {Path(clip).name} | {result['frames']} | {shown} | " + " | ".join(cells) + " |")
    for label, denominator in (("all: per person", people), ("all: per person found", found)):
        cells = []
        for name in names:
            t = total[name]
            cells += [f"**{t['tracks']} ({t['tracks'] / denominator:.2f})**",
                      f"**{t['restarts']} + {t['across_cuts']}**"]
        print(f"| **{label}** | {sum(r['frames'] for r in results.values())} | {denominator} | " + " | ".join(cells)
              + " |")
    print("\ntracker update per frame, median / p95 / max ms: " + "; ".join(
        f"{name} {np.median(ms):.3f} / {np.percentile(ms, 95):.3f} / {max(ms):.3f}" for name, ms in update_ms.items()))
    print(f"\n# {time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        args.json.write_text(json.dumps({"before": args.before, "people": counts, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
