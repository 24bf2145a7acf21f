"""The board as one static HTML page: a sortable table and a bar chart with 95% intervals per key.

Self-contained (inline CSS, SVG and a few lines of JavaScript; nothing fetched), so it can be
opened from disk or served by any static host. Clicking a column header sorts the table; the
address fragment ``#sort=<column>:<asc|desc>`` sorts every ranked table on load. Every string that
comes from a submission is HTML-escaped by :func:`~harness.leaderboard.escaping.html_text`.
"""

from __future__ import annotations

from harness.leaderboard.board import Board, Group, ReferenceTable
from harness.leaderboard.escaping import html_text
from harness.leaderboard.tables import (
    DASH,
    efficiency_note,
    pct,
    protocol_note,
    rank_interval,
    reference_rows,
    section_title,
    upper_first,
)
from harness.types import Metric

COLUMNS = [("rank", "rank", "num"), ("rank_interval", "rank 95% interval", "num"), ("method", "method", "text"), ("avg_reward", "avg reward ×100 [95% CI]", "num"),
           ("success_rate", "success %", "num"), ("efficiency", "action efficiency ×100", "num"),
           ("avg_steps", "avg steps", "num"), ("entry", "entry", "text"), ("source", "source", "text"),
           ("checks", "checks", "text")]  # fmt: skip

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1d2430}
h1{font-size:1.6rem}h2{border-bottom:1px solid #d5dae1;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.92rem;font-variant-numeric:tabular-nums}
th,td{padding:.35rem .5rem;border-bottom:1px solid #e3e7ec;text-align:left;white-space:nowrap}th{white-space:normal;vertical-align:bottom}
th button{all:unset;cursor:pointer;font-weight:600}th[aria-sort=ascending] button::after{content:" ▲"}
th[aria-sort=descending] button::after{content:" ▼"}td.num,th.num{text-align:right}
td.wrap{white-space:normal;overflow-wrap:anywhere;min-width:8rem}.scroll{overflow-x:auto}code,.key{font-size:.82rem;color:#5a6573}
.reported{background:#fbf7ee;border:1px solid #e9dcb8;border-radius:6px;padding:.2rem 1rem 1rem;margin-top:2.5rem}
.badge{display:inline-block;background:#8a6d1f;color:#fff;border-radius:4px;padding:0 .4rem;font-size:.8rem}
svg text{font:12px system-ui,sans-serif;fill:#1d2430}.note{color:#5a6573;font-size:.9rem}
"""

SCRIPT = """
function sortTable(table, col, dir) {
  const ths = [...table.tHead.rows[0].cells], idx = ths.findIndex(th => th.dataset.col === col);
  if (idx < 0) return;
  const num = ths[idx].dataset.type === 'num', body = table.tBodies[0];
  const val = r => { const c = r.cells[idx], v = c.dataset.value ?? c.textContent.trim();
                     return num ? (v === '' ? NaN : parseFloat(v)) : v.toLowerCase(); };
  const rows = [...body.rows].sort((a, b) => {
    const x = val(a), y = val(b);
    if (num && isNaN(x) !== isNaN(y)) return isNaN(x) ? 1 : -1;  // missing values last, either way
    const c = x < y ? -1 : x > y ? 1 : 0;
    return dir === 'asc' ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
  ths.forEach(th => th.removeAttribute('aria-sort'));
  ths[idx].setAttribute('aria-sort', dir === 'asc' ? 'ascending' : 'descending');
  table.dataset.sortedBy = col + ':' + dir;
}
document.querySelectorAll('table.sortable').forEach(t => t.tHead.querySelectorAll('th').forEach(th =>
  th.querySelector('button').addEventListener('click', () =>
    sortTable(t, th.dataset.col, t.dataset.sortedBy === th.dataset.col + ':desc' ? 'asc' : 'desc'))));
const wanted = location.hash.match(/sort=([a-z_]+):(asc|desc)/);
if (wanted) document.querySelectorAll('table.ranked').forEach(t => sortTable(t, wanted[1], wanted[2]));
document.body.dataset.ready = 'yes';
"""


def _num(m: Metric | None) -> str:
    return "" if m is None else f"{100 * m.value:.6g}"


def _chart(g: Group) -> str:
    """Horizontal bars of average reward x100 with 95% interval whiskers, one per entry."""
    label_w, plot_w, row_h = 230, 520, 26
    height = row_h * len(g.rows) + 30
    x = lambda v: label_w + plot_w * max(0.0, min(1.0, v))  # noqa: E731 - the value -> pixel map
    out = [f'<svg class="chart" role="img" aria-label="average reward with 95% intervals" width="{label_w + plot_w + 60}" '
           f'height="{height}" viewBox="0 0 {label_w + plot_w + 60} {height}">']  # fmt: skip
    for i, r in enumerate(g.rows):
        y, m = 6 + i * row_h, r.avg_reward
        name = r.method if len(r.method) <= 32 else r.method[:31] + "…"
        out.append(f'<g class="bar" data-entry="{html_text(r.entry_id)}"><text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{html_text(name)}</text>'
                   f'<rect x="{label_w}" y="{y + 3}" width="{x(m.value) - label_w:.1f}" height="{row_h - 8}" fill="#4c78a8"/>')  # fmt: skip
        if m.ci_low is not None and m.ci_high is not None:
            lo, hi, mid = x(m.ci_low), x(m.ci_high), y + row_h / 2 - 1
            out.append(f'<path class="ci" d="M{lo:.1f} {mid}H{hi:.1f}M{lo:.1f} {mid - 6}v12M{hi:.1f} {mid - 6}v12" '
                       f'stroke="#1d2430" stroke-width="1.5"/>')  # fmt: skip
        out.append(f'<text x="{max(x(m.value), x(m.ci_high or 0)) + 6:.1f}" y="{y + 15}">{100 * m.value:.1f}</text></g>')
    axis_y = 6 + len(g.rows) * row_h + 4
    for t in (0, 25, 50, 75, 100):
        out.append(f'<text x="{x(t / 100):.1f}" y="{axis_y + 12}" text-anchor="middle" fill="#5a6573">{t}</text>')
    out.append("</svg>")
    return "".join(out)


def _table(g: Group) -> str:
    head = "".join(f'<th data-col="{c}" data-type="{t}"{" class=num" if t == "num" else ""}'
                   f'{" aria-sort=ascending" if c == "rank" else ""}><button>{html_text(h)}</button></th>' for c, h, t in COLUMNS)  # fmt: skip
    body = []
    for r in g.rows:
        eff = pct(r.efficiency) if r.efficiency else DASH
        eff_title = f' title="{html_text(r.efficiency_note)}"' if r.efficiency is None else ""
        cells = [
            f'<td class="num" data-value="{r.rank}">{r.rank}</td>',
            f'<td class="num" data-value="{r.rank_interval[1]}">{rank_interval(r.rank_interval)}</td>',
            f'<td class="method wrap">{html_text(r.method)}</td>',
            f'<td class="num" data-value="{_num(r.avg_reward)}">{pct(r.avg_reward)}</td>',
            f'<td class="num" data-value="{_num(r.success_rate)}">{pct(r.success_rate, ci=False)}</td>',
            f'<td class="num" data-value="{_num(r.efficiency)}"{eff_title}>{eff}</td>',
            f'<td class="num" data-value="{r.avg_steps.value:.6g}">{r.avg_steps.value:.2f}</td>',
            f"<td><code>{html_text(r.entry_id)}</code></td>",
            f'<td class="wrap">{html_text(r.recipe or r.policy)}</td>',
            f'<td class="checks wrap">{html_text(r.checks or DASH)}</td>',
        ]
        body.append(f'<tr data-entry="{html_text(r.entry_id)}">{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table class="ranked sortable" data-key="{html_text(g.key_hash)}" data-sorted-by="rank:asc">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')  # fmt: skip


def _reference(t: ReferenceTable) -> str:
    headers, rows = reference_rows(t)
    head = "".join(f'<th data-col="c{i}" data-type="{"text" if i == 0 else "num"}"{"" if i == 0 else " class=num"}>'
                   f"<button>{html_text(h)}</button></th>" for i, h in enumerate(headers))  # fmt: skip
    body = "".join("<tr>" + "".join(f'<td{"" if i == 0 else " class=num"}>{html_text(v)}</td>' for i, v in enumerate(row)) + "</tr>"
                   for row in rows)  # fmt: skip
    return (f'<h3><span class="badge">reported</span> {upper_first(html_text(t.source))}</h3>'
            f'<p class="note">{html_text(t.paper)}. Base model {html_text(t.base_model)}; {html_text(t.metric)}. {html_text(t.note)}</p>'
            f'<div class="scroll"><table class="reference sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")  # fmt: skip


def render_html(board: Board) -> str:
    """The whole page (a string; ``harness leaderboard`` writes it to ``leaderboard/index.html``)."""
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>harness leaderboard</title><style>{STYLE}</style></head><body>",
             "<h1>harness leaderboard</h1>",
             '<p class="intro">Every entry was verified by replaying its logged actions in the pinned environment. '
             "Only registered eval sets are ranked, each under a named step-cap protocol; entries are ranked only against "
             "entries with the same comparability key (environment version, eval set, step budget, metric version). "
             "Bars: average reward ×100 with 95% bootstrap intervals. Rank interval: the middle 95% of an entry's ranks "
             "when the tasks are resampled 2,000 times and every entry is scored on the same resample (paired); "
             "overlapping intervals are not separated by these tasks.</p>"]  # fmt: skip
    if not board.groups:
        parts.append('<p class="empty">No entries yet: add one with <code>harness submit RESULT_DIR</code>.</p>')
    envs = sorted({g.key.env_id for g in board.groups})
    if envs:
        links = " · ".join(f'<a href="#env-{html_text(e)}">{html_text(e)}</a>' for e in envs)
        parts.append(f'<nav class="envs">Environments: {links}</nav>')
    for env in envs:
        parts.append(f'<section class="env" id="env-{html_text(env)}"><h2>{html_text(env)}</h2>')
        for g in (g for g in board.groups if g.key.env_id == env):
            k = g.key
            title = html_text(section_title(g))
            about = (f"eval set {html_text(g.eval_set.name)} · split {html_text(k.split)} · env {html_text(k.env_version)} · "
                     f"task ids {html_text(k.task_ids_hash)} · metrics v{html_text(k.metrics_version)} · key {html_text(g.key_hash)}")  # fmt: skip
            parts.append(f'<section class="group" id="key-{html_text(g.key_hash)}" data-eval-set="{html_text(g.eval_set.name)}">'
                         f'<h3>{title}</h3><p class="key">{about}</p><p class="note">{html_text(protocol_note(g))}</p>'
                         f'{_chart(g)}{_table(g)}<p class="note">{html_text(efficiency_note(g))}</p></section>')  # fmt: skip
        parts.append("</section>")
    if board.references:
        parts.append('<section class="reported" id="reported"><h2>Reported by the papers (not measured here, not ranked)</h2>')
        parts += [_reference(t) for t in board.references]
        parts.append("</section>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"
