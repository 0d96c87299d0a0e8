"""Shared test fixtures: the data folders and a Playwright instance (plain helpers are in tests/harness.py).

Data is found through one setting, FACEXP_DATA (default ../shared/data). Where it is missing the tests that need it
skip with the reason; under CI (CI=true) such a skip is a failure instead.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from tests.harness import (
    TINY_FER_ROWS,
    close_shared_browsers,
    free_port,
    require,
    skip_or_fail,
    start_server,
    stop_server,
)
from train.data import FER2013_CSV, data_dir


@pytest.fixture(scope="session")
def data_root() -> Path:
    return data_dir()


@pytest.fixture(scope="session")
def fer_csv(data_root) -> Path:
    return require(data_root / FER2013_CSV, "FER2013 CSV")


@pytest.fixture(scope="session")
def facemask_dir(data_root) -> Path:
    return require(data_root / "facemask", "face-mask image folders")


@pytest.fixture(scope="session")
def media_dir(data_root) -> Path:
    return require(data_root / "media", "media photos")


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright
        close_shared_browsers()


@pytest.fixture(scope="session")
def node() -> str:
    """The Node.js binary (the JS twins of core/ run in it), or a skip (a failure under CI)."""
    path = shutil.which("node")
    if not path:
        skip_or_fail("node is not installed")
    return path


@pytest.fixture(scope="session")
def tiny_csv(fer_csv, tmp_path_factory):
    """TINY_FER_ROWS Training rows and TINY_FER_ROWS PublicTest rows of the real CSV."""
    train, public = [], []
    with gzip.open(fer_csv, "rt") as handle:
        header = handle.readline()
        for line in handle:
            target = public if line.rstrip().endswith("PublicTest") else train
            if len(target) < TINY_FER_ROWS:
                target.append(line)
            if len(public) == TINY_FER_ROWS:
                break
    path = tmp_path_factory.mktemp("fer") / "tiny.csv"
    path.write_text(header + "".join(train + public))
    return path


@pytest.fixture(scope="session")
def web_server(tmp_path_factory):
    """`python app.py web` on a free port (the in-browser page), one for the whole run (it keeps no state between
    requests: every test's page loads afresh)."""
    from demo.web_server import missing_files

    missing = missing_files()
    if missing:
        skip_or_fail("the page's files are missing: " + "; ".join(missing))
    port = free_port()
    process = start_server(["web", "--port", str(port), "--quiet"], port, tmp_path_factory.mktemp("web") / "server.log")
    yield f"http://127.0.0.1:{port}/"
    stop_server(process)
