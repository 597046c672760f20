#!/usr/bin/env python3
"""measure.py RUNS -- CMD...: run CMD RUNS times; print median wall seconds and the median of
the peak resident set size (MiB) of the process tree (the largest of CMD and every descendant it
waited for). Exits non-zero if any run fails."""
import os
import resource
import statistics
import subprocess
import sys
import time


def one(cmd, wfd):
    pid = os.fork()
    if pid == 0:
        # a fresh child so that RUSAGE_CHILDREN covers this run only
        t0 = time.monotonic()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        os.write(wfd, f"{r.returncode} {wall} {rss}\n".encode())
        os._exit(0)
    os.waitpid(pid, 0)


def main():
    runs = int(sys.argv[1])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    rfd, wfd = os.pipe()
    walls, rsss = [], []
    for _ in range(runs):
        one(cmd, wfd)
        line = b""
        while not line.endswith(b"\n"):
            line += os.read(rfd, 256)
        code, wall, rss = line.split()
        if int(code) != 0:
            print(f"failed: {' '.join(cmd)} (exit {int(code)})", file=sys.stderr)
            sys.exit(1)
        walls.append(float(wall))
        rsss.append(float(rss))
    print(f"{statistics.median(walls):.2f} {statistics.median(rsss):.0f}")


if __name__ == "__main__":
    main()
