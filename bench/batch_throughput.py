"""Frames per second of `app.py batch` with 1 and 2 workers against `app.py predict --json` on the same folder, in one
run; Ray's start-up cost; memory per worker; and the per-frame and per-file costs the scaling analysis rests on.

    .venv/bin/python -m bench.batch_throughput [--copies 16] [--rounds 1] [--workers 1 2] [--out runs/batch_bench]

The folder: the media videos (short_hamilton_clip.mp4, 275 frames, 9.2 s), each linked --copies times, so a few
minutes of footage. Each measured run is a whole command, start-up included (what a user waits for):
- predict: `app.py predict FOLDER --json` (one process, one core's worth of work, no Ray);
- batch-1, batch-2: `app.py batch FOLDER --out NEW --workers N` on a local Ray started by the command;
- fixed costs: the same three commands on one photo (model loading; for batch Ray's start, the actors, the shutdown),
  and the "Ray started in" line batch logs (ray.init alone).
During each batch run the RSS of every process holding the run's Ray folder is sampled every SAMPLE_S: the workers
(Ray names them after the SegmentLabeller class), Ray's own processes, and the driver. Per frame, outside Ray:
decoding (core.video.read_frames) and the pipeline (FacePipeline.process, smoothed), so the per-worker ceiling is
known; per file, the driver's finishing (stitch + Parquet + summary + plot) for the scaling ceiling of one driver.
The load average is printed before and after each run, and the CPU seconds the command's process tree used (Ray's
agents that outlive their parent are not counted): the machine is shared, and the CPU seconds per frame do not
depend on how much of the CPU others took.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from batch.engine import processes_holding
from tests.harness import REPO
from train.data import data_dir

SAMPLE_S = 1.0
RUN_TIMEOUT_S = 3600
PHOTO = "two_people.jpg"
WORKER_MARK = "SegmentLabeller"
RAY_STARTED = re.compile(r"Ray started in ([0-9.]+) s")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def proc_memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, RssAnon) in MB of a process, or (0, 0) when it is gone."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(value.split()[0]) / 1024
    except OSError:
        return 0.0, 0.0
    return values.get("VmRSS", 0.0), values.get("RssAnon", 0.0)


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15 of proc(5))


def process_kind(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_text(errors="replace").replace("\0", " ")
    except OSError:
        return "gone"
    if WORKER_MARK in command:
        return "worker"
    return command.split()[0].rsplit("/", 1)[-1] if command.strip() else "?"


class ProcessSampler(threading.Thread):
    """Peak RSS and CPU seconds of each process holding `folder` (and of the driver), sampled every SAMPLE_S (so the
    CPU of a process's last second is missed)."""

    def __init__(self, folder: Path, driver_pid: int):
        super().__init__(daemon=True)
        self.folder, self.driver_pid = folder, driver_pid
        self.peaks: dict[int, tuple[str, float, float]] = {}
        self.cpu: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            for pid in [*processes_holding(self.folder), self.driver_pid]:
                rss, anon = proc_memory_mb(pid)
                kind = "driver" if pid == self.driver_pid else process_kind(pid)
                old = self.peaks.get(pid, (kind, 0.0, 0.0))
                self.peaks[pid] = (kind if kind != "gone" else old[0], max(old[1], rss), max(old[2], anon))
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), proc_cpu_s(pid))

    def cpu_by_kind(self) -> dict[str, float]:
        totals = {"driver": 0.0, "workers": 0.0, "ray": 0.0}
        for pid, seconds in self.cpu.items():
            kind = self.peaks[pid][0]
            totals["driver" if kind == "driver" else "workers" if kind == "worker" else "ray"] += seconds
        return {kind: round(value, 1) for kind, value in totals.items()}

    def summary(self) -> dict:
        workers = [(rss, anon) for kind, rss, anon in self.peaks.values() if kind == "worker"]
        ray = [(kind, rss, anon) for pid, (kind, rss, anon) in self.peaks.items()
               if kind not in ("worker", "driver")]
        driver = [(rss, anon) for kind, rss, anon in self.peaks.values() if kind == "driver"]
        return {
            "workers": len(workers),
            "worker_rss_mb": [round(rss) for rss, _ in workers],
            "worker_anon_mb": [round(anon) for _, anon in workers],
            "ray_processes": len(ray),
            "ray_rss_mb_total": round(sum(rss for _, rss, _ in ray)),
            "ray_anon_mb_total": round(sum(anon for _, _, anon in ray)),
            "driver_rss_mb": round(driver[0][0]) if driver else None,
            "cpu_s": self.cpu_by_kind(),
        }


