"""The leaderboard page in a real headless browser (Debian's Chromium): rows, sorting, the reported section.

Skips when /usr/bin/chromium is absent (CI installs it: `apt-get install -y chromium`).
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_leaderboard_submit import lb_evals, with_eval_sets  # noqa: F401 (the session fixture of evaluator outputs)

from harness.cli import main

CHROMIUM = Path("/usr/bin/chromium")
REFERENCE = Path(__file__).resolve().parent.parent / "leaderboard" / "reference"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)")


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with no network side traffic and a throwaway profile."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    return subprocess.run([str(CHROMIUM), *flags, *args, url], capture_output=True, text=True, timeout=90, check=True)


class Rows(HTMLParser):
    """Collects each table's rows as lists of cell texts, plus the attributes of tables and body."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[dict, list[list[str]]]] = []
        self.body: dict = {}
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "table":
            self.tables.append((a, []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture
def page(tmp_path, lb_evals) -> Path:  # noqa: F811
    board = tmp_path / "lb"
    shutil.copytree(REFERENCE, board / "reference")
    for name, method in (("random", "Random <b>agent</b>"), ("expert", "Oracle expert")):
        assert main(["submit", str(lb_evals[name]), "--leaderboard", str(with_eval_sets(board)), "--method", method]) == 0
    assert main(["leaderboard", "--leaderboard", str(board)]) == 0
    return board / "index.html"


def test_the_page_renders_ranked_rows_and_the_reported_section(page, tmp_path):
    dom = chromium(tmp_path, page.as_uri(), "--dump-dom").stdout
    parsed = Rows()
    parsed.feed(dom)
    assert parsed.body.get("data-ready") == "yes"  # the page's script ran
    (ranked_attrs, ranked), (ref_attrs, reference) = parsed.tables
    assert "ranked" in ranked_attrs["class"] and "reference" in ref_attrs["class"]
    assert ranked[0][:4] == ["rank", "rank 95% interval", "method", "avg reward ×100 [95% CI]"]
    assert [(r[0], r[2]) for r in ranked[1:]] == [("1", "Oracle expert"), ("2", "Random <b>agent</b>")]  # escaped, not markup
    assert ranked[1][3] == "100.0 [100.0, 100.0]" and ranked[1][5] == "—"
    assert [r[0] for r in reference[1:]] == ["GPT-4", "Llama-2-7B untrained", "SFT", "RFT", "ETO", "Step-PPO", "IPR"]
    assert reference[-1][:2] == ["IPR", "71.3"]
    assert "Reported by the paper (Xiong et al. 2024, Table 2)" in dom
    assert dom.count('<g class="bar"') == 2 and dom.count('class="ci"') == 2  # bars with intervals


def test_sorting_by_a_column_reorders_the_rows(page, tmp_path):
    dom = chromium(tmp_path, page.as_uri() + "#sort=avg_reward:asc", "--dump-dom").stdout
    parsed = Rows()
    parsed.feed(dom)
    attrs, ranked = parsed.tables[0]
    assert attrs["data-sorted-by"] == "avg_reward:asc"
    assert [r[2] for r in ranked[1:]] == ["Random <b>agent</b>", "Oracle expert"]


def test_the_page_screenshot_is_drawn(page, tmp_path):
    shot = tmp_path / "page.png"
    chromium(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1200,1000")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 1000) and len(data) > 20_000  # a blank page compresses to a few kB
