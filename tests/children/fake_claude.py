"""Claude Code's files, and a leak on demand: what the real CLI cannot do offline.

Run through a link named ``claude`` (guardrun detects an agent by its command's name).
It writes ``<CLAUDE_CONFIG_DIR>/sessions/<pid>.json`` as Claude Code 2.1.197 does
(sessionId, cwd, startedAt, procStart) and appends a line to its transcript, which the
caller has put at ``projects/<encoded cwd>/<FAKE_SESSION>.jsonl``, then:

- ``FAKE_LEAK="RATE,MAX"``: grows by RATE MB/s up to MAX MB, on its first start only
  (a resumed run, once ``FAKE_OUT`` exists, holds nothing);
- ``FAKE_APPEND=S``: appends a transcript line every S seconds, as an agent at work does
  (so every capture finds the transcript changed);
- ``FAKE_TICK=S``: prints ``T <time.time()>`` every S seconds, for the relay's latency.

On SIGTERM it appends ``<time.time()> <rss bytes>`` to ``FAKE_OUT``, removes its sessions
file (a clean exit of Claude does) and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid


def line(session: str, cwd: str, text: str) -> str:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return json.dumps({
        "type": "user", "uuid": str(uuid.uuid4()), "parentUuid": None, "sessionId": session,
        "cwd": cwd, "timestamp": now, "version": "2.1.197", "gitBranch": "",
        "message": {"role": "user", "content": [{"type": "text", "text": text}]},
    }) + "\n"  # fmt: skip


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    config = os.environ["CLAUDE_CONFIG_DIR"]
    out = os.environ["FAKE_OUT"]
    session = os.environ["FAKE_SESSION"]
    if "--resume" in sys.argv:
        session = sys.argv[sys.argv.index("--resume") + 1]
    cwd = os.getcwd()
    encoded = "".join(c if c.isalnum() and c.isascii() else "-" for c in cwd)
    transcript = os.path.join(config, "projects", encoded, f"{session}.jsonl")
    first = not os.path.exists(out)
    with open(f"/proc/{os.getpid()}/stat") as f:
        stat = f.read()
    ticks = stat[stat.rfind(")") + 2 :].split()[19]
    sessions = os.path.join(config, "sessions", f"{os.getpid()}.json")
    os.makedirs(os.path.dirname(sessions), exist_ok=True)
    with open(sessions, "w") as f:
        json.dump({"pid": os.getpid(), "sessionId": session, "cwd": cwd,
                   "startedAt": int(time.time() * 1000), "procStart": ticks,
                   "version": "2.1.197", "kind": "interactive"}, f)  # fmt: skip

    def on_term(signum: int, frame: object) -> None:
        with open(out, "a") as f:
            f.write(f"{time.time():.6f} {rss()}\n")
        try:
            os.unlink(sessions)
        except OSError:
            pass
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    with open(transcript, "a") as t:
        t.write(line(session, cwd, "started"))
    leak = os.environ.get("FAKE_LEAK", "") if first else ""
    rate, most = (float(x) for x in leak.split(",")) if leak else (0.0, 0.0)
    append = float(os.environ.get("FAKE_APPEND", "0") or 0)
    tick = float(os.environ.get("FAKE_TICK", "0") or 0)
    print("READY", flush=True)
    hoard: list[bytes] = []
    held = 0.0
    step = 10.0  # MB per allocation
    next_grow = next_append = next_tick = time.monotonic()
    while True:
        now = time.monotonic()
        if rate and held < most and now >= next_grow:
            hoard.append(b"\x01" * int(step * 1_000_000))  # written: resident at once
            held += step
            next_grow += step / rate
        if append and now >= next_append:
            with open(transcript, "a") as t:
                t.write(line(session, cwd, f"working at {time.time():.3f}"))
            next_append += append
        if tick and now >= next_tick:
            os.write(1, f"T {time.time():.6f}\n".encode())
            next_tick += tick
        waits = [w for w in (next_grow if rate and held < most else None,
                             next_append if append else None,
                             next_tick if tick else None) if w is not None]  # fmt: skip
        time.sleep(max(0.0, min(waits) - time.monotonic()) if waits else 0.5)


if __name__ == "__main__":
    main()
