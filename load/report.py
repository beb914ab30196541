"""Figures, chart and report of a load run, from the request log the locustfile writes.

The chart is drawn with Pillow (already a dependency): throughput per second stacked by kind
of request above, p50 and p99 latency per second below, faults marked on both.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# What a practitioner reads; sign-in, static files and uploads are reported beside it.
READ_KINDS = ("dashboard", "search", "patient_page", "thumbnail", "viewer", "display")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
COLOURS = {
    "thumbnail": (76, 120, 168),
    "display": (114, 183, 178),
    "viewer": (84, 162, 75),
    "patient_page": (238, 202, 59),
    "search": (245, 133, 24),
    "dashboard": (178, 121, 162),
    "upload": (228, 87, 86),
    "upload_page": (255, 157, 166),
    "photo_status": (157, 117, 93),
    "sign_in": (186, 176, 172),
    "static": (121, 112, 110),
}


def _kind_group(kind: str) -> str:
    return "sign_in" if kind.startswith("sign_in") else kind


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _figures(events: list[dict], seconds: float) -> dict:
    ms = [e["ms"] for e in events]
    errors = sum(not e["ok"] for e in events)
    return {
        "requests": len(events),
        "rps": round(len(events) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "errors": errors,
    }


def summarise(events: list[dict], seconds: float, start: float) -> dict:
    """One JSON-able object: all requests, the read mix, and each kind of request.

    The read mix is what practitioners do once they are in: its figures cover the time from
    the last sign-in to the end (the sign-in burst, one password hash each, is measured as its
    own kinds over the whole run)."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_kind[event["kind"]].append(event)
    summary = _figures(events, seconds)
    summary["seconds"] = round(seconds, 1)
    signed_in = max(
        (e["t"] + e["ms"] / 1000 for e in events if e["kind"] == "sign_in_code"), default=start
    )
    window = max(1.0, start + seconds - signed_in)
    reads = [e for e in events if e["kind"] in READ_KINDS and e["t"] >= signed_in]
    summary["read_mix"] = _figures(reads, window) | {"from_s": round(signed_in - start, 1)}
    summary["kinds"] = {kind: _figures(found, seconds) for kind, found in sorted(by_kind.items())}
    statuses: dict[str, int] = defaultdict(int)
    for event in events:
        if not event["ok"]:
            statuses[f"{event['kind']} {event['status'] or 'no answer'}"] += 1
    summary["error_statuses"] = dict(sorted(statuses.items()))
    spans: dict[str, list[float]] = {}
    for event in events:
        if not event["ok"]:
            at = round(event["t"] + event["ms"] / 1000 - start, 1)
            kind = f"{event['kind']} {event['status'] or 'no answer'}"
            span = spans.setdefault(kind, [at, at, 0])
            span[0], span[1], span[2] = min(span[0], at), max(span[1], at), span[2] + 1
    summary["error_spans"] = spans
    return summary


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default()


def _nice_step(top: float, ticks: int = 5) -> float:
    raw = max(top, 1) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= raw:
            return step * magnitude
    return 10 * magnitude


