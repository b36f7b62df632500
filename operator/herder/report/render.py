"""Objects -> the report's files (pure: no cluster, no file system), and writing them to a directory."""

from __future__ import annotations

from pathlib import Path

from herder.report.data import ReportData

INDEX = "index.html"


def render(data: ReportData) -> dict[str, bytes]:
    """File name -> content: index.html and one PNG per plot that has something to show."""
    from herder.report import figures  # matplotlib, only when a report is really rendered

    files: dict[str, bytes] = {"versions.png": figures.versions_png(data), "timeline.png": figures.timeline_png(data)}
    drift = figures.drift_png(data)
    if drift is not None:
        files["drift.png"] = drift
    images = {name.removesuffix(".png"): name for name in files}
    from herder.report.page import render_html

    files[INDEX] = render_html(data, images).encode()
    return files


def write(files: dict[str, bytes], out_dir: Path) -> list[Path]:
    """Write the files (replacing an earlier report's files of the same names); their paths, index first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in sorted(files, key=lambda n: (n != INDEX, n)):
        path = out_dir / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_bytes(files[name])
        tmp.replace(path)
        paths.append(path)
    return paths
