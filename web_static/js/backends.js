// Which TensorFlow.js backend runs a network, chosen by measurement on this machine at start (page and detector
// worker each choose their own): every candidate that initialises runs `trial` once to warm up (wasm compiles, webgl
// builds its shaders), then TRIAL_RUNS times; the fastest median wins. WebGL on a software rasteriser (no GPU) is
// not tried (softwareWebgl). The pure-JS cpu backend is the fallback when no candidate initialises. wasm uses SIMD where the browser has it (every current one) and, where the page is
// cross-origin isolated (COOP/COEP from demo/web_server.py), `threads` threads.
/* global tf */

export const TRIAL_RUNS = 3;
const INIT_TIMEOUT_MS = 30000;  // tfjs hangs without an error when its .wasm files cannot be fetched

function median(values) {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const SOFTWARE_RENDERER = /swiftshader|llvmpipe|software|softpipe/i;

// The WebGL renderer's name when it is a software rasteriser (no GPU: SwiftShader in headless Chromium), else null.
// Such a webgl backend is 10-20x slower than wasm and its shaders take seconds to compile, so it is not tried.
export function softwareWebgl() {
  try {
    const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1) : document.createElement('canvas');
    const gl = canvas.getContext('webgl2') || canvas.getContext('webgl');
    if (!gl) return 'no WebGL context';
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    const lose = gl.getExtension('WEBGL_lose_context');
    if (lose) lose.loseContext();
    return SOFTWARE_RENDERER.test(renderer) ? renderer : null;
  } catch (error) {
    return String(error && error.message || error);
  }
}

// Makes `name` the active backend; false when it does not initialise (within INIT_TIMEOUT_MS).
export async function initialise(name) {
  const timeout = new Promise(resolve => setTimeout(() => resolve('timeout'), INIT_TIMEOUT_MS));
  try {
    const ok = await Promise.race([tf.setBackend(name), timeout]);
    return ok === true;
  } catch (error) {
    console.warn(`${name} backend unavailable:`, error);
    return false;
  }
}

// tfjs-backend-wasm 4.22's threaded module caps its thread pool at navigator.hardwareConcurrency / 2 (it assumes two
// hardware threads per core: src/cc/backend.cc, num_cores), read once when the module starts: on a 2-core machine
// every request for 2 threads ran 1. So while the wasm module starts, `threads` threads' worth of "cores" are reported
// (2 x threads), then the browser's own value again; the pool then holds exactly `threads` threads (the calling
// thread and threads - 1 pool workers). getThreadsCount() after initialisation says how many really run.
const WASM_CORES_PER_THREAD = 2;
const WASM_BACKEND_PRIORITY = 2;  // tfjs-backend-wasm's own (it registers "wasm" with it)

// Sets up the wasm backend's files and threads, before any backend is initialised. Returns the threads asked of it.
export function configureWasm(wasmPath, threads) {
  const useThreads = self.crossOriginIsolated === true && threads > 1;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', useThreads);
  if (useThreads) {
    tf.wasm.setThreadsCount(threads);
    const wasmFactory = tf.findBackendFactory('wasm');
    tf.removeBackend('wasm');  // registerBackend keeps an existing factory
    tf.registerBackend('wasm', async () => {
      Object.defineProperty(self.navigator, 'hardwareConcurrency', {value: WASM_CORES_PER_THREAD * threads,
        configurable: true});
      try {
        return await wasmFactory();
      } finally {
        delete self.navigator.hardwareConcurrency;  // the prototype's getter again: the browser's own count
      }
    }, WASM_BACKEND_PRIORITY);
  }
  tf.wasm.setWasmPaths(wasmPath);
  return useThreads ? threads : 1;
}

// candidates: backend names in order of preference; trial: async () => void (one representative run).
// Returns {backend, ms: {name: median ms | null (not usable)}, skipped: {name: why}}; the winner is the active backend.
export async function fastestBackend(candidates, trial) {
  const ms = {};
  const skipped = {};
  for (const name of candidates) {
    if (name === 'webgl' && tf.findBackendFactory('webgl')) {
      const software = softwareWebgl();
      if (software) {
        ms[name] = null;
        skipped[name] = software;
        continue;
      }
    }
    if (!tf.findBackendFactory(name)) {
      ms[name] = null;
      skipped[name] = 'not loaded';
      continue;
    }
    if (!(await initialise(name))) {
      ms[name] = null;
      continue;
    }
    try {
      await trial();
      const times = [];
      for (let i = 0; i < TRIAL_RUNS; i++) {
        const start = performance.now();
        await trial();
        times.push(performance.now() - start);
      }
      ms[name] = Math.round(median(times) * 10) / 10;
    } catch (error) {
      console.warn(`${name} backend failed its trial:`, error);
      ms[name] = null;
    }
  }
  const usable = Object.entries(ms).filter(([, value]) => value !== null).sort((a, b) => a[1] - b[1]);
  const backend = usable.length ? usable[0][0] : 'cpu';
  if (!(await initialise(backend))) throw new Error('no TensorFlow.js backend could be initialised');
  return {backend, ms, skipped};
}

// A short description for the page, e.g. "wasm (1 thread) 12.3 ms ✓ · webgl unavailable (SwiftShader …)".
export function describeChoice(choice, threads) {
  if (!Object.keys(choice.ms).length) return `${choice.backend} (not measured)`;
  return Object.entries(choice.ms).map(([name, value]) => {
    const detail = name === 'wasm' ? ` (${threads > 1 ? `${threads} threads` : '1 thread'})` : '';
    const why = (choice.skipped || {})[name];
    return `${name}${detail} ${value === null ? `unavailable${why ? ` (${why})` : ''}` : `${value} ms`}` +
      `${name === choice.backend ? ' ✓' : ''}`;
  }).join(' · ');
}