def chart(
    events: list[dict], start: float, seconds: float, timeline: list[dict], path: Path, title: str
) -> None:
    """Throughput (stacked by kind) and p50/p99 latency per second, faults marked."""
    width, height = 1400, 900
    left, right = 90, 230
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    small, normal, big = _font(14), _font(16), _font(20)
    draw.text((left, 16), title, fill="black", font=big)
    buckets = max(1, math.ceil(seconds))
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * buckets)
    latencies: list[list[float]] = [[] for _ in range(buckets)]
    errors = [0] * buckets
    for event in events:
        second = int(event["t"] - start)
        if 0 <= second < buckets:
            counts[_kind_group(event["kind"])][second] += 1
            latencies[second].append(event["ms"])
        # An error is drawn when the practitioner saw it: at the end of its request.
        done = int(event["t"] + event["ms"] / 1000 - start)
        if 0 <= done < buckets and not event["ok"]:
            errors[done] += 1
    kinds = [k for k in COLOURS if k in counts] + sorted(k for k in counts if k not in COLOURS)
    plot_w = width - left - right
    panels = [(60, 430, "requests per second"), (500, 840, "latency per second (ms)")]
    x_of = lambda s: left + plot_w * s / buckets  # noqa: E731

    def axes(top: int, bottom: int, label: str, y_max: float) -> Callable[[float], float]:
        step = _nice_step(y_max)
        y_top = step * math.ceil(y_max / step) if y_max else step
        y_of = lambda v: bottom - (bottom - top) * v / y_top  # noqa: E731
        value = 0.0
        while value <= y_top + 1e-9:
            y = y_of(value)
            draw.line((left, y, left + plot_w, y), fill=(225, 225, 225))
            text = f"{value:g}"
            draw.text(
                (left - 8 - draw.textlength(text, font=small), y - 8),
                text,
                fill="black",
                font=small,
            )
            value += step
        draw.rectangle((left, top, left + plot_w, bottom), outline="black")
        draw.text((left, top - 24), label, fill="black", font=normal)
        tick = _nice_step(buckets, 10)
        second = 0.0
        while second <= buckets + 1e-9:
            x = x_of(second)
            draw.line((x, bottom, x, bottom + 5), fill="black")
            text = f"{second:g}"
            draw.text(
                (x - draw.textlength(text, font=small) / 2, bottom + 7),
                text,
                fill="black",
                font=small,
            )
            second += tick
        draw.text(
            (left + plot_w / 2 - 80, bottom + 26),
            "seconds since load started",
            fill="black",
            font=small,
        )
        return y_of

    totals = [sum(counts[k][s] for k in kinds) for s in range(buckets)]
    y_of = axes(*panels[0][:2], panels[0][2], max(totals, default=1))
    bar = plot_w / buckets
    for second in range(buckets):
        base = 0
        for kind in kinds:
            n = counts[kind][second]
            if n:
                draw.rectangle(
                    (
                        x_of(second) + 0.5,
                        y_of(base + n),
                        x_of(second) + max(bar - 1, 1),
                        y_of(base),
                    ),
                    fill=COLOURS.get(kind, (150, 150, 150)),
                )
                base += n
    if any(errors):
        points = [(x_of(s + 0.5), y_of(n)) for s, n in enumerate(errors)]
        draw.line(points, fill=(0, 0, 0), width=2)
        for x, y in points:
            if y < y_of(0):
                draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(0, 0, 0))
    p50 = [percentile(v, 50) if v else None for v in latencies]
    p99 = [percentile(v, 99) if v else None for v in latencies]
    y_of = axes(*panels[1][:2], panels[1][2], max((v for v in p99 if v), default=1))
    for series, colour, wide in ((p99, (200, 40, 40), 3), (p50, (40, 90, 200), 3)):
        points = [(x_of(s + 0.5), y_of(v)) for s, v in enumerate(series) if v is not None]
        if len(points) > 1:
            draw.line(points, fill=colour, width=wide)
    for mark in timeline:
        x = x_of(mark["at"])
        if left <= x <= left + plot_w:
            for top, bottom, _label in panels:
                for y in range(top, bottom, 8):
                    draw.line((x, y, x, min(y + 4, bottom)), fill=(90, 90, 90), width=2)
            draw.text(
                (x + 3, panels[1][0] + 4 + 18 * (timeline.index(mark) % 6)),
                mark["short"],
                fill=(60, 60, 60),
                font=small,
            )
    legend_x, legend_y = left + plot_w + 20, 60
    draw.text((legend_x, legend_y), "requests", fill="black", font=normal)
    for i, kind in enumerate(kinds):
        y = legend_y + 26 + i * 22
        draw.rectangle((legend_x, y, legend_x + 16, y + 16), fill=COLOURS.get(kind, (150,) * 3))
        draw.text((legend_x + 24, y), kind.replace("_", " "), fill="black", font=small)
    if any(errors):
        y = legend_y + 26 + len(kinds) * 22 + 8
        draw.line((legend_x, y + 8, legend_x + 24, y + 8), fill=(0, 0, 0), width=2)
        draw.text((legend_x + 32, y), "errors per second", fill="black", font=small)
    legend_y = 500
    draw.text((legend_x, legend_y), "latency", fill="black", font=normal)
    for i, (label, colour) in enumerate((("p99", (200, 40, 40)), ("p50", (40, 90, 200)))):
        y = legend_y + 26 + i * 22
        draw.line((legend_x, y + 8, legend_x + 24, y + 8), fill=colour, width=3)
        draw.text((legend_x + 32, y), label, fill="black", font=small)
    if timeline:
        y = legend_y + 80
        draw.text((legend_x, y), "events (dashed)", fill="black", font=normal)
        for i, mark in enumerate(timeline):
            draw.text(
                (legend_x, y + 24 + i * 20),
                f"{mark['at']:.0f} s {mark['short']}",
                fill=(60, 60, 60),
                font=small,
            )
    image.save(path)


