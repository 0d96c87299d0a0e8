"""Wall time of the Video tab and of `app.py predict VIDEO --out DIR` on a 1080p clip, before and after the change of
video writer (VP8/WebM at full size, encoded in the analysis loop -> H.264/MP4 at display size, in a thread of its
own), side by side in one run; the bar is the clip's duration (real time).

    nice -n 5 .venv/bin/python -m bench.video_speed [--source footage/videos/gituatu_nomask.mp4] [--before REV]
        [--versions before after] [--parts stages cli tab labels encoders] [--json FILE]

The clip is made for the run in a temporary folder (removed after; never committed): --source (under FACEXP_DATA)
scaled to 1920x1080 with PyAV (libx264, CRF 20, as a phone would store it). "before" is the tree of --before (the
last commit with the VP8 writer) unpacked with `git archive` into a temporary folder; "after" is this checkout; both
run with this Python. Each version is measured on the same clip, one after the other (each part: before, then after):

- stages: in one process, per frame, the wall and CPU time (the whole process's: OpenCV's decoder threads and
  LiteRT's are counted) of decoding, analysis (`FacePipeline.process`, tracker on) and drawing; then the clip decoded
  again and every frame given to that version's `VideoWriter`: encoding = that run minus the decoding.
- cli: `app.py predict CLIP --out DIR` as a user runs it; wall and CPU time (user + system of the child), and apart
  the same command on one photo (start-up: imports and models), the annotated copy's size, codec and frame size.
- tab: `app.py --port P` started; the clip sent to the Video tab's endpoint (/predict_video, smoothing on) with
  gradio_client; wall time from submit to the result, when the first status line ("Labelling ...: frame N of M")
  and the first progress-bar report arrived (job status polled every STATUS_POLL_S), how many status lines came, the
  server's CPU time for the request (/proc; the idle server takes about 0.06 s/s), the annotated video's size, codec
  and frame size.
- labels: `app.py predict LABELS_CLIP --json` (the media clip, every frame): each frame's faces (boxes, scores,
  labels, probabilities) compared with the first version's, to show the faster path labels every frame as before.
- encoders (this checkout only; how ENCODER_OPTIONS were chosen): the clip decoded and written by `VideoWriter` with
  each x264 preset and CRF of ENCODER_CHOICES: CPU time per frame of the writing (the decoding, measured alone,
  taken off), the file's size, and its PSNR against the clip scaled to display size as the writer scales it (what
  the encoding loses).

The machine is shared: the load average (1/5/15 min) is printed before and after each measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.harness import free_port, stop_server, wait_for_port  # noqa: E402
from train.data import data_dir  # noqa: E402

BEFORE_REV = "afa4d4b"  # the last commit whose annotated videos are VP8/WebM at full size, encoded in the loop
DEFAULT_SOURCE = "footage/videos/gituatu_nomask.mp4"  # 1280x720, 25 frames/s, 206 frames (8.24 s)
CLIP_SIZE = (1920, 1080)
CLIP_OPTIONS = {"preset": "veryfast", "crf": "20"}
STARTUP_PHOTO = "media/happy.jpg"
LABELS_CLIP = "media/short_hamilton_clip.mp4"
STATUS_POLL_S = 0.1
ENCODER_CHOICES = [(preset, crf) for preset in ("ultrafast", "superfast", "veryfast") for crf in ("23", "26", "28")]
SERVER_START_TIMEOUT_S = 300

# Run inside a version's tree (cwd): that version's pipeline, reader and writer. Prints one JSON object.
STAGES_SCRIPT = r"""
import json, sys, time
from core.pipeline import load_pipeline
from core.tracking import FaceTracker
from core.video import VideoWriter, read_frames, video_info

