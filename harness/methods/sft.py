"""SFT: stage 0 alone (``iterations: 0``), the baseline every method is compared with."""

from __future__ import annotations

from harness.methods.base import Method

METHOD = Method("sft", "SFT", (), lambda recipe: [], lambda ctx, i, policy, sft, chosen: policy)
