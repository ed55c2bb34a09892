from guardrun.cli import entry

entry()