clip, out = sys.argv[1], sys.argv[2]
pipeline, tracker = load_pipeline(), FaceTracker()
fps, _ = video_info(clip)
totals = {stage: [0.0, 0.0] for stage in ("decoding", "analysis", "drawing")}
now = lambda: (time.perf_counter(), time.process_time())
frames, reader = 0, read_frames(clip)
while True:
    start = now()
    item = next(reader, None)
    if item is None:
        break
    decoded = now()
    result = pipeline.process(item[1], tracker)
    analysed = now()
    pipeline.annotate(item[1], result)
    drawn = now()
    for stage, (a, b) in zip(totals, ((start, decoded), (decoded, analysed), (analysed, drawn))):
        totals[stage][0] += b[0] - a[0]
        totals[stage][1] += b[1] - a[1]
    frames += 1
start = now()
with VideoWriter(out, fps) as writer:
    for _, frame in read_frames(clip):
        writer.write(frame)
end = now()
totals["encoding"] = [end[0] - start[0] - totals["decoding"][0], end[1] - start[1] - totals["decoding"][1]]
print(json.dumps({"frames": frames, "stages": totals, "output": str(writer.path)}))
"""


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def make_clip(source: Path, path: Path) -> dict:
    """`source` scaled to CLIP_SIZE, H.264 in MP4, every frame at the source's rate."""
    import av

    with av.open(str(source)) as reader, av.open(str(path), "w") as writer:
        stream = reader.streams.video[0]
        stream.thread_type = "AUTO"
        rate = Fraction(stream.average_rate).limit_denominator(1001)
        out = writer.add_stream("libx264", rate=rate, options=CLIP_OPTIONS)
        out.width, out.height, out.pix_fmt = *CLIP_SIZE, "yuv420p"
        for index, frame in enumerate(reader.decode(stream)):
            scaled = frame.reformat(*CLIP_SIZE, "yuv420p", interpolation="BICUBIC")
            scaled.pts, scaled.time_base = index, 1 / rate
            for packet in out.encode(scaled):
                writer.mux(packet)
        for packet in out.encode():
            writer.mux(packet)
    return video_facts(path)


def video_facts(path: Path) -> dict:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {"file": path.name, "bytes": path.stat().st_size, "codec": stream.codec_context.name,
                "size": f"{stream.width}x{stream.height}", "frames": frames,
                "seconds": round(container.duration / 1e6, 2) if container.duration else None}


def export_tree(rev: str, folder: Path) -> Path:
    """The files of commit `rev` (models included: they are tracked) in `folder`."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run_timed(command: list[str], cwd: Path, timeout: float = 3600) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, CPU s of the child: user + system, the finished process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} exited with {done.returncode}:\n{done.stderr[-3000:]}")
    return wall, cpu, done


def measure_stages(tree: Path, clip: Path, work: Path) -> dict:
    load_before = load()
    _, _, done = run_timed([sys.executable, "-c", STAGES_SCRIPT, str(clip), str(work / "stages")], cwd=tree)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    frames = result["frames"]
    stages = {stage: {"wall_ms": round(wall / frames * 1000, 1), "cpu_ms": round(cpu / frames * 1000, 1)}
              for stage, (wall, cpu) in result["stages"].items()}
    return {"frames": frames, "per_frame": stages, "load": f"{load_before} -> {load()}"}


def measure_cli(tree: Path, clip: Path, work: Path) -> dict:
    load_before = load()
    startup_wall, startup_cpu, _ = run_timed([sys.executable, "app.py", "predict", str(data_dir() / STARTUP_PHOTO)],
                                             cwd=tree)
    out = work / "cli"
    wall, cpu, _ = run_timed([sys.executable, "app.py", "predict", str(clip), "--out", str(out)], cwd=tree)
    (output,) = out.iterdir()
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "startup_wall_s": round(startup_wall, 1),
            "startup_cpu_s": round(startup_cpu, 1), "output": video_facts(output), "load": f"{load_before} -> {load()}"}


def process_cpu_s(pid: int) -> float:
    """User + system CPU time of a running process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_tab(tree: Path, clip: Path, work: Path) -> dict:
    from gradio_client import Client, handle_file

    port = free_port()
    log = open(work / "server.log", "w")
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=tree, stdout=log,
                              stderr=subprocess.STDOUT, env={**os.environ, "GRADIO_TEMP_DIR": ""})
    try:
        wait_for_port(port, server, timeout=SERVER_START_TIMEOUT_S)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(work / "downloads"))
        load_before, cpu_before = load(), process_cpu_s(server.pid)
        start = time.perf_counter()
        job = client.submit(handle_file(str(clip)), True, api_name="/predict_video")
        first_progress = first_status = None
        reports = set()
        while not job.done():
            status = job.status()
            elapsed = time.perf_counter() - start
            if status.progress_data:
                reports.add(tuple((unit.index, unit.length, unit.desc) for unit in status.progress_data))
                first_progress = first_progress or elapsed
            if first_status is None and job.outputs():
                first_status = elapsed
            time.sleep(STATUS_POLL_S)
        video = job.result()[0]
        wall = time.perf_counter() - start
        status_lines = len(job.outputs()) - 1  # every output but the last is a status line
        cpu = process_cpu_s(server.pid) - cpu_before
        video = Path(video if isinstance(video, str) else video["video"])
        return {"wall_s": round(wall, 1), "server_cpu_s": round(cpu, 1),
                "first_progress_s": first_progress and round(first_progress, 1),
                "first_status_s": first_status and round(first_status, 1), "status_lines": status_lines,
                "progress_reports": len(reports),
                "output": video_facts(video), "load": f"{load_before} -> {load()}"}
    finally:
        stop_server(server)
        log.close()


