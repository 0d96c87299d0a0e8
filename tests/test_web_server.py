"""The in-browser page's server (demo/web_server.py), started for real with `python app.py web` (waitress).

Requests go through http.client so that paths reach the server exactly as written (no client-side normalisation of
"..").
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from demo.web_server import VENDOR_FILES, WEB_ROOT
from tests.harness import REPO, free_port, start_server, stop_server

TFJS_VERSION = "4.22.0"  # the TensorFlow.js the page runs (package.json, package-lock.json)


@pytest.fixture(scope="module")
def server(web_server):
    """The port of the run's page server (tests/conftest.py)."""
    return int(web_server.rstrip("/").rsplit(":", 1)[1])


def get(port: int, path: str, method: str = "GET"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_index_is_served_by_waitress_with_security_headers(server):
    status, headers, body = get(server, "/")
    assert status == 200
    assert b'<script type="module" src="js/app.js">' in body
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["server"] == "facexp"  # waitress's ident, not Werkzeug's development server
    csp = headers["content-security-policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in csp
    script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-eval'" not in script_src and "'unsafe-inline'" not in script_src and "http" not in script_src
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "camera=(self)" in headers["permissions-policy"]
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["cross-origin-embedder-policy"] == "require-corp"


def test_no_response_allows_evaluating_strings(server):
    """'unsafe-eval' in no Content-Security-Policy: every file the page is made of (web_static/, every vendor file),
    the detector worker, and the error responses."""
    paths = ["/", "/js/detector_worker.js", "/no/such/file", "/" + "x" * 2000]
    paths += ["/" + str(path.relative_to(WEB_ROOT)) for path in sorted(WEB_ROOT.rglob("*"))
              if path.is_file() and not any(part.startswith(".") for part in path.relative_to(WEB_ROOT).parts)]
    paths += [f"/vendor/{name}" for name in VENDOR_FILES]
    for path in paths:
        status, headers, _ = get(server, path, method="HEAD")
        policy = headers.get("content-security-policy", "")
        assert policy and "'unsafe-eval'" not in policy, (path, status, policy)
    assert "'unsafe-eval'" not in get(server, "/js/detector_worker.js")[1]["content-security-policy"]


def test_the_page_has_one_runtime_current_tensorflow_js():
    """package.json: TensorFlow.js packages only, all the same version, and no tfjs-tflite (the detector is a
    TensorFlow.js layers model); package-lock.json pins the same."""
    package = json.loads((REPO / "package.json").read_text())
    lock = json.loads((REPO / "package-lock.json").read_text())
    dependencies = package["dependencies"]
    assert not any("tflite" in name for name in dependencies), dependencies
    assert not any("tflite" in name for name in lock["packages"]), "package-lock.json still pins tfjs-tflite"
    assert {version for name, version in dependencies.items() if name.startswith("@tensorflow/")} == {TFJS_VERSION}
    for name in dependencies:
        assert lock["packages"][f"node_modules/{name}"]["version"] == dependencies[name], name


@pytest.mark.parametrize("path, mime", [
    ("/js/app.js", "text/javascript"),
    ("/css/app.css", "text/css"),
    ("/models/index.json", "application/json"),
    ("/vendor/tfjs-backend-wasm-simd.wasm", "application/wasm"),
    ("/vendor/tf-backend-webgl.min.js", "text/javascript"),
    ("/vendor/tf-core.min.js", "text/javascript"),
])
def test_mime_types(server, path, mime):
    status, headers, body = get(server, path)
    assert status == 200, path
    assert headers["content-type"].split(";")[0] == mime
    assert headers["content-type"].count("charset") <= 1
    if mime == "application/wasm":
        assert body[:4] == b"\0asm"


def test_every_vendor_file_is_served(server):
    for name, path in VENDOR_FILES.items():
        status, _, body = get(server, f"/vendor/{name}")
        assert status == 200, name
        assert len(body) == path.stat().st_size


@pytest.mark.parametrize("path", [
    "/../app.py",
    "/%2e%2e/app.py",
    "/js/../../app.py",
    "/js/%2e%2e/%2e%2e/app.py",
    "/..%2fapp.py",
    "/vendor/../package.json",
    "/vendor/package.json",
    "/vendor/%2e%2e%2fpackage.json",
    "/node_modules/@tensorflow/tfjs-core/package.json",
    "/etc/passwd",
    "//etc/passwd",
    "/.git/config",
    "/models/.emotion.partial-1/model.json",
    "/models/",
    "/models",
    "/js/",
    "/web_static/index.html",
])
def test_nothing_outside_web_static_and_no_listings(server, path):
    status, _, body = get(server, path)
    assert status == 404, f"{path} -> {status}"
    assert b"import" not in body and b"<a href" not in body


def test_over_long_paths_get_a_clean_refusal_not_a_500(server):
    """Before: a 5000-character path made the server answer 500 (the file system refused the name)."""
    from demo.web_server import MAX_PATH_CHARS

    for path, expected in [("/" + "a" * 5000, 414), ("/js/" + "b" * 5000 + ".js", 414), ("/vendor/" + "c" * 5000, 414),
                           ("/" + "d" * 300, 404), ("/js/" + "e" * 300 + "/f.js", 404), ("/" + "g" * (MAX_PATH_CHARS - 1), 404)]:
        status, headers, body = get(server, path)
        assert status == expected, f"{path[:20]}... ({len(path)} characters) -> {status}"
        assert b"Traceback" not in body and b"internal error" not in body
        assert "content-security-policy" in headers


def test_only_get_and_head(server):
    status, headers, _ = get(server, "/", method="HEAD")
    assert status == 200 and "content-security-policy" in headers
    for method in ("POST", "PUT", "DELETE"):
        status, headers, body = get(server, "/", method=method)
        assert status == 405
        assert b"Traceback" not in body and b"Werkzeug" not in body


def test_bad_arguments_are_refused_clearly():
    result = subprocess.run([sys.executable, str(REPO / "app.py"), "web", "--port", "70000"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--port 70000" in result.stderr


def test_scripts_and_wasm_are_compressed_and_revalidated(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    try:
        connection.request("GET", "/vendor/tfjs-backend-wasm-simd.wasm", headers={"Accept-Encoding": "gzip, br"})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200 and response.getheader("Content-Encoding") == "gzip"
        assert response.getheader("Content-Type") == "application/wasm"
        import gzip

        raw = gzip.decompress(body)
        assert raw[:4] == b"\0asm" and len(body) < 0.6 * len(raw)
        etag = response.getheader("ETag")
        connection.request("GET", "/vendor/tfjs-backend-wasm-simd.wasm",
                           headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        again = connection.getresponse()
        assert again.status == 304 and again.read() == b""
        assert "content-security-policy" in {k.lower() for k, _ in again.getheaders()}
    finally:
        connection.close()
    # without Accept-Encoding: the plain file
    status, headers, body = get(server, "/vendor/tfjs-backend-wasm-simd.wasm")
    assert status == 200 and "content-encoding" not in headers and body[:4] == b"\0asm"


@pytest.mark.parametrize("flag", [None, "--log-requests"])
def test_requests_are_logged_only_when_asked(tmp_path, flag):
    """`app.py web` says where it serves and logs no line per request unless --log-requests (or FACEXP_LOG_REQUESTS)."""
    port = free_port()
    log_path = tmp_path / "server.log"
    process = start_server(["web", "--port", str(port)] + ([flag] if flag else []), port, log_path)
    try:
        for path in ("/", "/js/app.js", "/missing.js"):
            get(port, path)
        with ThreadPoolExecutor(16) as pool:  # a page load: more files at once than the server's threads
            list(pool.map(lambda path: get(port, path), [f"/js/{path.name}" for path in sorted((WEB_ROOT / "js").glob("*.js"))] * 4))
    finally:
        stop_server(process)
    log = log_path.read_text()
    assert f"http://127.0.0.1:{port}/" in log
    assert ("GET /js/app.js 200" in log and "GET /missing.js 404" in log) == bool(flag), log
    if not flag:
        assert "queue depth" not in log, log  # waitress's busy-threads warning is request-log matter
