#!/usr/bin/env python3
"""loadtest/scale's table (Markdown, stdout) and plot (SVG): throughput and peak server
memory of ringpost and its peer at 1x, 10x and 100x the mailbox and the sessions.

usage: scale-table.py OUT_DIR PLOT.svg BASE_MESSAGES BASE_SESSIONS "MAILBOX SCENARIOS" "SESSION SCENARIOS"
Only the standard library: the plot is SVG written by hand.
"""
import json
import math
import os
import sys

out, plot = sys.argv[1], sys.argv[2]
base_messages, base_sessions = int(sys.argv[3]), int(sys.argv[4])
dims = {"mailbox": sys.argv[5].split(), "sessions": sys.argv[6].split()}
FACTORS = [1, 10, 100]
SIDES = [("theirs", "Dovecot/Postfix"), ("ours", "ringpost")]


def load(dim, factor, side, scenario):
    path = os.path.join(out, f"{dim}-{factor}", f"{side}-{scenario}.json")
    try:
        with open(path) as f:
            r = json.load(f)
    except (OSError, ValueError):
        return None
    if r.get("failed") or not r.get("ops"):
        return None
    return r


def figures(r):
    if r is None:
        return None
    server = r.get("server") or {}
    return {
        "ops": r["ops_per_second"],
        "per_core": server.get("ops_per_core_second"),
        "rss_mib": (server.get("peak_rss_kib") or 0) / 1024,
    }


def fmt(x, digits=0):
    return "—" if x is None else f"{x:,.{digits}f}"


rows = []
series = {}  # (dim, scenario, side) -> [(factor, figures)]
print("| grows | × | messages | sessions | scenario | peer ops/s | ringpost ops/s | ratio "
      "| peer ops/core-s | ringpost ops/core-s | peer peak RSS MiB | ringpost peak RSS MiB |")
print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for dim, scenarios in dims.items():
    for factor in FACTORS:
        messages = base_messages * (factor if dim == "mailbox" else 1)
        sessions = base_sessions * (factor if dim == "sessions" else 1)
        for scenario in scenarios:
            f = {side: figures(load(dim, factor, side, scenario)) for side, _ in SIDES}
            for side, _ in SIDES:
                if f[side]:
                    series.setdefault((dim, scenario, side), []).append((factor, f[side]))
            t, o = f["theirs"], f["ours"]
            ratio = f"{o['ops'] / t['ops']:.2f}×" if t and o and t["ops"] else "—"
            print(f"| {dim} | {factor} | {messages:,} | {sessions:,} | {scenario} "
                  f"| {fmt(t and t['ops'])} | {fmt(o and o['ops'])} | {ratio} "
                  f"| {fmt(t and t['per_core'])} | {fmt(o and o['per_core'])} "
                  f"| {fmt(t and t['rss_mib'], 1)} | {fmt(o and o['rss_mib'], 1)} |")

# ---------------------------------------------------------------- the plot
W, H = 1020, 750
PANEL_W, PANEL_H = 400, 250
LEFT, TOP, GAP_X, GAP_Y = 90, 90, 90, 110
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
       f'font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="16">'
       f'Cost as work grows: ringpost (solid) and Dovecot/Postfix (dashed), same runs</text>']


def log_ticks(lo, hi):
    ticks, p = [], math.floor(math.log10(lo))
    while 10 ** p <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** p
            if lo <= v <= hi:
                ticks.append(v)
        p += 1
    return ticks


def panel(col, row, dim, metric, label):
    x0 = LEFT + col * (PANEL_W + GAP_X)
    y0 = TOP + row * (PANEL_H + GAP_Y)
    keys = [k for k in series if k[0] == dim]
    values = [fig[metric] for k in keys for _, fig in series[k] if fig.get(metric)]
    if not values:
        return
    lo, hi = min(values) / 1.5, max(values) * 1.5
    ly = lambda v: y0 + PANEL_H - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * PANEL_H
    lx = lambda f: x0 + math.log10(f) / 2 * PANEL_W
    svg.append(f'<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#888"/>')
    for t in log_ticks(lo, hi):
        svg.append(f'<line x1="{x0}" x2="{x0 + PANEL_W}" y1="{ly(t):.1f}" y2="{ly(t):.1f}" stroke="#eee"/>')
        svg.append(f'<text x="{x0 - 6}" y="{ly(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    what = "messages in the mailbox" if dim == "mailbox" else "sessions"
    base = base_messages if dim == "mailbox" else base_sessions
    for f in FACTORS:
        svg.append(f'<text x="{lx(f):.1f}" y="{y0 + PANEL_H + 16}" text-anchor="middle">{base * f:,}</text>')
    svg.append(f'<text x="{x0 + PANEL_W / 2}" y="{y0 + PANEL_H + 34}" text-anchor="middle">{what} (log)</text>')
    svg.append(f'<text x="{x0 + PANEL_W / 2}" y="{y0 - 10}" text-anchor="middle" font-size="13">{label}</text>')
    scenarios = dims[dim]
    for i, scenario in enumerate(scenarios):
        colour = COLOURS[i % len(COLOURS)]
        for side, _ in SIDES:
            pts = [(lx(f), ly(fig[metric])) for f, fig in series.get((dim, scenario, side), []) if fig.get(metric)]
            if not pts:
                continue
            dash = ' stroke-dasharray="6,4"' if side == "theirs" else ""
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            svg.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
            for x, y in pts:
                svg.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        if row == 0:
            # The legend above the panel, clear of the lines.
            lx0 = x0 + i * 150
            svg.append(f'<line x1="{lx0}" x2="{lx0 + 20}" y1="{TOP - 36}" y2="{TOP - 36}" stroke="{colour}" stroke-width="2"/>')
            svg.append(f'<text x="{lx0 + 26}" y="{TOP - 32}">{scenario}</text>')


panel(0, 0, "mailbox", "ops", "operations/s as the mailbox grows")
panel(1, 0, "sessions", "ops", "operations/s as sessions grow")
panel(0, 1, "mailbox", "rss_mib", "peak server RSS (MiB) as the mailbox grows")
panel(1, 1, "sessions", "rss_mib", "peak server RSS (MiB) as sessions grow")
svg.append("</svg>")
with open(plot, "w") as f:
    f.write("\n".join(svg) + "\n")
print(f"\nPlot: {plot}")
