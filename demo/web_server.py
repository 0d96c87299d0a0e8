"""The in-browser page (TensorFlow.js) served by Flask through waitress, a production WSGI server.

    python app.py web [--host 127.0.0.1] [--port 8000] [--threads 4] [--no-isolation]

What is served, and nothing else (GET / HEAD only):
- `/` and every file under web_static/ (index.html, js/, css/, models/); no directory listings, no dot-files,
  no path outside web_static/ (Werkzeug's safe_join refuses traversal; such requests get 404); a path over
  MAX_PATH_CHARS characters gets 414, a name the file system refuses (a part over 255 bytes) 404;
- `/vendor/<file>`: a fixed list of TensorFlow.js files from node_modules (tfjs-core, -layers, the cpu, wasm and
  webgl backends; installed by `npm ci` from package-lock.json), so the page works offline and never touches a CDN.

Headers on every response: a strict Content-Security-Policy (scripts only from this origin, WebAssembly compilation
allowed, no string evaluation: 'unsafe-eval' in no policy, workers from this origin or blob:, no plugins, no
framing), X-Content-Type-Options, Referrer-Policy, X-Frame-Options, Permissions-Policy (camera for this origin only), Cross-Origin-Resource-Policy and, unless
--no-isolation, Cross-Origin-Opener-Policy + Cross-Origin-Embedder-Policy (cross-origin isolation lets the wasm
backends use threads). Correct MIME types, including application/wasm. JS, wasm, JSON, CSS and HTML are sent gzip-compressed
to browsers that accept it (compressed once, kept in memory); every file carries an ETag and `no-cache`, so a
re-export is picked up at once and an unchanged file costs a 304. Flask's debug mode is never enabled.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import mimetypes
import os
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEB_ROOT = REPO / "web_static"
NODE_MODULES = REPO / "node_modules"

_TF = NODE_MODULES / "@tensorflow"
VENDOR_FILES = {
    "tf-core.min.js": _TF / "tfjs-core/dist/tf-core.min.js",
    "tf-backend-cpu.min.js": _TF / "tfjs-backend-cpu/dist/tf-backend-cpu.min.js",
    "tf-backend-wasm.min.js": _TF / "tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
    "tf-backend-webgl.min.js": _TF / "tfjs-backend-webgl/dist/tf-backend-webgl.min.js",
    "tf-layers.min.js": _TF / "tfjs-layers/dist/tf-layers.min.js",
    # tfjs-backend-wasm binaries (setWasmPaths("vendor/")): it fetches the one the browser's features call for
    "tfjs-backend-wasm.wasm": _TF / "tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm",
    "tfjs-backend-wasm-simd.wasm": _TF / "tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm",
    "tfjs-backend-wasm-threaded-simd.wasm": _TF / "tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm",
}

MIME_TYPES = {  # Werkzeug appends "; charset=utf-8" to the text/* ones
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".bin": "application/octet-stream",
    ".tflite": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".md": "text/plain",
}

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob: mediastream:",
    "style-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
# The detector worker (web_static/js/detector_worker.js) may run the wasm backend with threads (cross-origin isolated
# pages only), whose Emscripten glue starts its thread workers from blob: scripts. Only that worker script may load
# blob: scripts, through its own policy (a dedicated worker is governed by its script's CSP); no policy allows
# 'unsafe-eval' (no string is ever compiled into code; 'wasm-unsafe-eval' allows WebAssembly compilation only).
WORKER_SCRIPTS = {"js/detector_worker.js"}
WORKER_CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval' blob:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Resource-Policy": "same-origin",
}
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}

MAX_PATH_CHARS = 1024  # longer request paths get 414 (the longest file under web_static/ is far shorter)

log = logging.getLogger("facexp.web")
request_log = logging.getLogger("facexp.web.requests")  # one line per request: only with --log-requests

# Compressed once per file version and kept in memory (JS and wasm shrink to a third; weights hardly shrink).
COMPRESSIBLE = {".html", ".js", ".css", ".json", ".wasm"}
_GZIP_CACHE: dict[Path, tuple[tuple[int, int], bytes, str]] = {}
_GZIP_LOCK = threading.Lock()


def gzipped(path: Path) -> tuple[bytes, str]:
    """(gzip body, ETag) of a file, cached until its size or mtime changes."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    with _GZIP_LOCK:
        cached = _GZIP_CACHE.get(path)
        if cached and cached[0] == version:
            return cached[1], cached[2]
    body = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
    etag = f"gz-{stat.st_mtime_ns:x}-{stat.st_size:x}"
    with _GZIP_LOCK:
        _GZIP_CACHE[path] = (version, body, etag)
    return body, etag


