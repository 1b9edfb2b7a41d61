"""`regstudy report`: the page renders for good and bad input and says what it could not show;
a directory with no runs is a one-line error; the search history from a C2 search.json;
`regstudy plot curves --key --by`. Records are written by tests/report_runs.py; no training."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import numpy as np

from .conftest import run_cli
from .report_runs import history, write_record, write_study

ARMS = {"none": [0.10, 0.12, 0.11], "l2": [0.08, 0.09], "psp": [0.07]}


def report(dirs, out: Path, *extra: str) -> str:
    res = run_cli(["report", *map(str, dirs), "--out", str(out), *extra])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(out)
    return out.read_text()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_page_has_every_section_and_the_numbers_of_regstudy_table(tmp_path):
    study = write_study(tmp_path / "sweep", ARMS)
    html = report([study], tmp_path / "r.html", "--baseline", "reg=none")
    for heading in ("1. What was studied", "2. The table", "3. Learning curves per arm",
                    "4. Gradient flow and", "5. Runs"):
        assert heading in html
    assert "Search history" not in html and "6. Runs" not in html   # no search.json: no gap
    assert len(re.findall(r'<img class="fig" src="data:image/png;base64,', html)) == 3
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<script" not in html
    table = run_cli(["table", str(study), "--baseline", "reg=none"]).stdout
    for line in table.splitlines()[2:5]:                 # every row of the markdown table
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert " ".join(c for c in cells if c) in text_of(html)
    text = text_of(html)
    # final <z^2> per arm: history(scale) has zsq/mean = 10 * scale * epoch, last epoch 3
    final = [30 * (1 + 1 + 0.1 * s) for s in range(len(ARMS["l2"]))]
    assert f"reg=l2 {np.mean(final):.4g} ± {np.std(final, ddof=1):.2g} (n=2)" in text
    assert "no interval: 1 seed" in text and "p (Holm)" in text and "Hedges' g" in text
    assert "threads 1 " in text and "git commit not recorded in the run records" in text


def test_section_one_names_the_commits_the_runs_recorded(tmp_path):
    for n, commit in enumerate(["0123456789ab", "0123456789ab", "ba9876543210+dirty"]):
        write_record(tmp_path / "sweep" / str(n), ["reg=none", f"seed={n}"], git_commit=commit)
    text = text_of(report([tmp_path / "sweep"], tmp_path / "r.html"))
    assert "git commit 0123456789ab, ba9876543210+dirty " in text


def test_empty_directory_is_one_line_error_and_keeps_an_existing_page(tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "r.html"
    out.write_text("old page")
    res = run_cli(["report", str(tmp_path / "empty"), "--out", str(out)])
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "no run" in res.stderr
    assert out.read_text() == "old page"


def test_bad_records_still_render_and_are_named(tmp_path):
    study = write_study(tmp_path / "sweep", {"none": [0.1, 0.12], "l2": [0.09, 0.08]})
    (study / "9").mkdir()
    (study / "9" / "metrics.json").write_text('{"status": "compl')       # partial write
    write_record(study / "10", ["reg=l2", "seed=5", "trainer.epochs=3"], test_error=float("nan"))
    write_record(study / "11", ["reg=dropout", "seed=0", "trainer.epochs=3"], test_error=0.2,
                 hist=history(2.0, zsq=False, grad_flow=False))           # other metric set
    write_record(study / "12", ["reg=l2", "seed=6", "trainer.epochs=3"], status="failed",
                 test_error=None, error="RuntimeError: CUDA out of memory\ntraceback")
    text = text_of(report([study], tmp_path / "r.html", "--baseline", "reg=nothing"))
    assert "No comparison with a baseline" in text and "reg=nothing" in text
    assert "unreadable" in text and "JSONDecodeError" in text
    assert "have no finite test_error" in text and str(study / "10") in text
    assert "recorded different metrics" in text and "zsq/mean" in text
    assert "gradient flow: not recorded for reg=dropout" in text
    assert "RuntimeError: CUDA out of memory" in text
    assert "no band for reg=dropout (1 seed)" in text


def test_search_history_from_search_json(tmp_path):
    sweep = tmp_path / "search"
    trials = []
    for n, (strength, state, value) in enumerate([(1e-5, "complete", 0.95), (1e-3, "complete", 0.97),
                                                  (1e-1, "pruned", None), (1e-4, "complete", 0.96),
                                                  (3e-2, "fail", None)]):
        run = write_record(sweep / str(n), [f"reg.l2.strength={strength}", "reg=l2"],
                           status="pruned" if state == "pruned" else "completed",
                           best_val_acc=0.5 if state == "pruned" else value,
                           stop_reason="median pruner at epoch 1")
        trials.append({"number": n, "state": state, "value": value,
                       "params": {"reg.l2.strength": strength}, "run_dir": str(run)})
    (sweep / "search.json").write_text(json.dumps({
        "study_name": "l2s", "storage": f"sqlite:///{sweep}/optuna.db", "objective": "best_val_acc",
        "direction": "maximize", "n_trials": 5,
        "best": {"number": 1, "value": 0.97, "params": {"reg.l2.strength": 1e-3},
                 "overrides": ["reg.l2.strength=0.001"], "run_dir": str(sweep / "1")},
        "counts": {"complete": 3, "pruned": 1, "failed": 1, "diverged": 0}, "trials": trials}))
    html = report([sweep], tmp_path / "r.html")
    section = html[html.index('<section id="search">'):html.index('<section id="runs">')]
    assert "data:image/png;base64," in section
    text = text_of(section)
    assert "3 complete, 1 pruned, 1 failed" in text and "reg.l2.strength=0.001" in text
    assert "5 runs (4 completed, 1 pruned)" in text_of(html)   # a status of its own, not "other"
    runs = text_of(html[html.index('<section id="runs">'):])
    assert re.search(r"pruned reg\.l2\.strength=0\.1 0 median pruner at epoch 1", runs)
    assert re.search(r"2 pruned 0\.5 ", text)      # the pruned trial's value from its record


def test_sweep_end_report_failure_is_logged_not_raised(tmp_path, caplog):
    from regstudy.sweep.callbacks import SweepReport

    (tmp_path / "empty").mkdir()
    SweepReport().write(tmp_path / "empty")                 # no run: NoRunsError inside
    assert "could not write the sweep report" in caplog.text
    assert not (tmp_path / "empty" / "report.html").exists()


def test_report_does_not_import_torch(tmp_path):
    study = write_study(tmp_path / "sweep", ARMS)
    code = ("import sys; from regstudy.cli import main; "
            f"rc = main(['report', {str(study)!r}, '--out', {str(tmp_path / 'r.html')!r}]); "
            "assert rc == 0; assert 'torch' not in sys.modules, 'torch imported'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_plot_curves_by_arm_with_a_key(tmp_path):
    study = write_study(tmp_path / "sweep", ARMS)
    out = tmp_path / "zsq.png"
    res = run_cli(["plot", "curves", str(study), "--key", "zsq/mean", "--key", "zsq_val/mean",
                   "--by", "reg", "--logy", "-o", str(out)])
    assert res.returncode == 0, res.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = run_cli(["plot", "curves", str(study), "--key", "nothing/here", "--by", "reg",
                   "-o", str(tmp_path / "x.png")])
    assert res.returncode == 2 and "nothing/here" in res.stderr
