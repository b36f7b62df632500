"""The report's HTML page: one self-describing file beside its PNGs, every user-supplied text escaped (names,
messages and reasons come from objects anyone with write access to the namespace could have written)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from html import escape

from herder.report.data import ReportData

NO_DRIFT = "No drift measured yet"

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top;font-size:0.9em}
th{background:#f3f3f3}td.text{overflow-wrap:anywhere;min-width:8em}td.time{white-space:nowrap}
img{max-width:100%;border:1px solid #eee}
.muted{color:#777}.empty{padding:1em;background:#f8f8f8;border:1px dashed #bbb}
"""


def _t(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return escape(_t(value))
    if isinstance(value, float):
        return escape(f"{value:g}")
    return escape(str(value))


TEXT_COLUMNS = frozenset({"training job", "dataset", "estimator", "gate", "rejected or rolled back", "message",
                          "last rollback", "source", "check", "name"})
"""Columns of free text (messages, names, digests): they wrap anywhere, so one long word cannot push the table
out of the window; the other columns (numbers, metric lists, times, reasons) wrap only between words."""

TIME_COLUMNS = frozenset({"at", "created", "measured"})


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str) -> str:
    opening = ['<td class="text">' if h in TEXT_COLUMNS else '<td class="time">' if h in TIME_COLUMNS else "<td>"
               for h in headers]
    body = "".join("<tr>" + "".join(f"{opening[i]}{_cell(c)}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    if not body:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>{body}</table>"


def _kv(values: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(values.items()))


def _metrics(values: Mapping[str, float]) -> str:
    """Offline metrics with each ``*_std`` folded into its mean (``cv_accuracy=0.95±0.02``)."""
    return ", ".join(f"{k}={v:g}" + (f"±{values[k + '_std']:.2g}" if f"{k}_std" in values else "")
                     for k, v in sorted(values.items()) if not k.endswith("_std"))


def _out_of_service(data: ReportData, version: int, rejected: str | None) -> str:
    rollback = data.rolled_back.get(version)
    if rollback is not None:
        return f"rolled back to v{rollback.version} at {_t(rollback.at)}: {rollback.reason} {rollback.message}".strip()
    return rejected or ""


def _img(name: str, alt: str) -> str:
    return f'<p><img src="{escape(name)}" alt="{escape(alt)}"></p>'


def render_html(data: ReportData, images: Mapping[str, str]) -> str:
    """The page; ``images`` maps a section ("versions", "drift", "timeline") to its PNG file name (a section
    without an image gets an explicit empty-state text instead)."""
    title = f"Herder report: Model {data.model} ({data.namespace})"
    aliases = ", ".join(f"{k}: v{v}" for k, v in sorted(data.aliases.items())) or "none"
    out = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
           f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>",
           f'<p class="muted">generated {escape(_t(data.generated_at))}</p>',
           "<table>"
           f"<tr><th>task</th><td>{escape(data.task)}</td></tr>"
           f"<tr><th>latest version</th><td>{_cell(data.latest_version)}</td></tr>"
           f"<tr><th>aliases</th><td>{escape(aliases)}</td></tr>"
           f"<tr><th>production metrics</th><td>{escape(_kv(data.production_metrics))}</td></tr>"
           f"<tr><th>status</th><td>{escape(data.message)}</td></tr></table>"]

    out.append("<h2>Versions and their offline metrics</h2>")
    if "versions" in images:
        out.append(_img(images["versions"], f"offline metrics of the versions of {data.model}"))
    out.append(_table(
        ["version", "created", "metrics", "aliases", "training job", "dataset", "estimator", "gate",
         "rejected or rolled back"],
        ([f"v{v.version}", v.created, _metrics(v.metrics), ", ".join(v.aliases), v.training_job, v.dataset,
          v.estimator, v.gate, _out_of_service(data, v.version, v.rejected)] for v in data.versions),
        "No ModelVersions yet."))

    out.append("<h2>Drift per feature</h2>")
    if "drift" in images:
        out.append(_img(images["drift"], f"drift per feature of {data.model}"))
    else:
        out.append(f'<p class="empty">{NO_DRIFT}: no drift check has a measurement on the Model '
                   "(status.triggerMetrics) or on its ModelDeployments, and no history step recorded one.</p>")
    out.append("<h2>Latest measurements</h2>")
    out.append(_table(
        ["source", "check", "metric", "value", "verdict", "samples", "version", "measured", "worst features",
         "message"],
        ([m.source, m.name, m.metric, m.value, m.verdict, m.samples, m.version, m.measured_at,
          _kv(dict(sorted(m.features.items(), key=lambda kv: kv[1], reverse=True)[:5])), m.message]
         for m in data.measured), "No metric checks measured yet."))

    out.append("<h2>Timeline of data revisions, retrains, promotions and rollbacks</h2>")
    if "timeline" in images:
        out.append(_img(images["timeline"], f"timeline of {data.model}"))
    out.append(_table(
        ["at", "action", "version", "from", "reason", "message", "metrics", "training job", "source"],
        ([e.at, e.action, e.version, e.from_version, e.reason, e.message, _kv(dict(e.metrics)), e.training_job,
          e.source]
         for e in data.events), "No steps recorded on the Model's history yet."))

    out.append("<h2>ModelDeployments serving this Model</h2>")
    out.append(_table(
        ["name", "follows", "stable", "canary", "weight", "ready", "last rollback", "message"],
        ([d.name, d.follows, d.stable, d.canary, d.weight, d.ready,
          (f"v{d.last_rollback.from_version} → v{d.last_rollback.version} at {_t(d.last_rollback.at)}: "
           f"{d.last_rollback.reason} {d.last_rollback.message}") if d.last_rollback else "", d.message]
         for d in data.deployments), "No ModelDeployment serves this Model."))
    out.append("</body></html>\n")
    return "\n".join(out)
