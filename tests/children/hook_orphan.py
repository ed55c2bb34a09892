"""Hook that leaves an orphan behind: forks a sleeper, writes its pid to argv[1], exits."""

import os
import sys
import time

pid = os.fork()
if pid == 0:
    time.sleep(30)
    os._exit(0)
with open(sys.argv[1], "w") as f:
    f.write(str(pid))