def observed(summary: dict) -> list[dict]:
    """What the practitioners saw of the faults, for the timeline (from ``summarise``)."""
    marks = []
    for kind, (first, last, count) in sorted(summary.get("error_spans", {}).items()):
        marks.append({"at": first, "what": f"first {kind} answer ({count} in all)"})
        marks.append({"at": last, "what": f"last {kind} answer"})
    return sorted(marks, key=lambda m: m["at"])


def markdown(
    summary: dict, timeline: list[dict], verification: dict | None, chart_name: str, setup: dict
) -> str:
    lines = [
        "# Load run with faults" if timeline else "# Load run",
        "",
        f"{setup['users']} simulated practitioners for {summary['seconds']:.0f} s against "
        f"gunicorn ({setup['web_workers']} workers), one Celery worker, PostgreSQL (app role, "
        f"RLS), Redis and S3 on loopback; {setup['cores']} cores, load average before the run "
        f"{setup['load_before']}.",
        "",
        f"![latency and throughput]({chart_name})",
        "",
        "| kind | requests | rps | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]

    def row(name: str, f: dict) -> str:
        return (
            f"| {name} | {f['requests']} | {f['rps']} | {f['p50_ms']} | {f['p99_ms']} | "
            f"{f['errors']} |"
        )

    lines.append(row("**all**", summary))
    lines.append(
        row(
            f"**read mix** (from {summary['read_mix']['from_s']} s, all signed in)",
            summary["read_mix"],
        )
    )
    lines += [row(kind, f) for kind, f in summary["kinds"].items()]
    for label, cpu in (
        ("the whole run", summary.get("cpu_ms_per_request") or {}),
        (
            "the read mix, once all were signed in",
            summary["read_mix"].get("cpu_ms_per_request") or {},
        ),
    ):
        if cpu:
            parts = ", ".join(f"{k} {v}" for k, v in cpu.items() if k != "total")
            lines += [
                "",
                f"CPU per request over {label}: {cpu['total']} ms ({parts}; "
                "from /proc, by process group).",
            ]
    if summary["error_statuses"]:
        lines += [
            "",
            "Errors by kind and status: "
            + ", ".join(f"{k}: {v}" for k, v in summary["error_statuses"].items()),
        ]
    if timeline:
        lines += ["", "## What happened when", "", "| at (s) | what |", "|---|---|"]
        lines += [f"| {m['at']:.1f} | {m['what']} |" for m in timeline + observed(summary)]
    if verification is not None:
        v = verification
        lines += [
            "",
            "## Uploads afterwards",
            "",
            f"- {v['uploads']} uploads answered; {v['accepted']} accepted, "
            f"{v['ready_exactly_once']} of them ready exactly once (one row, both renditions "
            f"decrypt, one `photo.processed` event, one outbox job done); waited "
            f"{v['waited_s']} s after the load for the last; the slowest was ready "
            f"{v['ready_after_upload_s_max']} s after its upload.",
            f"- Refused: {len(v['refused'])}; without an answer: {v['unanswered']} "
            f"({v['unanswered_but_stored']} of those stored).",
        ]
        for refusal in v["refused"][:20]:
            lines.append(f'  - {refusal["name"]}: {refusal["status"]} "{refusal["message"]}"')
        lines.append(
            "- Problems: none."
            if v["ok"]
            else "- Problems:\n" + "\n".join(f"  - {p}" for p in v["problems"][:30])
        )
        if "audit_verified" in v:
            lines.append(f"- `verify_audit` afterwards: {v['audit_verified']}")
    return "\n".join(lines) + "\n"
