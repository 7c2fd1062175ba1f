"""A request/reply log: one JSON object per request with ``time``, ``prompt``, ``reply``, ``latency_s``.

Notebook 22's server writes its log in this shape, so a monitor written against it reads either.
For teaching we also *generate* such a stream from course data, with a topic shift at a known
request, so a drift detector can be checked against the truth it should find.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Mapping, Sequence

from labkit import data
from labkit.errors import DataError

LOG_SCHEMA: dict[str, type] = {"time": str, "prompt": str, "reply": str, "latency_s": float}
START = datetime(2026, 1, 5, 9, 0, 0)

Pool = Mapping[str, Sequence[tuple[str, str]]]  # topic -> (prompt, correct reply) pairs


def _pick(pool: Pool, rng: random.Random, error_rate: float) -> tuple[str, str, str]:
    """One request from ``pool``: a topic uniformly, a pair within it; a wrong reply with ``error_rate``."""
    topic = rng.choice(sorted(pool))
    pairs = pool[topic]
    prompt, reply = rng.choice(pairs)
    if rng.random() < error_rate:  # a served model is never perfect: reply with another pair's answer
        wrong = [r for _, r in pairs if r != reply]
        reply = rng.choice(wrong) if wrong else reply
    return topic, prompt, reply


def make_traffic(before: Pool, after: Pool, n: int, shift_at: int, seed: int = 0,
                 error_rate: float = 0.0, mean_gap_s: float = 30.0) -> tuple[list[dict], list[str]]:
    """``n`` logged requests drawn from ``before`` up to request ``shift_at`` and from ``after`` from then on.

    Returns the log records and, separately, each request's topic: the truth a monitor never sees
    in a real log, kept so a notebook can mark where the shift happened. Latency is simulated
    (a fixed cost plus a cost per prompt word, times log-normal noise), arrival gaps are exponential.
    """
    if not 0 <= shift_at <= n:
        raise ValueError(f"shift_at ({shift_at}) must lie between 0 and n ({n})")
    for name, pool in (("before", before), ("after", after)):
        if not pool or not all(pool.values()):
            raise ValueError(f"the {name!r} pool needs at least one topic with at least one (prompt, reply) pair")
    rng = random.Random(seed)
    clock, records, topics = START, [], []
    for i in range(n):
        topic, prompt, reply = _pick(before if i < shift_at else after, rng, error_rate)
        clock += timedelta(seconds=rng.expovariate(1 / mean_gap_s))
        latency = (0.15 + 0.004 * len(prompt.split())) * rng.lognormvariate(0.0, 0.2)
        records.append({"time": clock.isoformat(timespec="seconds"), "prompt": prompt, "reply": reply,
                        "latency_s": round(latency, 4)})
        topics.append(topic)
    return records, topics


def write_log(records: Sequence[dict], path: str | os.PathLike) -> Path:
    """Write the log as JSONL (atomically), after checking each record has the log's fields."""
    for i, record in enumerate(records):
        problem = data.check_record(record, LOG_SCHEMA)
        if problem:
            raise DataError(problem, f"record {i}", f"give every record the fields {', '.join(LOG_SCHEMA)}")
    return data.save_jsonl(records, path)


def read_log(path: str | os.PathLike) -> list[dict]:
    """Read a request log back, checking every line; a bad line raises :class:`DataError` naming file:line.

    Beyond the schema, a time must be ISO 8601 and a latency must not be negative: a monitor that
    silently skipped such lines would compute its statistics on a different stream than was served.
    """
    path = Path(path)
    records = data.load_jsonl(path, schema=LOG_SCHEMA)
    line_of = _record_lines(path)
    for record, line in zip(records, line_of):
        where = f"{path}:{line}"
        try:
            datetime.fromisoformat(record["time"])
        except ValueError:
            raise DataError(f"time {record['time']!r} is not ISO 8601", where,
                            "write times like 2026-01-05T09:00:00") from None
        if record["latency_s"] < 0:
            raise DataError(f"latency_s is negative ({record['latency_s']})", where,
                            "log the wall seconds from request to reply")
    return records


def _record_lines(path: Path) -> list[int]:
    """The line number of each non-blank line (load_jsonl skips blank ones)."""
    with open(path, encoding="utf-8-sig") as handle:
        return [number for number, line in enumerate(handle, start=1) if line.strip()]
