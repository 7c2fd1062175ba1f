"""Write data/raw_instructions.jsonl and its planted truth (data/raw_instructions_planted.json).

    .venv/bin/python tools/make_raw_instructions.py

The files are generated deterministically by labkit.dataprep.messy_corpus.make_raw_corpus(seed=0);
tests/test_messy_corpus.py checks the committed files are exactly what it writes.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit.data import data_dir, save_jsonl  # noqa: E402
from labkit.dataprep import messy_corpus  # noqa: E402

if __name__ == "__main__":
    records, truth = messy_corpus.make_raw_corpus(seed=0)
    save_jsonl(records, data_dir() / "raw_instructions.jsonl")
    (data_dir() / "raw_instructions_planted.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(records)} records; planted: " + ", ".join(f"{k} {len(v)}" for k, v in truth.items()))
