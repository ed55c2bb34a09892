"""Dispatch of the subcommands (state, status, restart, capture, config, doctor)."""

from __future__ import annotations

import argparse

from guardrun.errors import UsageError


def run_subcommand(ns: argparse.Namespace, words: list[str]) -> int:
    raise UsageError(f"unknown subcommand {words[0]!r}")