def measure_encoders(tree: Path, clip: Path, work: Path) -> dict:
    """Run in this process (the version measured is this checkout's core.video, whatever `tree`)."""
    import cv2
    import numpy as np

    from core import video

    def cpu_of(action) -> float:
        start = time.process_time()
        action()
        return time.process_time() - start

    frames = sum(1 for _ in video.read_frames(clip))
    decoding = min(cpu_of(lambda: [None for _ in video.read_frames(clip)]) for _ in range(2))
    results = {"load": load()}
    default = dict(video.ENCODER_OPTIONS)
    try:
        for preset, crf in ENCODER_CHOICES:
            video.ENCODER_OPTIONS.update(preset=preset, crf=crf)
            writer = video.VideoWriter(work / f"{preset}-{crf}", frames / video_facts(clip)["seconds"])

            def write_all():
                with writer:
                    for _, frame in video.read_frames(clip):
                        writer.write(frame)

            cpu = cpu_of(write_all) - decoding
            errors = [np.mean((cv2.resize(source, writer.size, interpolation=cv2.INTER_LINEAR).astype(float)
                               - written) ** 2)
                      for (_, source), (_, written) in zip(video.read_frames(clip), video.read_frames(writer.path))]
            results[f"{preset} crf {crf}"] = {"cpu_ms": round(cpu / frames * 1000, 1),
                                              "bytes": writer.path.stat().st_size,
                                              "psnr_db": round(float(10 * np.log10(255 ** 2 / np.mean(errors))), 1)}
            print(f"  {preset} crf {crf}: {results[f'{preset} crf {crf}']}", flush=True)
    finally:
        video.ENCODER_OPTIONS.clear()
        video.ENCODER_OPTIONS.update(default)
    results["load"] += f" -> {load()}"
    return results


def measure_labels(tree: Path, clip: Path, work: Path) -> dict:
    """The faces of every frame of LABELS_CLIP (not the 1080p clip: real, unscaled footage)."""
    _, _, done = run_timed([sys.executable, "app.py", "predict", str(data_dir() / LABELS_CLIP), "--json"], cwd=tree)
    frames = [json.loads(line)["faces"] for line in done.stdout.splitlines()]
    (work / "faces.json").write_text(json.dumps(frames))
    return {"frames": len(frames), "faces": sum(map(len, frames)), "file": str(work / "faces.json")}


