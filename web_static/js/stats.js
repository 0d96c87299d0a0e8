// The page's readouts over the last frames: frames/s over the last second of camera frames, and the median time of
// each stage over the last STATS_WINDOW frames (shown on the page and read by bench/browser_fps.py).

const STATS_WINDOW = 120;  // frames kept for the medians
const FRAME_TIMES_KEPT = 240;

const median = values => {
  if (!values.length) return null;
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export class FrameStats {
  constructor() {
    this.reset();
  }

  reset() {
    this.frameTimes = [];  // when each camera frame was shown (performance.now())
    this.stageTimes = [];  // the timings of each analysed frame
  }

  addTimings(timings) {
    this.stageTimes.push(timings);
    if (this.stageTimes.length > STATS_WINDOW) this.stageTimes.shift();
  }

  addCameraFrame() {
    this.frameTimes.push(performance.now());
    if (this.frameTimes.length > FRAME_TIMES_KEPT) this.frameTimes.shift();
  }

  fps() {
    const now = performance.now();
    return this.frameTimes.filter(t => now - t <= 1000).length;
  }

  medians() {
    const times = this.stageTimes;
    if (!times.length) return null;
    const of = stage => median(times.map(t => t[stage]));
    return {detect: of('detect'), classify: of('classify'), track: of('track'), total: of('total'), draw: of('draw'),
            shown: of('shown')};
  }
}