def missing_files() -> list[str]:
    """What the page needs and is not there (vendor files from npm, the exported models)."""
    missing = [f"{path} (run `npm ci` or `make setup`)" for path in VENDOR_FILES.values() if not path.is_file()]
    for name in ("index.html", "models/index.json"):
        if not (WEB_ROOT / name).is_file():
            missing.append(f"{WEB_ROOT / name} (models/index.json is written by `python -m export --all`)")
    return missing


def create_app(cross_origin_isolation: bool = True):
    from flask import Flask, Response, abort, request, send_file
    from werkzeug.security import safe_join

    app = Flask(__name__, static_folder=None)  # no implicit /static route: every path is handled below
    app.config.update(DEBUG=False, TESTING=False, PROPAGATE_EXCEPTIONS=False, MAX_CONTENT_LENGTH=0)

    def file_response(path: Path):
        mimetype = MIME_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix.lower() in COMPRESSIBLE and "gzip" in request.headers.get("Accept-Encoding", ""):
            body, etag = gzipped(path)
            response = Response(body, mimetype=mimetype)
            response.headers["Content-Encoding"] = "gzip"
            response.set_etag(etag)
            response.make_conditional(request)  # 304 when the browser's copy is current
        else:
            response = send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=0)
        response.headers["Vary"] = "Accept-Encoding"
        response.headers["Cache-Control"] = "no-cache"  # revalidate (ETag): a re-export is picked up at once
        return response

    @app.get("/")
    def index():
        return file_response(WEB_ROOT / "index.html")

    @app.get("/vendor/<name>")
    def vendor(name: str):
        path = VENDOR_FILES.get(name)
        if path is None or not path.is_file():
            abort(404)
        return file_response(path)

    @app.get("/<path:name>")
    def static_file(name: str):
        parts = name.split("/")
        if any(part.startswith(".") or part == "" for part in parts):
            abort(404)  # dot-files, staging folders, "//"
        joined = safe_join(str(WEB_ROOT), name)
        if joined is None:
            abort(404)
        path = Path(joined)
        try:
            is_file = path.is_file()
        except OSError:  # a name the file system refuses (ENAMETOOLONG: a part over 255 bytes): not one of ours
            is_file = False
        if not is_file:  # directories are never listed
            abort(404)
        return file_response(path)

    @app.before_request
    def refuse_long_paths():
        if len(request.path) > MAX_PATH_CHARS:
            abort(414)

    @app.errorhandler(404)
    def not_found(_error):
        return Response("not found\n", status=404, mimetype="text/plain")

    @app.errorhandler(414)
    def too_long(_error):
        return Response(f"path too long (at most {MAX_PATH_CHARS} characters)\n", status=414, mimetype="text/plain")

    @app.errorhandler(405)
    def not_allowed(_error):
        return Response("method not allowed\n", status=405, mimetype="text/plain", headers={"Allow": "GET, HEAD"})

    @app.errorhandler(500)
    def server_error(_error):
        return Response("internal error\n", status=500, mimetype="text/plain")

    @app.after_request
    def security_headers(response):
        response.headers.update(SECURITY_HEADERS)
        if request.path.lstrip("/") in WORKER_SCRIPTS:
            response.headers["Content-Security-Policy"] = WORKER_CONTENT_SECURITY_POLICY
        if cross_origin_isolation:
            response.headers.update(ISOLATION_HEADERS)
        request_log.info("%s %s %s", request.method, request.full_path.rstrip("?"), response.status_code)
        return response

    return app


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python app.py web", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads (default 4)")
    parser.add_argument("--no-isolation", action="store_true",
                        help="omit COOP/COEP (cross-origin isolation); the wasm backends then run single-threaded")
    parser.add_argument("--log-requests", action="store_true", default=bool(os.environ.get("FACEXP_LOG_REQUESTS")),
                        help="log one line per request (default: env FACEXP_LOG_REQUESTS, else off)")
    parser.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port}: must be 1-65535")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(name)s %(message)s")
    request_log.setLevel(logging.INFO if args.log_requests else logging.WARNING)
    # waitress warns "Task queue depth is N" whenever a page load's files outnumber its threads for a moment: a
    # request log's matter, not a problem (its own errors still show)
    logging.getLogger("waitress.queue").setLevel(logging.INFO if args.log_requests else logging.ERROR)
    missing = missing_files()
    if missing:
        print("cannot serve the page, missing:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    from waitress import serve

    app = create_app(cross_origin_isolation=not args.no_isolation)
    print(f"serving the in-browser page on http://{args.host}:{args.port}/ (waitress, {args.threads} threads; Ctrl+C stops)",
          flush=True)
    try:
        serve(app, host=args.host, port=args.port, threads=args.threads, ident="facexp", clear_untrusted_proxy_headers=True)
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
