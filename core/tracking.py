"""Tracking faces across video frames and smoothing their probabilities, so labels do not flicker.

A simple IoU tracker: each new box is matched (greedily, best IoU first) to the track whose last box overlaps it most
(IoU >= MATCH_IOU). A matched track's probabilities become an exponential moving average
`p = SMOOTHING * p_old + (1 - SMOOTHING) * p_new`; an unmatched box starts a new track; a track not seen for
MAX_MISSED_FRAMES frames is dropped. One `FaceTracker` per video stream (it holds that stream's state).

Mask probabilities are averaged with a longer memory, MASK_SMOOTHING (a mask is not put on or taken off in a few
frames, while expressions change quickly), so a face near 50/50 (side-lit, blurred) does not flip its label frame by
frame. The shown mask label is always the more probable one of the averaged probabilities: a drawn label never
contradicts its own percentage (an earlier hysteresis rule kept a label whose probability had fallen under 50 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATCH_IOU = 0.3
SMOOTHING = 0.6  # weight of the past; 0 = no smoothing
MAX_MISSED_FRAMES = 5
MASK_SMOOTHING = 0.8  # weight of the past for the mask probabilities


def tracking_metadata() -> dict:
    """The constants web_static/js/tracking.js shares with this module (index.json, "pipeline" -> "tracking")."""
    return {"match_iou": MATCH_IOU, "smoothing": SMOOTHING, "max_missed_frames": MAX_MISSED_FRAMES}


def box_iou(a, b) -> float:
    """IoU of two [x, y, w, h] boxes."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    inter_w = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    inter_h = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    track_id: int
    box: list
    emotion: np.ndarray
    mask: np.ndarray | None
    missed: int = 0


class FaceTracker:
    """Matches faces from frame to frame and averages their class probabilities over time."""

    def __init__(self, smoothing: float = SMOOTHING, match_iou: float = MATCH_IOU, max_missed: int = MAX_MISSED_FRAMES,
                 mask_smoothing: float = MASK_SMOOTHING):
        self.smoothing = smoothing
        self.mask_smoothing = mask_smoothing if smoothing > 0 else 0.0  # smoothing off means off for both
        self.match_iou = match_iou
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self._next_id = 1
        self.frames = 0  # updates so far

    def update(self, boxes, emotion_probs: np.ndarray, mask_probs: np.ndarray | None = None):
        """Feed one frame's faces. Returns (track ids, smoothed emotion probs, smoothed mask probs or None)."""
        self.frames += 1
        pairs = sorted(
            ((box_iou(box, track.box), face, t) for face, box in enumerate(boxes) for t, track in enumerate(self.tracks)),
            reverse=True,
        )
        face_to_track: dict[int, int] = {}
        used_tracks: set[int] = set()
        for iou, face, t in pairs:
            if iou < self.match_iou:
                break
            if face in face_to_track or t in used_tracks:
                continue
            face_to_track[face] = t
            used_tracks.add(t)

        ids, emotions, masks = [], [], []
        keep, keep_mask = self.smoothing, self.mask_smoothing
        for face, box in enumerate(boxes):
            new_emotion = np.asarray(emotion_probs[face], np.float32)
            new_mask = None if mask_probs is None else np.asarray(mask_probs[face], np.float32)
            if face in face_to_track:
                track = self.tracks[face_to_track[face]]
                track.emotion = keep * track.emotion + (1 - keep) * new_emotion
                if new_mask is not None:
                    track.mask = new_mask if track.mask is None else keep_mask * track.mask + (1 - keep_mask) * new_mask
                track.box, track.missed = list(box), 0
            else:
                track = Track(self._next_id, list(box), new_emotion, new_mask)
                self._next_id += 1
                self.tracks.append(track)
                used_tracks.add(len(self.tracks) - 1)
            ids.append(track.track_id)
            emotions.append(track.emotion)
            masks.append(track.mask)

        for t, track in enumerate(self.tracks):
            if t not in used_tracks:
                track.missed += 1
        self.tracks = [track for track in self.tracks if track.missed <= self.max_missed]

        if not ids:
            return [], np.asarray(emotion_probs, np.float32), mask_probs
        return ids, np.stack(emotions), None if mask_probs is None else np.stack(masks)