PARTS = {"stages": measure_stages, "cli": measure_cli, "tab": measure_tab, "labels": measure_labels,
         "encoders": measure_encoders}


def print_report(clip: dict, results: dict) -> None:
    seconds = clip["frames"] / clip["fps"]
    print(f"\nclip: {clip['size']}, {clip['frames']} frames, {seconds:.2f} s, {clip['bytes'] / 1e6:.2f} MB "
          f"(made from {clip['source']})")
    for part, versions in results.items():
        print(f"\n## {part}")
        for version, result in versions.items():
            if part == "encoders":
                seconds_of_clip = clip["frames"] / clip["fps"]
                for choice, v in result.items():
                    if choice != "load":
                        print(f"{choice:18s}: {v['cpu_ms']:5.1f} ms CPU per frame, {v['bytes'] / 1e6:5.2f} MB "
                              f"({v['bytes'] * 8 / seconds_of_clip / 1e6:.2f} Mbit/s), PSNR {v['psnr_db']} dB")
                print(f"load {result['load']}")
                continue
            if part == "labels":
                first = json.loads(Path(next(iter(versions.values()))["file"]).read_text())
                same = sum(a == b for a, b in zip(first, json.loads(Path(result["file"]).read_text())))
                print(f"{version:6s}: {result['frames']} frames, {result['faces']} faces; {same} frames with the same "
                      f"faces (boxes, scores, labels, probabilities) as {next(iter(versions))}")
                continue
            if part == "stages":
                cells = ", ".join(f"{stage} {v['wall_ms']:.0f} ms ({v['cpu_ms']:.0f} ms CPU)"
                                  for stage, v in result["per_frame"].items())
                print(f"{version:6s}: per frame: {cells}; load {result['load']}")
                continue
            output = result["output"]
            wall = result["wall_s"]
            extra = (f"start-up {result['startup_wall_s']} s ({result['startup_cpu_s']} s CPU), "
                     f"CPU {result['cpu_s']} s" if part == "cli" else
                     f"first status line {result['first_status_s']} s, {result['status_lines']} status lines, "
                     f"first progress bar {result['first_progress_s']} s, server CPU {result['server_cpu_s']} s")
            print(f"{version:6s}: wall {wall} s = {wall / seconds:.2f}x the clip; {extra}; output {output['codec']} "
                  f"{output['size']} {output['frames']} frames {output['bytes'] / 1e6:.2f} MB; load {result['load']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="clip under FACEXP_DATA to scale to 1080p")
    parser.add_argument("--before", default=BEFORE_REV, help="the commit measured as 'before'")
    parser.add_argument("--versions", nargs="+", choices=["before", "after"], default=["before", "after"])
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=["stages", "cli", "tab", "labels"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {load()}; command: python -m bench.video_speed "
          + " ".join(argv if argv is not None else sys.argv[1:]), flush=True)
    with tempfile.TemporaryDirectory(prefix="video-speed-") as folder:
        folder = Path(folder)
        source = data_dir() / args.source
        clip_path = folder / f"{source.stem}_1080p.mp4"
        clip = {**make_clip(source, clip_path), "source": args.source}
        clip["fps"] = clip["frames"] / clip["seconds"]
        trees = {"before": export_tree(args.before, folder / "before") if "before" in args.versions else None,
                 "after": REPO}
        results: dict = {}
        for part in args.parts:
            for version in (["after"] if part == "encoders" else args.versions):
                work = folder / f"{part}-{version}"
                work.mkdir()
                print(f"{part}, {version}: load {load()}", flush=True)
                results.setdefault(part, {})[version] = PARTS[part](trees[version], clip_path, work)
                print(f"  {json.dumps(results[part][version])}", flush=True)
        print_report(clip, results)
    if args.json:
        args.json.write_text(json.dumps({"clip": clip, "results": results}, indent=1))
    print(f"\n# {time.perf_counter() - started:.0f} s, load average {load()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
