"""Ray for the batch: started on this machine (the default), or joined (`--address`), and the Ray Data pipeline that
runs the segments on a pool of workers (batch.labeller.SegmentLabeller, one actor per worker, models loaded once).

Started here, Ray is kept light and quiet: every Ray process on 127.0.0.1 only (nothing listens on the network), no
dashboard, no usage statistics, token authentication with a token of its own, an object store of
LOCAL_OBJECT_STORE_BYTES (the segments and their faces are small),
its logs in a temporary folder that is removed at the end, and one worker per core unless --workers says otherwise.
Joined, the cluster is as its `ray start` made it; this repository's code and models travel to its workers as the
job's working directory (WORKING_DIR_EXCLUDES left out), and every input must be readable at the same path on every
node (a shared folder).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from core.model_folder import REPO_ROOT

LOCAL_OBJECT_STORE_BYTES = 128 << 20  # Ray's minimum is 75 MiB; its default would take 30 % of the RAM
SHUTDOWN_GRACE_S, SHUTDOWN_POLL_S = 10.0, 0.2
TEMP_PREFIX = "facexp-ray-"
# Ray's socket paths must stay under 107 characters, and it adds 84 below TMPDIR (facexp-ray-*/session_<date>_<pid>/
# sockets/plasma_store): a longer TMPDIR is not used for its folder (/tmp instead)
MAX_TEMP_BASE_CHARS = 20
# Ray's switch that keeps all its processes on the loopback address (the default where it is named: Windows, macOS)
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}
AUTH_MODE_ENV, AUTH_TOKEN_ENV = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"  # a cluster's token: see README
WORKING_DIR_EXCLUDES = [".git", ".venv", "node_modules", "web_static", "runs", ".cache", "tests", "bench", "*.ipynb"]

log = logging.getLogger("facexp.batch")


@dataclass
class RayRun:
    pool_size: int  # workers in the actor pool
    temp_dir: Path | None  # the local Ray's folder (None when joined to a cluster)
    address: str | None


def is_loopback(address: str) -> bool:
    host = address.split("://", 1)[-1].rsplit(":", 1)[0]
    return host in LOOPBACK_HOSTS


class ClusterAddressError(ValueError):
    """An --address the batch cannot run through, said to the user."""


RAY_CLIENT_PREFIX = "ray://"
RAY_CLIENT_REFUSED = ("{address}: Ray Data does not run through Ray Client (ray://); give the cluster's own address "
                      "HOST:PORT instead (the head's --port, 6379 unless `ray start --head` was given another), or "
                      "run this command on a node of the cluster with --address auto")


def start_ray(address: str | None, workers: int | None) -> RayRun:
    """Start Ray here, or connect to the cluster at `address` ("auto" or "HOST:PORT"; a Ray Client address,
    "ray://HOST:PORT", is refused with ClusterAddressError: Ray Data needs a driver inside the cluster)."""
    if address is not None and address.startswith(RAY_CLIENT_PREFIX):
        raise ClusterAddressError(RAY_CLIENT_REFUSED.format(address=address))
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    if address is None or is_loopback(address):
        os.environ[LOOPBACK_ENV] = "0"  # read when ray is imported, below
    if address is None and AUTH_MODE_ENV not in os.environ:
        # Ray's token authentication, with a token of this run's own (Ray would otherwise write one into ~/.ray)
        os.environ[AUTH_MODE_ENV], os.environ[AUTH_TOKEN_ENV] = "token", secrets.token_hex(32)
    import ray
    import ray.data

    logging.getLogger("ray").setLevel(logging.ERROR)
    options = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    temp_dir = None
    if address is None:
        base = tempfile.gettempdir()
        temp_dir = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=base if len(base) <= MAX_TEMP_BASE_CHARS else "/tmp"))
        ray.init(num_cpus=workers or os.cpu_count(), object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                 _temp_dir=str(temp_dir), **options)
    else:
        options.pop("include_dashboard")
        ray.init(address=address, runtime_env={"working_dir": str(REPO_ROOT), "excludes": WORKING_DIR_EXCLUDES},
                 **options)
    for name in ("ray", "ray.data"):  # Ray Data sets up its own loggers at init
        logging.getLogger(name).setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the batch has its own bar (files, frames/s, time left)
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False
    cores = int(ray.cluster_resources().get("CPU", 1))
    return RayRun(pool_size=max(1, min(workers or cores, cores)), temp_dir=temp_dir, address=address)


def processes_holding(folder: Path) -> list[int]:
    """Other processes with a file open under `folder` (Linux /proc): the Ray processes whose temporary folder it is."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd).startswith(str(folder)) for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to look at
            continue
    return pids


def stop_ray(run: RayRun | None) -> None:
    """Shut Ray down; started here, also wait for its last processes (Ray's agents outlive ray.shutdown() by a few
    seconds), ending them after SHUTDOWN_GRACE_S, and remove its folder."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    if run is None or run.temp_dir is None:
        return
    deadline = time.monotonic() + SHUTDOWN_GRACE_S
    while (left := processes_holding(run.temp_dir)) and time.monotonic() < deadline:
        time.sleep(SHUTDOWN_POLL_S)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    shutil.rmtree(run.temp_dir, ignore_errors=True)


def model_folder_for_workers(folder: Path, joined: bool) -> str:
    """A model folder as the workers find it: inside this repository, relative to the working directory they run in
    (a cluster's workers get the repository as their working directory); elsewhere as it is."""
    folder = Path(folder).resolve()
    if joined and folder.is_relative_to(REPO_ROOT):
        return folder.relative_to(REPO_ROOT).as_posix()
    return str(folder)


def label_segments(run: RayRun, segments: list[dict], emotion_model: Path, mask_model: Path):
    """Yield the labelled segments (batch.labeller's rows) as the workers finish them, in any order."""
    import ray.data

    from batch.labeller import SegmentLabeller
    from core.pipeline import EMOTION_MODEL_ENV, MASK_MODEL_ENV

    joined = run.address is not None
    models = {EMOTION_MODEL_ENV: model_folder_for_workers(emotion_model, joined),
              MASK_MODEL_ENV: model_folder_for_workers(mask_model, joined)}
    # Started here, a worker that dies is not restarted (nothing but a crash can kill it; the next run resumes), so
    # Ray has no reason to warn on the terminal that a restart could fail. On a cluster, Ray replaces the workers of a
    # lost node. (Ray 2.60 calls max_restarts in map_batches deprecated, with nothing else to say it yet.)
    restarts = {} if joined else {"max_restarts": 0}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args. is deprecated")
        dataset = ray.data.from_items(segments, override_num_blocks=len(segments)).map_batches(
            SegmentLabeller, batch_size=1, batch_format="numpy", num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=min(run.pool_size, len(segments)), max_tasks_in_flight_per_actor=1),
            runtime_env={"env_vars": models}, **restarts)
    yield from dataset.iter_rows()
