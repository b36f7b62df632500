"""The report's plots as PNG bytes: versions and their offline metrics over time, drift per feature, and the
timeline of the loop (retrains, promotions, rollbacks).

matplotlib's object API (``Figure`` + the Agg canvas) is used instead of ``pyplot``: no global figure state and no
GUI backend, so rendering is the same on a laptop, in CI and in a container without a display. It is imported
here only, so ``herder report --help`` and the rest of herder never load it.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from herder.report.data import Event, Measured, ReportData, VersionRow

DPI = 100
MAX_METRICS = 6
MAX_FEATURES = 25
MAX_LABELS = 40
"""Above this many points a plot's version labels would overlap into a smear; the tables list them all."""
COLOURS = {"Trained": "#4c72b0", "Candidate": "#8172b2", "Promoted": "#55a868", "RolledBack": "#c44e52",
           "Rejected": "#dd8452", "RetrainTriggered": "#937860", "RetrainPending": "#da8bc3",
           "RetrainSkipped": "#8c8c8c", "RetrainFailed": "#000000", "Deleted": "#8c8c8c",
           "NewRevision": "#64b5cd", "RevisionFailed": "#8b0000"}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _empty(title: str, text: str) -> bytes:
    fig = Figure(figsize=(8, 2.5))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=13, transform=ax.transAxes)
    return _png(fig)


def panel_metrics(data: ReportData) -> list[str]:
    """The metrics that get a panel: holdout metrics first, then cross-validation means; a ``*_std`` value is
    drawn as the error bar of its mean, never as a panel of its own."""
    names = {m for v in data.versions for m in v.metrics if not m.endswith("_std")}
    return sorted(names, key=lambda m: (m.startswith("cv_"), m))[:MAX_METRICS]


def _version_markers(ax: Axes, x: Any, y: float, v: VersionRow, *, production: int | None,
                     rolled_back: set[int]) -> None:
    if v.version == production:
        ax.plot([x], [y], linestyle="none", marker="*", markersize=15, color="#55a868", zorder=3,
                label="production")
    if v.version in rolled_back:
        ax.plot([x], [y], linestyle="none", marker="v", markersize=11, color="#c44e52", zorder=4,
                label="rolled back (failed live)")
    elif v.rejected:
        ax.plot([x], [y], linestyle="none", marker="x", markersize=10, color="#dd8452", zorder=3,
                label="rejected at the gate")


def versions_png(data: ReportData) -> bytes:
    """One panel per offline metric: each version's value at its creation time (production starred, a version
    rolled back after failing live marked with a red triangle, one rejected at the gate crossed; cross-validation
    means with their standard deviation as error bars), so a retrain that improved or regressed is visible at a
    glance."""
    names = panel_metrics(data)
    if not names:
        return _empty(f"Model {data.model}: versions", "no versions with offline metrics yet")
    production = data.aliases.get("production")
    rolled_back = set(data.rolled_back)
    fig = Figure(figsize=(9, 2.6 * len(names)))
    axes = fig.subplots(len(names), 1, squeeze=False, sharex=True)[:, 0]
    timed = all(v.created is not None for v in data.versions)
    for ax, metric in zip(axes, names, strict=True):
        rows = [v for v in data.versions if metric in v.metrics]
        xs = [v.created if timed else v.version for v in rows]
        ys = [v.metrics[metric] for v in rows]
        errors = [v.metrics.get(f"{metric}_std", 0.0) for v in rows]
        ax.errorbar(xs, ys, yerr=errors if any(errors) else None, color="#4c72b0", marker="o", linewidth=1,
                    capsize=3)
        for x, y, v in zip(xs, ys, rows, strict=True):
            if len(rows) <= MAX_LABELS or v.version == production:
                ax.annotate(f"v{v.version}", (x, y), textcoords="offset points", xytext=(0, 7), ha="center",
                            fontsize=8)
            _version_markers(ax, x, y, v, production=production, rolled_back=rolled_back)
        if production is not None and metric in data.production_metrics:
            ax.axhline(data.production_metrics[metric], color="#55a868", linestyle=":", linewidth=1)
        ax.margins(y=0.25)  # room for the version labels above the highest point
        ax.set_ylabel(metric + (" (± std)" if any(errors) else ""))
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            unique = dict(zip(labels, handles, strict=True))
            ax.legend(unique.values(), unique.keys(), loc="best", fontsize=8)
    axes[0].set_title(f"Model {data.model}: offline metrics by version")
    axes[-1].set_xlabel("created" if timed else "version")
    fig.autofmt_xdate()
    return _png(fig)


