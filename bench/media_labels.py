"""What the real pipeline says on the media video and photos (nobody there wears a mask).

    nice -n 5 .venv/bin/python bench/media_labels.py [--mask-model DIR] [--emotion-model DIR] [--json]

Runs `FacePipeline` (detector, crops, both models) over every frame of FACEXP_DATA/media's video with a
`FaceTracker` (smoothing on, as the apps) and over every photo, and prints:
- mask label counts and the fraction `without_mask` (video, photos, all);
- per track: frames and how many times its shown mask label changed (flips);
- the expression label distribution (video, photos).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.pipeline import FacePipeline  # noqa: E402
from core.tracking import FaceTracker  # noqa: E402
from core.video import is_video_path, read_frames  # noqa: E402
from train.data import data_dir  # noqa: E402

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def media_files(folder: Path):
    files = sorted(folder.iterdir())
    return [f for f in files if is_video_path(f)], [f for f in files if f.suffix.lower() in PHOTO_SUFFIXES]


def measure(pipeline: FacePipeline, folder: Path) -> dict:
    import cv2

    videos, photos = media_files(folder)
    out = {"video": {"mask": Counter(), "emotion": Counter(), "tracks": {}, "detections": 0},
           "photos": {"mask": Counter(), "emotion": Counter(), "detections": 0}}
    for video in videos:
        tracker = FaceTracker()
        labels_by_track: dict[str, list[str]] = {}
        for _, frame in read_frames(video):
            result = pipeline.process(frame, tracker)
            for track_id, face in zip(result.track_ids, result.faces):
                out["video"]["detections"] += 1
                out["video"]["emotion"][face["emotion"]["label"]] += 1
                if face["mask"] is not None:
                    out["video"]["mask"][face["mask"]["label"]] += 1
                if face["mask"] is not None and track_id is not None:  # None: not a confirmed track yet
                    labels_by_track.setdefault(f"{video.name}#{track_id}", []).append(face["mask"]["label"])
        for key, labels in labels_by_track.items():
            flips = sum(a != b for a, b in zip(labels, labels[1:]))
            out["video"]["tracks"][key] = {"frames": len(labels), "flips": flips, "counts": dict(Counter(labels))}
    for photo in photos:
        frame = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
        result = pipeline.process(frame)
        for face in result.faces:
            out["photos"]["detections"] += 1
            out["photos"]["emotion"][face["emotion"]["label"]] += 1
            if face["mask"] is not None:
                out["photos"]["mask"][face["mask"]["label"]] += 1
    return out


def fraction_without(counts: Counter) -> float:
    total = sum(counts.values())
    return counts.get("without_mask", 0) / total if total else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mask-model", type=Path)
    parser.add_argument("--emotion-model", type=Path)
    parser.add_argument("--media", type=Path, help="default FACEXP_DATA/media")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)
    pipeline = FacePipeline(emotion_model=args.emotion_model, mask_model=args.mask_model)
    out = measure(pipeline, args.media or data_dir() / "media")
    if args.json:
        print(json.dumps(out, default=dict, indent=1))
        return 0
    print(f"machine: {platform.machine()}, {platform.python_version()}; mask model: {pipeline.mask_model.folder if pipeline.mask_model else None}")
    both = out["video"]["mask"] + out["photos"]["mask"]
    for name, counts in (("video", out["video"]["mask"]), ("photos", out["photos"]["mask"]), ("all", both)):
        print(f"mask {name:6s}: {dict(counts)}  without_mask {100 * fraction_without(counts):.1f} %")
    tracks = out["video"]["tracks"]
    print(f"tracks: {len(tracks)}; with > 1 mask label change: {sum(t['flips'] > 1 for t in tracks.values())}; "
          f"max flips {max((t['flips'] for t in tracks.values()), default=0)}")
    for key, track in sorted(tracks.items(), key=lambda kv: -kv[1]["frames"]):
        if track["frames"] >= 5 or track["flips"]:
            print(f"  {key}: {track['frames']} frames, {track['flips']} flips, {track['counts']}")
    for name in ("video", "photos"):
        counts = out[name]["emotion"]
        total = sum(counts.values())
        dist = ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in counts.most_common())
        print(f"expression {name} ({total} faces): {dist}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
