// Test helper for tests/test_web_draw.py: web_static/js/draw.js's label text and colour of each face.
//   node tests/js/draw_dump.mjs JOB.json
// JOB.json: {faces: [face in the CLI's JSON shape], drawing: index.json's pipeline.drawing}
// Prints [{label, color: [r, g, b]}] as JSON, one entry per face.
import fs from 'fs';
import {faceLabel, faceColor} from '../../web_static/js/draw.js';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = job.faces.map(face => ({label: faceLabel(face, job.drawing), color: faceColor(face, job.drawing)}));
process.stdout.write(JSON.stringify(out));
