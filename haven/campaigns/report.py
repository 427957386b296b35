"""What works: the funnel per campaign, print batch, language, sector and week, as text, CSV,
SVG and HTML. Beside the path leaflet -> contact -> arrival stand the walk-ins: leaflet ->
arrival with no contact before.

Every count under :data:`THRESHOLD` is shown as ``"<5"`` so that no person can be singled out
(this module is the only way the funnel leaves the service, and it never prints an exact small
number; totals are suppressed the same way). Charts draw a suppressed count as a hatched bar
of unknown height, never as its true value.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from xml.sax.saxutils import escape

from haven.services.campaigns import STAGES, FunnelRow, by_batch, by_campaign

THRESHOLD = 5
SMALL = f"<{THRESHOLD}"
HEADER: tuple[str, ...] = ("campaign", "batch", "lang", "sector", "week", *STAGES)


def shown(count: int) -> str:
    """A count as it may be shown: exact from 5 up, ``"<5"`` below."""
    return SMALL if count < THRESHOLD else str(count)


def table(rows: Sequence[FunnelRow]) -> list[list[str]]:
    out = [list(HEADER)]
    for row in rows:
        k = row.key
        counts = (shown(row.counts[s]) for s in STAGES)
        out.append([k.campaign, k.batch, k.lang, k.sector, k.week, *counts])
    return out


def batch_table(rows: Sequence[FunnelRow]) -> list[list[str]]:
    """Totals per campaign and print batch (every language, sector and week), suppressed."""
    out = [["campaign", "batch", *STAGES]]
    for (code, batch), counts in sorted(by_batch(list(rows)).items()):
        out.append([code, batch, *(shown(counts[s]) for s in STAGES)])
    return out


def to_csv(rows: Sequence[FunnelRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(table(rows))
    return buf.getvalue()


def to_text(rows: Sequence[FunnelRow]) -> str:
    cells = table(rows)
    totals = by_campaign(list(rows))
    lines = []
    widths = [max(len(r[i]) for r in cells) for i in range(len(HEADER))]
    for r in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if totals:
        lines += ["", "per campaign (all languages, sectors and weeks):"]
        for code in sorted(totals):
            counts = "  ".join(f"{s} {shown(totals[code][s])}" for s in STAGES)
            lines.append(f"  {code}: {counts}")
        lines += ["", "per campaign and print batch:"]
        for code, batch, *values in batch_table(rows)[1:]:
            counts = "  ".join(f"{s} {c}" for s, c in zip(STAGES, values, strict=True))
            lines.append(f"  {code} {batch}: {counts}")
    lines += ["", f"counts under {THRESHOLD} are shown as {SMALL}"]
    return "\n".join(lines)


def funnel_svg(title: str, counts: dict[str, int], width: int = 420) -> str:
    """A horizontal bar chart of one funnel; suppressed counts are hatched, unlabelled bars."""
    bar_h, gap, left, top = 22, 8, 90, 28
    height = top + len(STAGES) * (bar_h + gap) + 8
    peak = max([c for c in counts.values() if c >= THRESHOLD] or [THRESHOLD])
    span = width - left - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#888" '
        'stroke-width="2"/></pattern></defs>',
        f'<text x="0" y="16" font-family="sans-serif" font-size="14" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    for i, stage in enumerate(STAGES):
        y = top + i * (bar_h + gap)
        count = counts.get(stage, 0)
        small = count < THRESHOLD
        w = max(4, round(span * (THRESHOLD if small else count) / peak))
        fill = "url(#hatch)" if small else "#2a5d8f"
        parts += [
            f'<text x="0" y="{y + 15}" font-family="sans-serif" font-size="12">{stage}</text>',
            f'<rect x="{left}" y="{y}" width="{w}" height="{bar_h}" fill="{fill}"/>',
            f'<text x="{left + w + 6}" y="{y + 15}" font-family="sans-serif" '
            f'font-size="12">{escape(shown(count))}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def to_html(rows: Sequence[FunnelRow]) -> str:
    """A self-contained page (no scripts, no outside assets) for the analyst role."""
    totals = by_campaign(list(rows))
    charts = "".join(
        f"<figure>{funnel_svg(code, totals[code])}</figure>" for code in sorted(totals)
    )
    cells = table(rows)
    head = "".join(f"<th>{escape(c)}</th>" for c in cells[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in cells[1:]
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Campaigns</title>'
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "figure{display:inline-block;margin:8px}</style></head><body>"
        f"<h1>What works</h1><p>Counts under {THRESHOLD} are shown as {escape(SMALL)}.</p>"
        f"{charts}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        "</body></html>"
    )
