"""The benchmark's table, ratios and machine description."""

from __future__ import annotations

import os
import platform
from typing import Any

LABELS = {
    "project": "simple-etl transform + load",
    "copy_floor": "floor: plain COPY of the transformed rows",
    "naive": "naive: INSERT row by row, commit per person",
    "dlt": "dlt merge (out of the box)",
    "http_run": "end to end: simple-etl run <- fake-api, HTTP",
    "api": "stand-in API alone (one process)",
}
# What the project's path must reach at TARGET_PEOPLE (the acceptance criteria).
TARGET_PEOPLE = 100_000
TARGETS = {"copy_floor": 0.5, "naive": 40.0, "dlt": 15.0}
API_TARGET = 20_000


def environment(postgres: str) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgres": postgres,
        # Other work on the machine slows every contender: recorded so a run can be judged.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def heading(env: dict[str, Any]) -> str:
    return (
        f"simple-etl benchmark: {env['cpus']} CPUs ({env['cpu_model']}), {env['memory_gib']} GiB, "
        f"{env['postgres']}, Python {env['python']}\n"
        "data: the offline API's generator, in-process; "
        "each measurement on a fresh database after a CHECKPOINT"
    )


def label(measurement: dict[str, Any]) -> str:
    version = measurement["samples"][0].get("dlt_version")
    text = LABELS[measurement["contender"]]
    return text.replace("dlt ", f"dlt {version} ") if version else text


def progress(summary: dict[str, Any]) -> str:
    return (
        f"  {label(summary):<46} {summary['people']:>8,} people "
        f"{summary['seconds']:>8.2f} s {summary['people_per_second']:>8,} people/s"
    )


def ratios(measurements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """project / X at each size the project ran; X at its own size when it ran elsewhere."""
    project = {m["people"]: m for m in measurements if m["contender"] == "project"}
    found = []
    for other in ("copy_floor", "naive", "dlt"):
        rows = {m["people"]: m for m in measurements if m["contender"] == other}
        for people, mine in sorted(project.items()):
            theirs = rows.get(people)
            if theirs is None and other == "naive" and rows:  # measured on fewer people: its rate is flat
                theirs = min(rows.values(), key=lambda m: m["people"])
            if theirs is None:
                continue
            ratio = mine["people_per_second"] / theirs["people_per_second"]
            target = TARGETS[other] if people == TARGET_PEOPLE else None
            found.append(
                {
                    "ratio": f"project / {other}",
                    "people": people,
                    "their_people": theirs["people"],
                    "value": round(ratio, 3),
                    "target": target,
                    "met": None if target is None else ratio >= target,
                }
            )
    return found


def table(results: dict[str, Any]) -> str:
    lines = ["", heading(results["environment"]), ""]
    cells = ["contender".ljust(46), "  people", " people/s", "   best/s", " wall s", " peak RSS"]
    lines += ["| " + " | ".join(cells) + " |", "|" + "|".join("-" * (len(cell) + 2) for cell in cells) + "|"]
    for m in results["measurements"]:
        rss = m.get("run_peak_rss_mib", m.get("peak_rss_mib"))
        rss_text = f"{rss:.0f} MiB" if rss is not None and m["contender"] in ("project", "http_run") else ""
        best = round(m["people"] / min(sample["seconds"] for sample in m["samples"]))
        lines.append(
            f"| {label(m):<46} | {m['people']:>8,} | {m['people_per_second']:>9,} | {best:>9,} | "
            f"{m['seconds']:>7.2f} | {rss_text:>9} |"
        )
    lines += ["", "| ratio (people/s) | at N | value | target | |", "|---|---:|---:|---:|---|"]
    for r in results["ratios"]:
        measured_at = f" (theirs at {r['their_people']:,})" if r["their_people"] != r["people"] else ""
        verdict = "" if r["met"] is None else ("met" if r["met"] else "missed")
        target = "" if r["target"] is None else f">= {r['target']:g}x"
        lines.append(
            f"| {r['ratio']}{measured_at} | {r['people']:,} | {r['value']:.2f}x | {target} | {verdict} |"
        )
    for m in results["measurements"]:
        if m["contender"] == "api":
            verdict = "met" if m["people_per_second"] >= API_TARGET else "missed"
            lines.append(
                f"| stand-in API, one process | {m['people']:,} | {m['people_per_second']:,} people/s | "
                f">= {API_TARGET:,} | {verdict} |"
            )
    return "\n".join([*lines, "", *notes(results["measurements"])])


def notes(measurements: list[dict[str, Any]]) -> list[str]:
    """What the table cannot say in a cell: where the project's time goes, and what was measured how."""
    found = []
    for m in measurements:
        if m["contender"] == "project":
            chosen = next(s for s in m["samples"] if round(s["seconds"], 4) == m["seconds"])
            found.append(
                f"- project at {m['people']:,}: spool {chosen['extract_seconds']:.2f} s + load transaction "
                f"{chosen['load_seconds']:.2f} s; CPU client {chosen['client_cpu_seconds']:.2f} s, "
                f"server {chosen['server_cpu_seconds']:.2f} s"
            )
        elif m["contender"] == "copy_floor":
            found.append(f"- floor at {m['people']:,}: CPU server {m['server_cpu_seconds']:.2f} s")
        elif m["contender"] == "naive":
            found.append(
                f"- naive measured on {m['people']:,} people: one commit (one WAL flush) per person, "
                "so its rate does not depend on N"
            )
    found.append(
        "- people/s and wall s: the median run; best/s: the fastest run (the machine may be shared); "
        "every run is in the JSON results"
    )
    return found


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo") as info:
            kib = int(info.readline().split()[1])
        return round(kib / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        return 0.0
