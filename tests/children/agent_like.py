"""A child that behaves like an agent at a terminal: bursts of output, then silence, while
its memory draws a shape. Appends its pid to --starts; logs each phase change with the
wall time to --phases ("busy <t>" / "quiet <t>").

--shape leak: grows --rate MB/s all along (busy or not: agents leak while idle too).
--shape sawtooth: grows --rate MB/s to --amplitude MB above its start, frees it all
  (a garbage collection), and again: memory rises and falls without leaking.
--trough S: (sawtooth) after each collection memory stays at its floor S seconds before
  it grows again, so that a sample, however late, sees the floor: without it, a child
  starved of CPU frees and regrows in one catch-up and its floor is never there to see.
--busy S / --quiet S: seconds of output (a line every 0.1 s), then of silence.
"""

import argparse
import os
import sys
import time

CHUNK = 2_000_000  # bytes per allocation: over mmap's threshold, so freeing returns it


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--starts", required=True)
    p.add_argument("--phases", required=True)
    p.add_argument("--shape", choices=("leak", "sawtooth"), default="leak")
    p.add_argument("--rate", type=float, default=10.0)  # MB/s
    p.add_argument("--amplitude", type=float, default=200.0)  # MB (sawtooth)
    p.add_argument("--trough", type=float, default=0.0)  # s (sawtooth)
    p.add_argument("--busy", type=float, default=3.0)
    p.add_argument("--quiet", type=float, default=4.0)
    p.add_argument("--max", type=float, default=3000.0)  # MB: never more than this
    a = p.parse_args()
    with open(a.starts, "a") as f:
        f.write(f"{os.getpid()} {' '.join(sys.argv[1:])}\n")
    phases = open(a.phases, "a", buffering=1)  # noqa: SIM115 (held for the run)
    hoard: list[bytearray] = []
    every = CHUNK / (a.rate * 1_000_000)  # seconds between allocations
    start = time.monotonic()
    next_alloc = start
    busy, phase_end = True, start + a.busy
    phases.write(f"busy {time.time():.3f}\n")
    os.write(1, b"READY\n")
    while True:
        now = time.monotonic()
        if now >= phase_end:
            busy = not busy
            phase_end = now + (a.busy if busy else a.quiet)
            phases.write(f"{'busy' if busy else 'quiet'} {time.time():.3f}\n")
        while now >= next_alloc:
            if a.shape == "sawtooth" and len(hoard) * CHUNK >= a.amplitude * 1_000_000:
                hoard.clear()  # the collection: everything above the start is freed
                if a.trough > 0:  # the floor held, not regrown in this catch-up
                    next_alloc = now + a.trough
                    break
            elif len(hoard) * CHUNK < a.max * 1_000_000:
                chunk = bytearray(CHUNK)
                chunk[::4096] = b"x" * len(chunk[::4096])  # touch every page: resident
                hoard.append(chunk)
            next_alloc += every
        if busy:
            os.write(1, f"working {len(hoard) * CHUNK // 1_000_000} MB\r\n".encode())
        time.sleep(0.1 if busy else min(0.1, max(0.0, next_alloc - time.monotonic())))


if __name__ == "__main__":
    main()
