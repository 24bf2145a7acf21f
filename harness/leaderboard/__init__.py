"""The leaderboard: submit, verify by replay, rank only what is comparable, publish as tables and a page.

- :mod:`~harness.leaderboard.entry`: the comparability key, reading a submitted folder, the entry
  record and its JSON Schema (``entry.schema.json``, written to ``leaderboard/schema.json``);
- :mod:`~harness.leaderboard.replay`: verification by replaying every logged action;
- :mod:`~harness.leaderboard.store`: immutable storage — content-addressed files
  ``entries/<key-hash>/<entry-id>.json`` in the project's ``leaderboard/`` folder (why not a
  separate git repository: see that module), or pull requests on the Hub's leaderboard dataset;
- :mod:`~harness.leaderboard.submit`: ``harness submit``;
- :mod:`~harness.leaderboard.scoring`: action efficiency with the scorer pinned per key;
- :mod:`~harness.leaderboard.spot_check`: ``harness leaderboard --spot-check``, regenerating a sample
  of an entry's episodes with the model it names; :mod:`~harness.leaderboard.expert_match`: the flag
  on entries made of the scripted expert's episodes; :mod:`~harness.leaderboard.check_records`: their
  content-hashed records (``spot_checks/``, ``expert_match/``), checked by ``--verify``;
- :mod:`~harness.leaderboard.board`, :mod:`~harness.leaderboard.tables`, :mod:`~harness.leaderboard.page`:
  ranking and rendering (terminal, ``README.md``, ``index.html``) for ``harness leaderboard``.
"""

from __future__ import annotations

from pathlib import Path


def publish(root: str | Path = "leaderboard", env: str | None = None) -> str:
    """Write ``README.md``, ``index.html`` and ``schema.json`` of the whole board under ``root``;
    return the terminal table (of ``env`` only, when given)."""
    from harness.leaderboard.board import build_board
    from harness.leaderboard.page import render_html
    from harness.leaderboard.store import LocalLeaderboard
    from harness.leaderboard.tables import render_markdown, render_terminal

    root = Path(root)
    full = build_board(root)
    root.mkdir(parents=True, exist_ok=True)
    LocalLeaderboard(root).write_schema()
    (root / "README.md").write_text(render_markdown(full), encoding="utf-8")
    (root / "index.html").write_text(render_html(full), encoding="utf-8")
    return render_terminal(full if env is None else build_board(root, env))
