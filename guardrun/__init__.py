"""guardrun: run an AI coding agent under a memory guard."""

__version__ = "0.1.0"
