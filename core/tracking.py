"""Tracking faces across video frames, so that one person keeps one track, and smoothing their probabilities, so
labels do not flicker.

Each frame, every track's box is first moved by its velocity (constant-velocity prediction: the average motion of
its centre per frame, VELOCITY_SMOOTHING), then the frame's faces are matched to the tracks in two stages, as in
ByteTrack, on the detector's score:
1. faces scored at least HIGH_SCORE against all tracks;
2. the other faces against the tracks still unmatched; they continue a track, but never start one (a weak detection
   on its own is more often a sleeve or a blurred background than a person).
A pair is possible when the face's box overlaps the track's predicted box with IoU above MATCH_IOU and its side is
within MAX_SIZE_CHANGE times the track's (a face much larger or smaller in about the same place is another face after a
cut, or the detector boxing a hand with the face); of the possible pairs, each stage takes the assignment with the
largest total overlap (sum of IoU - MATCH_IOU: an optimal assignment, `min_cost_assignment`), so that two faces
crossing each other are not swapped by a greedy order.
A strong face left unmatched starts a new track; a track not seen for MAX_MISSED_FRAMES frames is dropped, so a face
hidden for a moment (a hand, a person crossing, a missed detection) keeps its track.

A track gets its id (1, 2, ... in the order they are confirmed) once it has been seen in MIN_TRACK_FRAMES frames:
until then its faces have the id None, and they are not counted as people (the session's "faces seen" counts ids),
so a detection that flickers for a frame or two (a false one, or a face at the edge of a cut) makes no person.

A matched track's probabilities become an exponential moving average `p = SMOOTHING * p_old + (1 - SMOOTHING) * p_new`
(a face with no track keeps its own). One `FaceTracker` per video stream (it holds that stream's state).

Mask probabilities are averaged with a longer memory, MASK_SMOOTHING (a mask is not put on or taken off in a few
frames, while expressions change quickly), so a face near 50/50 (side-lit, blurred) does not flip its label frame by
frame. The shown mask label is always the more probable one of the averaged probabilities: a drawn label never
contradicts its own percentage (an earlier hysteresis rule kept a label whose probability had fallen under 50 %).

A face in profile (`in_profile`: its nose tip beyond an eye, seen along the eye line) does not change the mask average
of a track that has been seen from the front: the mask network learned from frontal faces (2.6 % of the face-mask
folder's faces are in profile), and on the footage clips its profile readings are right 92.1 % of the time against
99.6 % for the other views (`python -m bench.profile_views`; BENCHMARKS.md, "Profile views keep a track's mask
label"). A track seen only in profile so far averages its profile views, as any other.

web_static/js/tracking.js is the twin of the matching (the page's session track ids), with the constants of
`tracking_metadata()`; tests/test_tracking.py runs both on the same frames. bench/tracking_people.py measures tracks
per person and ID switches on clips annotated with their true number of people (BENCHMARKS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MATCH_IOU = 0.3  # a face can continue a track when IoU(its box, the track's predicted box) is above this
MAX_SIZE_CHANGE = 1.3  # ... and its box's side is within this factor of the track's last one
HIGH_SCORE = 0.6  # detector score from which a face is matched first and may start a track (the detector keeps >= 0.5)
MAX_MISSED_FRAMES = 15  # a track not seen for more frames is dropped (0.5 s at 30 frames/s)
MIN_TRACK_FRAMES = 5  # frames a track must be seen in before it gets an id and counts as a person
VELOCITY_SMOOTHING = 0.8  # weight of the past in the average motion per frame
SMOOTHING = 0.6  # weight of the past in the probabilities; 0 = no smoothing
MASK_SMOOTHING = 0.9  # weight of the past for the mask probabilities
PROFILE_NOSE_OFFSET = 0.5  # in profile: the nose tip this many eye distances or more from the eyes' midpoint (beyond an eye)


def tracking_metadata() -> dict:
    """The constants web_static/js/tracking.js shares with this module (web_static/models/index.json, "pipeline" ->
    "tracking")."""
    return {"match_iou": MATCH_IOU, "max_size_change": MAX_SIZE_CHANGE, "high_score": HIGH_SCORE,
            "max_missed_frames": MAX_MISSED_FRAMES, "min_track_frames": MIN_TRACK_FRAMES,
            "velocity_smoothing": VELOCITY_SMOOTHING, "smoothing": SMOOTHING, "mask_smoothing": MASK_SMOOTHING,
            "profile_nose_offset": PROFILE_NOSE_OFFSET}


def in_profile(keypoints) -> bool:
    """Whether a face is seen in profile: its nose tip (the third keypoint) lies at least PROFILE_NOSE_OFFSET eye
    distances from the midpoint of the eyes (the first two), measured along the line through the eyes."""
    (right_x, right_y), (left_x, left_y), (nose_x, nose_y) = keypoints[0], keypoints[1], keypoints[2]
    eye_x, eye_y = left_x - right_x, left_y - right_y
    squared = eye_x * eye_x + eye_y * eye_y
    if squared == 0:
        return True
    along = (nose_x - (right_x + left_x) / 2) * eye_x + (nose_y - (right_y + left_y) / 2) * eye_y
    return abs(along) / squared >= PROFILE_NOSE_OFFSET


def box_iou(a, b) -> float:
    """IoU of two [x, y, w, h] boxes."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    inter_w = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    inter_h = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def box_side(box) -> float:
    """The side of the square with the box's area."""
    return math.sqrt(box[2] * box[3])


