"""examples/prometheus/alerts.yml: a Prometheus rules file (parsed with PyYAML) whose
expressions name only metrics and labels that guardrun's textfile holds."""

from __future__ import annotations

import re

import yaml
from prometheus_client.parser import text_string_to_metric_families
from support import REPO

from guardrun.observe.metrics import CAPTURE_REASONS, METRICS, PREFIX, Metrics
from guardrun.platform.types import ProcSample, TreeSample
from guardrun.supervisor.degrade import MODES
from guardrun.supervisor.levels import Thresholds
from guardrun.supervisor.status import RunStatus

ALERTS = REPO / "examples" / "prometheus" / "alerts.yml"
FUNCTIONS = {"sum", "min", "max", "avg", "count", "increase", "rate", "time", "absent",
             "max_over_time", "min_over_time", "avg_over_time", "changes", "resets"}  # fmt: skip
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset"}  # fmt: skip
LISTS = r"\b(by|without|on|ignoring|group_left|group_right)"
TARGET_LABELS = {"instance", "job"}  # added by Prometheus at the scrape


def written() -> tuple[set[str], set[str], dict[str, set[str]]]:
    """Metric names, label names and each label's values in a file guardrun writes (all
    of its families: an emergency stop's, with a budget, growth and both ETAs)."""
    st = RunStatus(
        name="x", metric="rss", mode="emergency_stop", level="emergency", restarts=1,
        sample=TreeSample(0.0, (ProcSample(1, 0, 10),)), thresholds=Thresholds(1, 2, 3),
        growth=1.0, eta_critical=1.0, eta_emergency=2.0, budget=100,
    )  # fmt: skip
    m = Metrics(REPO / "unused.prom", {"run_id": "r", "project": "p", "agent": "a"},
                {"version": "1", "metric": "rss", "command": "c"}, warn=print)  # fmt: skip
    text = m.render(st, exit_code=75) + f"{PREFIX}last_update_timestamp_seconds{{}} 1\n"
    names, labels, values = set(), set(), {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            names.add(s.name)
            for k, v in s.labels.items():
                labels.add(k)
                values.setdefault(k, set()).add(v)
    assert names == {PREFIX + n for n in METRICS}  # every declared family is rendered
    return names, labels, values


def check_expression(expr: str) -> None:
    names, labels, values = written()
    labels |= TARGET_LABELS
    # label matchers: {name="value", ...}
    for body in re.findall(r"\{([^}]*)\}", expr):
        for key, _op, val in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', body):
            assert key in labels, f"{key} is not a label guardrun writes: {expr}"
            if key in values and _op == "=":
                assert val in values[key] | set(MODES) | set(CAPTURE_REASONS), (key, val)
    rest = re.sub(r"\{[^}]*\}", " ", expr)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)  # ranges: [1h]
    # label lists: by (a, b), on (a), without (...), group_left (...)
    for kw, body in re.findall(LISTS + r"\s*\(([^)]*)\)", rest):
        for label in re.findall(r"\w+", body):
            assert label in labels, f"{kw} ({label}): not a label guardrun writes: {expr}"
    rest = re.sub(LISTS + r"\s*\([^)]*\)", " ", rest)
    for ident, call in re.findall(r"\b([A-Za-z_:][\w:]*)\s*(\()?", rest):
        if call:
            assert ident in FUNCTIONS, f"{ident}() is not a PromQL function here: {expr}"
        elif ident not in KEYWORDS:
            assert ident in names, f"{ident} is not a metric guardrun writes: {expr}"


def test_the_example_is_a_rules_file_naming_only_guardrun_metrics() -> None:
    doc = yaml.safe_load(ALERTS.read_text())
    (group,) = doc["groups"]
    rules = group["rules"]
    alerts = {r["alert"] for r in rules}
    assert {"GuardrunAgentRestartingOften", "GuardrunEmergencyStop",
            "GuardrunMachineOverBudget"} <= alerts  # fmt: skip
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert rule["labels"]["severity"] in ("warning", "critical")
        check_expression(rule["expr"])
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])


def test_the_check_catches_a_name_guardrun_does_not_write() -> None:
    for bad in ("guardrun_tree_memory > 1", "sum by (host) (guardrun_level)",
                'guardrun_mode{state="x"} == 1', "frobnicate(guardrun_level)"):  # fmt: skip
        try:
            check_expression(bad)
        except AssertionError:
            continue
        raise AssertionError(f"not caught: {bad}")
