"""The committed CRDs (crds/ and charts/herder/crds/) are exactly what the models generate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from herder.crdgen import cli
from herder.crdgen.render import OUTPUT_DIRS, drift, file_name, rendered, write

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("out_dir", OUTPUT_DIRS, ids=str)
def test_committed_crds_match_the_models(out_dir: Path) -> None:
    problems = drift(ROOT / out_dir, rendered())
    assert not problems, "run `herder crds generate`:\n" + "\n".join(problems)


def test_rendered_yaml_parses_back_to_the_crd() -> None:
    from herder.crdgen.crd import all_crds

    for plural, crd in all_crds().items():
        assert yaml.safe_load(rendered()[file_name(plural)]) == crd


def test_generate_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["generate", "--out-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(rendered())
    assert cli.main(["check", "--out-dir", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_reports_drift_and_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, rendered())
    edited = tmp_path / "models.herder.dev.yaml"
    edited.write_text(edited.read_text().replace("Classification or Regression.", "Something else."))
    (tmp_path / "old.herder.dev.yaml").write_text("x: 1\n")
    (tmp_path / "datasets.herder.dev.yaml").unlink()
    assert cli.main(["check", "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "models.herder.dev.yaml: differs from the models" in err
    assert "-                description: Something else." in err
    assert "old.herder.dev.yaml: not generated" in err
    assert "datasets.herder.dev.yaml: missing" in err


def test_generate_removes_stale_files(tmp_path: Path) -> None:
    (tmp_path / "old.herder.dev.yaml").write_text("x: 1\n")
    (tmp_path / "keep.txt").write_text("not ours\n")
    write(tmp_path, rendered())
    assert not (tmp_path / "old.herder.dev.yaml").exists()
    assert (tmp_path / "keep.txt").exists()


def test_top_level_cli_dispatches_to_crds(tmp_path: Path) -> None:
    from herder.cli import main

    assert main(["crds", "generate", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "modeldeployments.herder.dev.yaml").exists()
