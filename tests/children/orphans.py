"""Double-forks N short-lived processes (each exits at once after the fork), then sleeps:
the orphans are adopted by guardrun (the subreaper) and exit between its samples."""

import os
import sys
import time

for _ in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            time.sleep(0.01)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
print("done", flush=True)
time.sleep(60)