@dataclass
class Track:
    track_id: int | None  # None until seen in MIN_TRACK_FRAMES frames
    box: list  # where it was last seen
    emotion: np.ndarray
    mask: np.ndarray | None
    velocity: list = field(default_factory=lambda: [0.0, 0.0])  # motion of the box's centre per frame
    hits: int = 1  # frames it was seen in
    missed: int = 0  # frames since it was last seen
    seen_frontal: bool = False  # seen not in profile at least once: from then on profile views keep its mask average

    def predicted_box(self) -> list:
        """Where it should be in the next frame: its last box moved by its velocity once per frame since."""
        frames = self.missed + 1
        return [self.box[0] + self.velocity[0] * frames, self.box[1] + self.velocity[1] * frames,
                self.box[2], self.box[3]]

    def see(self, box, velocity_smoothing: float = VELOCITY_SMOOTHING) -> None:
        """Seen again at `box`: its velocity is averaged with the motion since it was last seen."""
        frames = self.missed + 1
        moved = [(box[0] + box[2] / 2 - (self.box[0] + self.box[2] / 2)) / frames,
                 (box[1] + box[3] / 2 - (self.box[1] + self.box[3] / 2)) / frames]
        keep = velocity_smoothing if self.hits > 1 else 0.0  # the first motion seen is the first estimate
        self.velocity = [keep * v + (1 - keep) * m for v, m in zip(self.velocity, moved)]
        self.box, self.missed, self.hits = list(box), 0, self.hits + 1


def pair_gain(box, track: Track) -> float:
    """What continuing `track` with a face at `box` is worth: its IoU with the track's predicted box above MATCH_IOU;
    nothing (0) at or below it, or when the box's side differs from the track's last one more than MAX_SIZE_CHANGE
    times (after a cut, another face in about the same place; or the detector boxing a hand with the face)."""
    small, large = sorted((box_side(box), box_side(track.box)))
    if large > MAX_SIZE_CHANGE * small:
        return 0.0
    return max(0.0, box_iou(box, track.predicted_box()) - MATCH_IOU)


def min_cost_assignment(cost: list[list[float]]) -> list[tuple[int, int]]:
    """(row, column) pairs of a full assignment with the least total cost: the Hungarian method (Kuhn-Munkres with
    potentials, O(rows^2 columns)) for rows <= columns. Written out rather than scipy's `linear_sum_assignment` (the
    same optimum: tests/test_tracking.py) because importing scipy.optimize took 0.8-1.8 s, more than the rest of the
    pipeline, and because web_static/js/tracking.js runs the same steps, so both break ties alike."""
    rows, cols = len(cost), len(cost[0])
    row_potential, col_potential = [0.0] * (rows + 1), [0.0] * (cols + 1)
    owner = [0] * (cols + 1)  # owner[j]: the row (1-based) holding column j; column 0 is the free one
    for row in range(1, rows + 1):
        owner[0], free = row, 0
        slack, came_from, done = [math.inf] * (cols + 1), [0] * (cols + 1), [False] * (cols + 1)
        while owner[free]:  # grow a tree of tight edges until it reaches an unassigned column
            done[free] = True
            i, delta, nearest = owner[free], math.inf, 0
            for j in range(1, cols + 1):
                if not done[j]:
                    reduced = cost[i - 1][j - 1] - row_potential[i] - col_potential[j]
                    if reduced < slack[j]:
                        slack[j], came_from[j] = reduced, free
                    if slack[j] < delta:
                        delta, nearest = slack[j], j
            for j in range(cols + 1):
                if done[j]:
                    row_potential[owner[j]] += delta
                    col_potential[j] -= delta
                else:
                    slack[j] -= delta
            free = nearest
        while free:  # flip the path back to the root
            previous = came_from[free]
            owner[free] = owner[previous]
            free = previous
    return [(owner[j] - 1, j - 1) for j in range(1, cols + 1) if owner[j]]


