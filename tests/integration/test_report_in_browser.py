"""``herder report`` as a person sees it: Debian's Chromium, headless, opens index.html from disk, and the page
itself says whether every image loaded and whether anything sticks out of the window; a full-page screenshot is
kept for a human to look at (``HERDER_REPORT_SCREENSHOT=path`` copies it out).

Chromium is installed by ``make chromium`` (part of ``make test``). No network: the page and its PNGs are files,
and the flags below turn off Chromium's own background connections.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from herder.report.data import report_data
from herder.report.render import INDEX, render, write
from tests.unit.report.objects import DEPLOYMENT, MODEL, NOW, VERSIONS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WIDTH = 1280
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--allow-file-access-from-files"]

# Appended to a copy of the page: once everything loaded, it writes what a reader would notice into the DOM.
CHECK = """<script>
window.addEventListener('load', () => {
  const vw = document.documentElement.clientWidth;
  const images = [...document.images].map(i => ({src: i.getAttribute('src'), complete: i.complete,
    naturalWidth: i.naturalWidth, shownWidth: Math.round(i.getBoundingClientRect().width)}));
  const overflow = [...document.body.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > vw + 1)
    .map(e => e.tagName + ': ' + (e.textContent || '').trim().slice(0, 60));
  const out = document.createElement('pre');
  out.id = 'herder-check';
  out.textContent = JSON.stringify({viewport: vw, scrollWidth: document.documentElement.scrollWidth,
    scrollHeight: document.documentElement.scrollHeight, images, overflow});
  document.body.appendChild(out);
});
</script>"""


def _loop_objects() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The closed loop's objects with what real runs carry: cross-validation means and spreads, a failed retrain,
    long unbroken words (digests, job names) and long messages."""
    model = copy.deepcopy(MODEL)
    model["status"]["history"].append(
        {"at": "2026-11-27T06:30:00Z", "action": "RetrainFailed", "reason": "TrainingFailed",
         "trainingJob": "churn-retrain-3-with-a-rather-long-generated-name",
         "message": "TrainingJob churn-retrain-3 failed: " + "x" * 120})
    versions = copy.deepcopy(VERSIONS)
    for v in versions:
        v["spec"]["metrics"].update({"cv_accuracy": "0.9", "cv_accuracy_std": "0.021", "cv_f1": "0.88",
                                     "cv_f1_std": "0.03", "roc_auc": "0.97"})
    return model, versions


def _chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: `make chromium` installs Debian's package (make test does)")
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={cwd / 'profile'}", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_report_renders_in_chromium_with_every_image_and_nothing_cut_off(tmp_path: Path) -> None:
    model, versions = _loop_objects()
    out = tmp_path / "report"
    dataset = {"metadata": {"name": "churn-data"}, "status": {"revisions": [
        {"number": 2, "result": "Failed", "validatedAt": "2026-11-27T06:20:00Z", "job": "churn-data-validate-1-ab",
         "reason": "InvalidData", "message": "column 'plan' is missing; " + "y" * 90},
        {"number": 1, "result": "Passed", "validatedAt": "2026-11-27T04:50:00Z", "job": "churn-data-validate-1",
         "rows": 5000, "digest": "sha256:" + "b" * 64}]}}
    write(render(report_data(model, versions, [DEPLOYMENT], now=NOW, datasets=[dataset])), out)
    page = (out / INDEX).read_text()
    (out / "check.html").write_text(page.replace("</body>", CHECK + "</body>"))

    dumped = _chromium(f"--window-size={WIDTH},1000", "--virtual-time-budget=10000", "--dump-dom",
                       (out / "check.html").as_uri(), cwd=tmp_path)
    found = re.search(r'<pre id="herder-check">(.*?)</pre>', dumped.stdout, re.S)
    assert found, f"the page did not run its check:\n{dumped.stderr[-2000:]}"
    seen = json.loads(html.unescape(found.group(1)))

    names = sorted(p.name for p in out.glob("*.png"))
    assert sorted(i["src"] for i in seen["images"]) == names == ["drift.png", "timeline.png", "versions.png"]
    for image in seen["images"]:
        assert image["complete"] and image["naturalWidth"] > 300, image  # loaded, not a broken-image icon
        assert image["shownWidth"] <= seen["viewport"], image  # scaled into the page, not cut at its edge
    assert seen["overflow"] == [] and seen["scrollWidth"] <= seen["viewport"], seen  # no sideways scrolling

    shot = tmp_path / "report.png"
    taken = _chromium(f"--window-size={WIDTH},{seen['scrollHeight']}", "--virtual-time-budget=10000",
                      f"--screenshot={shot}", (out / INDEX).as_uri(), cwd=tmp_path)
    assert shot.is_file() and shot.stat().st_size > 50_000, taken.stderr[-2000:]
    if target := os.environ.get("HERDER_REPORT_SCREENSHOT"):
        shutil.copy(shot, target)
