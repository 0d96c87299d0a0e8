"""`python app.py` with a line of memory statistics every --every seconds on stderr: where the process's anonymous
memory is (glibc's heap in use and free, its mmapped chunks, and the rest: Python's own object arenas, thread stacks,
libraries' private maps) and how many objects the garbage collector tracks. For soaks (bench/load.py --url --pid).

    .venv/bin/python -m bench.malloc_probe [--every 60] -- [app.py arguments, e.g. --port 7860]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import runpy
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class MallInfo2(ctypes.Structure):  # glibc >= 2.33, malloc.h
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def memory_line(libc, start: float) -> str:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    kib = {name: int(status[name].split()[0]) for name in ("VmRSS", "RssAnon", "RssFile")}
    info = libc.mallinfo2()
    mb = 2 ** 20
    heap, mapped = info.arena / mb, info.hblkhd / mb
    return (f"memory (MB) t={time.time() - start:.0f}s rss={kib['VmRSS'] / 1024:.1f} anon={kib['RssAnon'] / 1024:.1f} "
            f"file={kib['RssFile'] / 1024:.1f} malloc_heap={heap:.1f} (in use {info.uordblks / mb:.1f}, "
            f"free {info.fordblks / mb:.1f}) malloc_mmapped={mapped:.1f} ({info.hblks} maps) "
            f"anon_outside_malloc={kib['RssAnon'] / 1024 - heap - mapped:.1f} gc_objects={len(gc.get_objects())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=float, default=60)
    parser.add_argument("app_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    start = time.time()

    def report() -> None:
        while True:
            time.sleep(args.every)
            print(memory_line(libc, start), file=sys.stderr, flush=True)

    threading.Thread(target=report, daemon=True, name="malloc-probe").start()
    sys.path.insert(0, str(REPO))
    sys.argv = [str(REPO / "app.py"), *[a for a in args.app_args if a != "--"]]
    runpy.run_path(str(REPO / "app.py"), run_name="__main__")


if __name__ == "__main__":
    main()