def best_pairs(gains: list[list[float]]) -> list[tuple[int, int]]:
    """(row, column) pairs of the assignment with the largest total gain, pairs of gain 0 left out: the optimal
    matching in which a pair worth nothing is no pair."""
    if not gains or not gains[0]:
        return []
    if len(gains) > len(gains[0]):  # the method wants rows <= columns
        return [(r, c) for c, r in best_pairs([list(column) for column in zip(*gains)])]
    return sorted((r, c) for r, c in min_cost_assignment([[-g for g in row] for row in gains]) if gains[r][c] > 0)


class FaceTracker:
    """Matches faces from frame to frame (one person, one track) and averages their class probabilities over time."""

    def __init__(self, smoothing: float = SMOOTHING, mask_smoothing: float = MASK_SMOOTHING,
                 min_track_frames: int = MIN_TRACK_FRAMES):
        self.smoothing = smoothing
        self.mask_smoothing = mask_smoothing if smoothing > 0 else 0.0  # smoothing off means off for both
        self.min_track_frames = min_track_frames
        self.tracks: list[Track] = []
        self._next_id = 1
        self.frames = 0  # updates so far

    def _match(self, boxes, faces: list[int], tracks: list[int]) -> dict[int, int]:
        """face -> track (indices) of the best assignment between these faces and these tracks."""
        gains = [[pair_gain(boxes[f], self.tracks[t]) for t in tracks] for f in faces]
        return {faces[r]: tracks[c] for r, c in best_pairs(gains)}

    def update(self, boxes, emotion_probs: np.ndarray, mask_probs: np.ndarray | None = None, scores=None,
               profiles=None):
        """Feed one frame's faces, their detector scores (None: all strong) and whether each is in profile (None: none
        is; `in_profile`). Returns (the track id of each face, None where its track is not confirmed yet or it has
        none; smoothed emotion probs; smoothed mask probs or None)."""
        self.frames += 1
        strong = [f for f in range(len(boxes)) if scores is None or scores[f] >= HIGH_SCORE]
        weak = [f for f in range(len(boxes)) if f not in strong]
        face_to_track = self._match(boxes, strong, list(range(len(self.tracks))))
        unmatched = [t for t in range(len(self.tracks)) if t not in face_to_track.values()]
        face_to_track |= self._match(boxes, weak, unmatched)

        ids, emotions, masks = [], [], []
        keep, keep_mask = self.smoothing, self.mask_smoothing
        seen = set(face_to_track.values())
        for face, box in enumerate(boxes):
            new_emotion = np.asarray(emotion_probs[face], np.float32)
            new_mask = None if mask_probs is None else np.asarray(mask_probs[face], np.float32)
            frontal = profiles is None or not profiles[face]
            if face in face_to_track:
                track = self.tracks[face_to_track[face]]
                track.emotion = keep * track.emotion + (1 - keep) * new_emotion
                if new_mask is not None and (frontal or not track.seen_frontal):
                    track.mask = new_mask if track.mask is None else keep_mask * track.mask + (1 - keep_mask) * new_mask
                track.seen_frontal = track.seen_frontal or frontal
                track.see(box)
            elif face in strong:
                track = Track(None, list(box), new_emotion, new_mask, seen_frontal=frontal)
                self.tracks.append(track)
                seen.add(len(self.tracks) - 1)
            else:  # a weak face on its own: no track, its own probabilities
                ids.append(None)
                emotions.append(new_emotion)
                masks.append(new_mask)
                continue
            if track.track_id is None and track.hits >= self.min_track_frames:
                track.track_id = self._next_id
                self._next_id += 1
            ids.append(track.track_id)
            emotions.append(track.emotion)
            masks.append(track.mask)

        for t, track in enumerate(self.tracks):
            if t not in seen:
                track.missed += 1
        self.tracks = [track for track in self.tracks if track.missed <= MAX_MISSED_FRAMES]

        if not ids:
            return [], np.asarray(emotion_probs, np.float32), mask_probs
        return ids, np.stack(emotions), None if mask_probs is None else np.stack(masks)
