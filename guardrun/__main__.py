import sys

from guardrun.cli import main

sys.exit(main())
