// The twin of core/tracking.py's matching: which face of this frame is which face of the previous frames. Each new
// box goes (greedily, best IoU first) to the track whose last box overlaps it most (IoU >= match_iou); an unmatched
// box starts a new track; a track not seen for max_missed_frames frames is dropped. The constants come from
// models/index.json ("pipeline" -> "tracking" = core.tracking.tracking_metadata()). The page does not smooth the
// labels (the Python apps do): it uses the track ids for the session analytics (session.js).

export function boxIou(a, b) {
  const interW = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const interH = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = interW * interH;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

export class FaceTracker {
  constructor(constants) {
    this.matchIou = constants.match_iou;
    this.maxMissed = constants.max_missed_frames;
    this.reset();
  }

  reset() {
    this.tracks = [];  // {id, box, missed}
    this.nextId = 1;
  }

  // One frame's boxes -> their track ids.
  assign(boxes) {
    const pairs = [];
    boxes.forEach((box, face) => this.tracks.forEach((track, t) => pairs.push([boxIou(box, track.box), face, t])));
    pairs.sort((p, q) => q[0] - p[0] || q[1] - p[1] || q[2] - p[2]);  // as Python's sorted(..., reverse=True)
    const faceToTrack = new Map();
    const used = new Set();
    for (const [iou, face, t] of pairs) {
      if (iou < this.matchIou) break;
      if (faceToTrack.has(face) || used.has(t)) continue;
      faceToTrack.set(face, t);
      used.add(t);
    }
    const ids = boxes.map((box, face) => {
      let track;
      if (faceToTrack.has(face)) {
        track = this.tracks[faceToTrack.get(face)];
        track.box = box.slice();
        track.missed = 0;
      } else {
        track = {id: this.nextId++, box: box.slice(), missed: 0};
        this.tracks.push(track);
        used.add(this.tracks.length - 1);
      }
      return track.id;
    });
    this.tracks.forEach((track, t) => { if (!used.has(t)) track.missed += 1; });
    this.tracks = this.tracks.filter(track => track.missed <= this.maxMissed);
    return ids;
  }
}
