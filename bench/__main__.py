"""Run every benchmark: `python -m bench` (`make bench`), or `python -m bench --quick`
(`make bench-quick`: smaller data, for a check in a minute or two).

Prints each figure beside its target (issue 12) with "met" or "NOT met", and writes the whole
run as JSON to bench/results/<UTC time>.json and bench/results/latest.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import broadcast_pacing, core_latency, startup, telegram_throughput
from bench.telegram_throughput import (
    AIOGRAM,
    PTB_DEFAULT,
    WHOLE_POSTGRES,
    WHOLE_SQLITE,
    Result,
    _drop_postgres,
    _postgres_url,
    median_rate,
)

RESULTS = Path(__file__).resolve().parent / "results"
P99_TARGET_MS = 5.0
SESSION_TARGET_BYTES = 2048
STARTUP_TARGET_S = 1.5
PACING_SHARE = 0.95
REPLY_P99_MS = 250.0


def _memory(sessions: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.memory", str(sessions)],
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(results: list[Result], latency: list[core_latency.Latency],
            memory: dict[str, Any], start: dict[str, Any],
            pacing: broadcast_pacing.Pacing) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for scenario in ("first contact", "menu taps"):
        aiogram = median_rate(results, scenario, AIOGRAM)
        ptb = median_rate(results, scenario, PTB_DEFAULT)
        rounds = max((r.round for r in results if r.scenario == scenario), default=1)
        median = "median of " + (f"{rounds} rounds" if rounds > 1 else "1 round") + ": "
        for name in (WHOLE_SQLITE, WHOLE_POSTGRES):
            rate = median_rate(results, scenario, name)
            if rate is None or aiogram is None:
                rows.append((f"{scenario}: {name}", "n/a", "≥ 1.0× aiogram", "not measured"))
                continue
            ratio = rate / aiogram
            vs_ptb = f", {rate / ptb:.2f}× bare PTB" if ptb else ""
            rows.append((f"{scenario}: {name}",
                         f"{median}{rate:,.0f}/s = {ratio:.2f}× aiogram ({aiogram:,.0f}/s)"
                         f"{vs_ptb}",
                         "≥ 1.0× aiogram", "met" if ratio >= 1.0 else "NOT met"))
    for lat in latency:
        rows.append((f"core latency, {lat.database} ({lat.users:,} users)",
                     f"p50 {lat.p50_ms:.2f} ms, p99 {lat.p99_ms:.2f} ms",
                     f"p99 ≤ {P99_TARGET_MS:.0f} ms",
                     "met" if lat.p99_ms <= P99_TARGET_MS else "NOT met"))
    share = (pacing.achieved_rate / pacing.enforced_rate) if pacing.achieved_rate else 0.0
    met = (share >= PACING_SHARE and pacing.twice == 0 and pacing.missed == 0
           and pacing.answer_p99_ms is not None and pacing.answer_p99_ms <= REPLY_P99_MS)
    rows.append((f"broadcast pacing, {pacing.recipients:,} recipients",
                 f"{share:.0%} of {pacing.enforced_rate:.0f}/s, twice {pacing.twice}, "
                 f"missed {pacing.missed}, 429s {pacing.too_many}, answers p99 "
                 f"{pacing.answer_p99_ms or 0:.0f} ms ({pacing.answers})",
                 f"≥ {PACING_SHARE:.0%} of the rate, nobody twice or missed, "
                 f"p99 answer ≤ {REPLY_P99_MS:.0f} ms", "met" if met else "NOT met"))
    per = memory.get("bytes_per_session")
    rows.append((f"memory, {memory.get('sessions', 0):,} sessions",
                 f"{per:,.0f} bytes per session" if per is not None else "n/a",
                 f"≤ {SESSION_TARGET_BYTES:,} bytes",
                 "met" if per is not None and per <= SESSION_TARGET_BYTES else "NOT met"))
    best = start.get("best_seconds")
    rows.append(("start-up to ready (migrated SQLite)",
                 f"best {best:.2f} s, median {start.get('median_seconds') or 0:.2f} s"
                 if best is not None else "did not start",
                 f"≤ {STARTUP_TARGET_S} s",
                 "met" if best is not None and best <= STARTUP_TARGET_S else "NOT met"))
    return rows


def print_summary(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    heads = ("figure", "measured", "target", "verdict")
    print()
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


async def run(quick: bool) -> dict[str, Any]:
    results = await telegram_throughput.main(quick=quick)
    pg = await _postgres_url()
    try:
        latency = await core_latency.run(pg, quick=quick)
    finally:
        if pg is not None:
            await _drop_postgres(pg)
    memory = _memory(2_000 if quick else 10_000)
    print(f"  memory: {memory['bytes_per_session']:,.0f} bytes per session "
          f"({memory['sessions']:,} sessions)", flush=True)
    start = await startup.measure()
    print(f"  start-up to ready: {start}", flush=True)
    pacing = await broadcast_pacing.main(quick=quick)
    rows = summary(results, latency, memory, start, pacing)
    print_summary(rows)
    return {"when": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick,
            "cpus": os.cpu_count(), "throughput": [asdict(r) | {"rate": r.rate} for r in results],
            "core_latency": [asdict(x) for x in latency], "memory": memory, "startup": start,
            "broadcast_pacing": asdict(pacing),
            "summary": [dict(zip(("figure", "measured", "target", "verdict"), r, strict=True))
                        for r in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller data, a quick check")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(run(args.quick))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2, ensure_ascii=False)
    (RESULTS / f"{stamp}{'-quick' if args.quick else ''}.json").write_text(text, "utf-8")
    (RESULTS / "latest.json").write_text(text, "utf-8")
    print(f"\nWritten: bench/results/{stamp}{'-quick' if args.quick else ''}.json")


if __name__ == "__main__":
    main()
