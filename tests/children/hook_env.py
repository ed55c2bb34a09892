"""Hook that prints its GUARDRUN_* environment and argv as one JSON object."""

import json
import os
import sys

env = {k: v for k, v in os.environ.items() if k.startswith("GUARDRUN_")}
print(json.dumps({"env": env, "argv": sys.argv[1:], "pgid": os.getpgid(0), "sid": os.getsid(0)}))
code = int(os.environ.get("HOOK_EXIT", "0"))
sys.exit(code)
