// Test helper for tests/test_web_draw.py: web_static/js/draw.js's label text and colour of each face, and banners.
//   node tests/js/draw_dump.mjs JOB.json
// JOB.json: {faces: [face in the CLI's JSON shape], banners: [{faces, has_mask_model, note}],
//            drawing: index.json's pipeline.drawing}
// Prints {faces: [{label, color: [r, g, b]}] one per face, banners: [{text, color}] one per banner} as JSON.
import fs from 'fs';
import {bannerText, faceLabel, faceColor} from '../../web_static/js/draw.js';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const faces = job.faces.map(face => ({label: faceLabel(face, job.drawing), color: faceColor(face, job.drawing)}));
const banners = job.banners.map(b => bannerText(b.faces, b.has_mask_model, b.note, job.drawing));
process.stdout.write(JSON.stringify({faces, banners}));