def timed_command(args: list, temp_dir: Path | None = None) -> dict:
    """Run `app.py ARGS`; wall seconds, stdout lines, stderr, load before/after, memory (batch: its Ray folder)."""
    env = {**os.environ, "TMPDIR": str(temp_dir)} if temp_dir else None
    before = load_average()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(REPO / "app.py"), *map(str, args)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = ProcessSampler(temp_dir, process.pid) if temp_dir else None
    if sampler:
        sampler.start()
    stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    if sampler:
        sampler.stop.set()
        sampler.join()
    if process.returncode != 0 or not stdout:
        raise RuntimeError(f"app.py {' '.join(map(str, args))} failed ({process.returncode}):\n{stderr[-3000:]}")
    ray = RAY_STARTED.search(stderr)
    return {"seconds": round(seconds, 2), "cpu_s": round(cpu_s, 1),
            "lines": [json.loads(line) for line in stdout.splitlines()], "load_before": before,
            "load_after": load_average(), "ray_start_s": float(ray.group(1)) if ray else None,
            "memory": sampler.summary() if sampler else None}


RAY_FOLDERS: list[Path] = []


def ray_folder() -> Path:
    """A new TMPDIR for one batch run, short enough for Ray's socket paths: its Ray processes are found by it."""
    RAY_FOLDERS.append(Path(tempfile.mkdtemp(prefix="fxr", dir="/tmp")))
    return RAY_FOLDERS[-1]


def per_frame_costs(video: Path, frames: int) -> dict:
    """Milliseconds per frame, in this process on one core: decoding alone, and the smoothed pipeline alone."""
    from core.pipeline import FacePipeline
    from core.tracking import FaceTracker
    from core.video import read_frames

    start = time.perf_counter()
    decoded = [frame for _, frame in read_frames(video, frames)]
    decode_ms = (time.perf_counter() - start) * 1000 / len(decoded)
    pipeline, tracker = FacePipeline(), FaceTracker()
    pipeline.process(decoded[0])  # warm-up
    start = time.perf_counter()
    for frame in decoded:
        pipeline.process(frame, tracker)
    pipeline_ms = (time.perf_counter() - start) * 1000 / len(decoded)
    return {"decode_ms": round(decode_ms, 2), "pipeline_ms": round(pipeline_ms, 2), "frames": len(decoded)}


