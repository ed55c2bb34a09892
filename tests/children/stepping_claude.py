"""A stand-in for Claude Code that grows during one tool call and not during another.

Run through a link named ``claude`` (guardrun knows an agent by its command's name). It
writes ``<CLAUDE_CONFIG_DIR>/sessions/<pid>.json`` and its transcript at
``projects/<encoded cwd>/<STEP_SESSION>.jsonl`` as Claude Code 2.x does, then plays one
turn: a prompt, a model turn, a ``Bash`` call during which it allocates ``STEP_GROW`` MB
(resident at once), a model turn, a ``Read`` call of the same length during which it
allocates nothing, a last reply, and an idle stretch; then it exits 0. The prompt, the tool
results and the reply all hold ``STEP_SECRET``: a report must show none of them.
"""

from __future__ import annotations

import json
import os
import time
import uuid


def stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def main() -> None:
    config = os.environ["CLAUDE_CONFIG_DIR"]
    session = os.environ["STEP_SESSION"]
    secret = os.environ.get("STEP_SECRET", "")
    grow = int(os.environ.get("STEP_GROW", "80"))
    cwd = os.getcwd()
    encoded = "".join(c if c.isalnum() and c.isascii() else "-" for c in cwd)
    path = os.path.join(config, "projects", encoded, f"{session}.jsonl")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sessions = os.path.join(config, "sessions", f"{os.getpid()}.json")
    os.makedirs(os.path.dirname(sessions), exist_ok=True)
    with open(sessions, "w") as f:
        json.dump({"pid": os.getpid(), "sessionId": session, "cwd": cwd,
                   "startedAt": int(time.time() * 1000), "version": "2.1.197"}, f)  # fmt: skip
    parent = None

    def write(kind: str, content: object, **extra: object) -> None:
        nonlocal parent
        me = str(uuid.uuid4())
        line = {"parentUuid": parent, "isSidechain": False, "userType": "external", "cwd": cwd,
                "sessionId": session, "version": "2.1.197", "gitBranch": "main", "type": kind,
                "message": {"role": kind, "content": content}, "uuid": me,
                "timestamp": stamp(), **extra}  # fmt: skip
        parent = me
        with open(path, "a") as t:
            t.write(json.dumps(line, separators=(",", ":")) + "\n")

    def use(ident: str, name: str, command: str) -> None:
        block = {"type": "tool_use", "id": ident, "name": name, "input": {"command": command}}
        write("assistant", [block])

    def result(ident: str, text: str) -> None:
        block = {"tool_use_id": ident, "type": "tool_result", "content": text}
        write("user", [block], toolUseResult={"stdout": text})

    write("user", f"please look at the leak, my token is {secret}")
    time.sleep(0.8)  # the model thinks
    use("toolu_grow", "Bash", f"grow --token {secret}")
    hoard = []
    for _ in range(grow // 10):
        hoard.append(b"\x01" * 10_000_000)  # written: resident at once
        time.sleep(0.2)
    time.sleep(0.6)
    result("toolu_grow", f"grew, secret {secret}")
    time.sleep(0.8)
    use("toolu_read", "Read", f"cat {secret}.txt")
    time.sleep(0.2 * (grow // 10) + 0.6)  # as long as the Bash call, without growing
    result("toolu_read", f"file content {secret}")
    time.sleep(0.8)
    write("assistant", [{"type": "text", "text": f"done: {secret}"}])
    time.sleep(2.5)  # idle: the user reads
    print(len(hoard), flush=True)


if __name__ == "__main__":
    main()
