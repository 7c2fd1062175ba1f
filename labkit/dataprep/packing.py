"""How much of a batch is padding, with and without packing (notebook 07).

A batch is a rectangle: every row is padded to its longest sequence, and the model computes on
the padding too. With short and long examples mixed, much of that compute is wasted. *Packing*
puts several examples into one row of up to ``max_length`` tokens (TRL's ``pack_dataset``, used by
``SFTConfig(packing=True)``), so rows are nearly full and nearly no padding is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Waste:
    """Token counts of a set of padded batches."""

    real: int  # tokens of the examples
    padded: int  # padding tokens added
    rows: int  # sequences (batch rows)

    @property
    def fraction(self) -> float:
        """Share of all computed positions that are padding."""
        return self.padded / max(self.real + self.padded, 1)


def padding_waste(lengths: Sequence[int], batch_size: int) -> Waste:
    """Padding when rows of these ``lengths``, in this order, are batched ``batch_size`` at a time
    and each batch is padded to its longest row (dynamic padding, as in transformers' collators)."""
    padded = 0
    for start in range(0, len(lengths), batch_size):
        batch = lengths[start:start + batch_size]
        padded += max(batch) * len(batch) - sum(batch)
    return Waste(real=int(sum(lengths)), padded=int(padded), rows=len(lengths))