def finishing_cost(faces_table: Path, fps: float, repeats: int = 3) -> float:
    """Seconds the driver spends finishing one file like the benchmark's (stitch + Parquet + summary CSV + plot)."""
    import pyarrow.parquet as pq

    from batch.stitch import stitch_segments
    from batch.summary import PLOT_DPI, expression_plot, summary_csv, summary_rows
    from core.files import save_figure

    table = pq.read_table(faces_table)
    best = float("inf")
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeats):
            start = time.perf_counter()
            stitched = stitch_segments([(0, table)])
            pq.write_table(stitched, Path(folder) / "faces.parquet")
            rows = summary_rows("clip", stitched, 275, fps)
            (Path(folder) / "summary.csv").write_text(summary_csv(rows))
            figure = expression_plot("clip", stitched, fps, rows[0]["duration_s"])
            save_figure(figure, Path(folder) / "plot.png", PLOT_DPI)
            best = min(best, time.perf_counter() - start)
    return round(best, 3)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=16, help="links to each media video in the folder")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1, help="repeat every command, interleaved")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "batch_bench")
    args = parser.parse_args(argv)

    media = data_dir() / "media"
    from core.video import VIDEO_SUFFIXES, video_info

    videos = sorted(p for p in media.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    work = Path(tempfile.mkdtemp(prefix="fxbench-"))
    folder = work / "footage"
    folder.mkdir()
    frames_total, seconds_total = 0, 0.0
    for video in videos:
        fps, count = video_info(video)
        for i in range(args.copies):
            (folder / f"{video.stem}-{i:03d}{video.suffix}").symlink_to(video.resolve())
        frames_total += count * args.copies
        seconds_total += count / fps * args.copies
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} cores, load {load_average()}")
    print(f"folder: {len(videos) * args.copies} videos ({', '.join(v.name for v in videos)} x {args.copies}), "
          f"{frames_total} frames, {seconds_total / 60:.1f} min of footage")
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    try:
        for round_number in range(1, args.rounds + 1):  # interleaved, so a change of load hits every command alike
            tag = f" #{round_number}" if args.rounds > 1 else ""
            results["fixed predict" + tag] = timed_command(["predict", media / PHOTO, "--json"])
            for workers in args.workers:
                results[f"fixed batch-{workers}{tag}"] = timed_command(
                    ["batch", media / PHOTO, "--out", work / f"photo-{workers}-{round_number}", "--workers", workers],
                    ray_folder())
            results["predict" + tag] = timed_command(["predict", folder, "--json"])
            for workers in args.workers:
                out = args.out / f"workers-{workers}"
                shutil.rmtree(out, ignore_errors=True)  # a batch into a folder it already filled would redo nothing
                results[f"batch-{workers}{tag}"] = timed_command(["batch", folder, "--out", out, "--workers", workers],
                                                                 ray_folder())
    finally:
        for path in [work, *RAY_FOLDERS]:  # the links, the photo runs' outputs, the runs' Ray folders
            shutil.rmtree(path, ignore_errors=True)

    print("\n| run | wall s | frames | frames/s | frames/s past the fixed cost | CPU ms per frame: labelling (driver) |"
          " Ray start s | load before -> after |")
    print("|---|---|---|---|---|---|---|---|")
    for name, result in results.items():
        fixed = results.get("fixed " + name)
        if name.startswith("fixed"):
            frames = 1
        elif name.startswith("predict"):
            frames = sum(1 for line in result["lines"] if "frame" in line)
        else:
            frames = sum(line.get("frames", 0) for line in result["lines"])
        result["frames"] = frames
        rate = f"{frames / result['seconds']:.1f}" if fixed else "-"
        steady = f"{frames / (result['seconds'] - fixed['seconds']):.1f}" if fixed else "-"
        if not fixed:
            cpu = "-"
        elif result["memory"]:
            cpu = (f"{result['memory']['cpu_s']['workers'] * 1000 / frames:.1f} "
                   f"({result['memory']['cpu_s']['driver'] * 1000 / frames:.1f})")
        else:
            cpu = f"{result['cpu_s'] * 1000 / frames:.1f} (in the same process)"
        print(f"| {name} | {result['seconds']:.1f} | {frames} | {rate} | {steady} | {cpu} | "
              f"{result['ray_start_s'] or '-'} | {result['load_before']} -> {result['load_after']} |")
    print("\nmemory (peak per process, MB) and CPU seconds (driver, workers, Ray's own processes):")
    for name, result in results.items():
        if result["memory"]:
            print(f"  {name}: {json.dumps(result['memory'])}")
    costs = per_frame_costs(videos[0], 200)
    fps, _ = video_info(videos[0])
    first_output = args.out / f"workers-{args.workers[0]}" / f"{videos[0].stem}-000{videos[0].suffix}.faces.parquet"
    finish_s = finishing_cost(first_output, fps)
    print(f"\nper frame on one core, outside Ray: decode {costs['decode_ms']} ms + pipeline {costs['pipeline_ms']} ms "
          f"({costs['frames']} frames of {videos[0].name}); the driver's finishing of one such file: {finish_s} s")
    print(f"load average at the end: {load_average()}")
    summary = {name: {k: v for k, v in result.items() if k != "lines"} for name, result in results.items()}
    summary["per_frame"], summary["finish_file_s"] = costs, finish_s
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