def _feature_panel(ax: Axes, m: Measured) -> None:
    items = sorted(m.features.items(), key=lambda kv: kv[1], reverse=True)[:MAX_FEATURES]
    names = [k for k, _ in items][::-1]
    values = [v for _, v in items][::-1]
    colours = ["#c44e52" if m.threshold_max is not None and v > m.threshold_max else "#4c72b0" for v in values]
    ax.barh(names, values, color=colours)
    if m.threshold_max is not None:
        ax.axvline(m.threshold_max, color="#c44e52", linestyle="--", linewidth=1,
                   label=f"threshold {m.threshold_max:g}")
        ax.legend(loc="lower right", fontsize=8)
    when = m.measured_at.strftime("%Y-%m-%d %H:%M UTC") if m.measured_at else "time unknown"
    version = f"v{m.version}" if m.version else "version unknown"
    ax.set_title(f"{m.name} ({m.metric or 'drift'}) — {m.source}, {version}, {when}", fontsize=9)
    ax.grid(axis="x", alpha=0.3)


def drift_png(data: ReportData) -> bytes | None:
    """Per-feature values of the latest drift measurements (bars over the threshold in red) and the drift values
    recorded on the history over time. None when nothing was measured (the page says so)."""
    panels: Sequence[Measured] = [m for m in data.drift if m.features]
    history = data.drift_history()
    count = len(panels) + (1 if history else 0)
    if count == 0:
        return None
    heights = [max(2.0, 0.32 * min(len(m.features), MAX_FEATURES) + 1.2) for m in panels]
    if history:
        heights.append(3.0)
    fig = Figure(figsize=(9, sum(heights)))
    axes = fig.subplots(count, 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, m in zip(axes, panels, strict=False):
        _feature_panel(ax, m)
    if history:
        ax = axes[-1]
        for check, points in sorted(history.items()):
            ax.plot([t for t, _ in points], [v for _, v in points], marker="o", label=check)
        ax.set_title("drift values behind the Model's history steps", fontsize=9)
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        times = [t for points in history.values() for t, _ in points] + [e.at for e in data.events]
        pad = max((max(times) - min(times)) * 0.05, dt.timedelta(minutes=1))
        ax.set_xlim(min(times) - pad, max(times) + pad)  # one point: a span of minutes, not of years
        for tick in ax.get_xticklabels():
            tick.set_rotation(20)
    fig.tight_layout()
    return _png(fig)


def timeline_png(data: ReportData) -> bytes:
    """Every step of the loop on one time axis, one row per kind of step, labelled with the versions."""
    events: Sequence[Event] = data.events
    if not events:
        return _empty(f"Model {data.model}: timeline", "no retrains, promotions or rollbacks recorded yet")
    actions = list(dict.fromkeys(e.action for e in events))
    fig = Figure(figsize=(10, 1.2 + 0.55 * len(actions)))
    ax = fig.add_subplot()
    for row, action in enumerate(actions):
        mine = [e for e in events if e.action == action]
        ax.plot(date2num([e.at for e in mine]),  # type: ignore[no-untyped-call]
                [row] * len(mine), linestyle="none", marker="o", markersize=9,
                color=COLOURS.get(action, "#4c72b0"), zorder=3)
        for e in mine:
            label = e.label
            if label and len(events) <= MAX_LABELS * 2:
                x = float(date2num(e.at))  # type: ignore[no-untyped-call]
                ax.annotate(label, (x, row), textcoords="offset points", xytext=(0, 8),
                            ha="center", fontsize=8)
    ax.xaxis_date(tz="UTC")
    ax.set_yticks(range(len(actions)), actions)
    ax.set_ylim(-0.7, len(actions) - 0.3)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Model {data.model}: data revisions, retrains, promotions and rollbacks")
    for tick in ax.get_xticklabels():
        tick.set_rotation(20)
    return _png(fig)
