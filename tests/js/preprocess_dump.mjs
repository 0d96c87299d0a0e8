// Test helper for tests/test_web_preprocess.py: runs web_static/js/preprocess.js on raw RGBA frames.
//   node tests/js/preprocess_dump.mjs JOB.json
// JOB.json: {frames: [{rgba: path, width, height, letterbox: S | null,
//             crops: [{box: [x, y, w, h], size, channels, crop?, keypoints?}]}], crop: {...metadata crop...},
//            pixel_scale: detector.json's, out: path}
// Writes, per frame in order: the letterbox input (S*S*3 float32) if asked, then every crop (float32). A crop's own
// `crop` (metadata "crop") and `keypoints` replace the job's: a model that levels the eyes of its crops.
import fs from 'fs';
import {letterbox, faceCrop} from '../../web_static/js/preprocess.js';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const chunks = [];
for (const spec of job.frames) {
  const bytes = fs.readFileSync(spec.rgba);
  const frame = {data: new Uint8ClampedArray(bytes.buffer, bytes.byteOffset, bytes.length), width: spec.width, height: spec.height};
  if (spec.letterbox) chunks.push(letterbox(frame, spec.letterbox, job.pixel_scale).input);
  for (const c of spec.crops) {
    const target = new Float32Array(c.size * c.size * c.channels);
    chunks.push(faceCrop(frame, c.box, c.size, c.channels, c.crop || job.crop, target, 0, c.keypoints || null));
  }
}
fs.writeFileSync(job.out, Buffer.concat(chunks.map(a => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));
