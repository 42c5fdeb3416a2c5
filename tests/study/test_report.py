"""The report: self-contained HTML (checked in headless Chromium) and Markdown."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reprlab.study import figures
from reprlab.study.glossary import axis_bottom, entry
from reprlab.study.report import _settings, constants, sections, write_report
from reprlab.study.results import load_results

from .fakes import write_study

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is missing")
LOSSES = [("mse", 0.6), ("cauchy", 0.8), ("l1", 0.7), ("geman-mcclure-with-a-long-name", 0.75)]


def _metrics(rng, m: float, seed: int) -> dict:
    per_label = {str(c): {"score@10": float(rng.uniform(0, m))} for c in range(10)}
    return {
        "probe": {"linear": {"accuracy": float(rng.normal(m, 0.01))}},
        "elbo": float(rng.normal(-100 * m, 1)),
        # wide tables: eight secondary metrics with long names
        "extra": {f"quantity_with_a_long_name_{i}": float(rng.normal(m, 0.1)) for i in range(8)},
        "neighbours": {
            "l2": {
                "per_label": per_label,
                "score@5": float(rng.uniform(0, m)),
                "score@10": float(rng.uniform(0, m)),
                "agreement@10": {"input_rate": 0.854, "latent_rate": float(rng.uniform(0, 1))},
            }
        },
    }


def _study(tmp_path, **kw):
    rng = np.random.default_rng(1)
    values = {f"main/loss={loss}": {s: _metrics(rng, m, s) for s in range(3)} for loss, m in LOSSES}
    return write_study(
        tmp_path,
        values,
        question="Does a <robust> loss help?",
        statuses={("main/loss=l1", 2): ("failed", "RuntimeError: <b>boom</b> | x")},
        headline=["probe/linear/accuracy", "elbo"],
        **kw,
    )


def test_report_files(tmp_path):
    root = _study(tmp_path)
    html_path, md_path = write_report(root)
    html = html_path.read_text()
    md = md_path.read_text()
    assert "Does a &lt;robust&gt; loss help?" in html
    assert "RuntimeError: &lt;b&gt;boom&lt;/b&gt;" in html
    # only inline images and no references outside the file
    assert not re.search(r'(src|href)="(?!data:image/png;base64,)', html)
    assert "ttest_rel" in html and "ttest_rel" in md
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (root / link).is_file(), link
    assert "runs/r000/figures/reconstructions.png" in md
    # question and answer come first: the headline table is the first table
    assert html.index("<table") == html.index('<table class="sortable" id="headline"')
    assert html.index("Answer.") < html.index('id="headline"') < html.index("<h2>")
    # the inline sorting script, and every table sortable
    assert html.count("<script>") == 1 and "addEventListener('click'" in html
    assert html.count("<table") == html.count('<table class="sortable"')
    # every table scrolls on its own
    assert html.count("<table") == html.count('<div class="scroll"><table')


def test_markdown_escapes_user_strings(tmp_path):
    """Issue 14 point 12: no raw HTML from the question, labels or reasons in report.md."""
    md = write_report(_study(tmp_path))[1].read_text()
    assert "<robust>" not in md and "&lt;robust&gt;" in md
    assert "<b>boom</b>" not in md and "&lt;b&gt;boom&lt;/b&gt;" in md
    assert "\\| x" in md  # a pipe in a reason does not break the table
    assert not re.search(r"<(?!-)[a-zA-Z/]", md)  # no tag at all


def test_sections_split_metrics(tmp_path):
    results = load_results(_study(tmp_path))
    parts = sections(results)
    assert parts.headline == ["probe/linear/accuracy", "elbo"]
    assert constants(results) == parts.constants == ["neighbours/l2/agreement@10/input_rate"]
    assert set(parts.families["per label"]) == {"neighbours/l2/per_label/{label}/score@10"}
    assert set(parts.families["per k"]) == {"neighbours/l2/score@k"}
    assert parts.secondary == [
        *(f"extra/quantity_with_a_long_name_{i}" for i in range(8)),
        "neighbours/l2/agreement@10/latent_rate",
    ]


def test_report_layout(tmp_path):
    root = _study(tmp_path)
    html = write_report(root)[0].read_text()
    h2 = re.findall(r"<h2>([^<]+)</h2>", html)
    # the splits, statistics and tuning sections follow the headline; then the rest, in order
    main = [h for h in h2 if h not in ("Splits", "Statistics", "Warnings", "Tuning")]
    assert h2.index("Splits") < h2.index("Per label and per k")
    assert main[:4] == ["Per label and per k", "Other metrics", "Data", "Training curves"]
    assert h2.count("Training curves") == 1 and "Glossary" in h2 and "Settings" in h2
    # secondary metrics and the list of runs are collapsed
    other = html[html.index("<h2>Other metrics") : html.index("<h2>Data")]
    assert "<details>" in other and "latent_rate" in other
    # the data constant is in the Data section only, not among results
    data = html[html.index("<h2>Data") : html.index("<h2>Training curves")]
    assert "input_rate" in data
    assert "input_rate" not in html[: html.index("<h2>Data")]
    # scatter plots: a grid with one column per cell and one row per seed
    scatter = html[html.index("<h2>Scatter") :]
    scatter = scatter[: scatter.index("<h2>", 5)]
    assert "repeat(4,minmax(0,1fr))" in scatter
    assert scatter.count("<img") == 3 * 4 - 1  # l1's failed seed has no figure
    # the glossary has each shown metric with its range and source
    gloss = html[html.index("<h2>Glossary") : html.index("<h2>Settings")]
    assert "score@k" in gloss and "[0, 1]" in gloss and "seed 004" in gloss


def test_settings_show_only_set_values():
    index = {
        "study": "s",
        "profile": None,
        "resolved": {
            "seeds": [0, 1],
            "base": {"model": {"name": "ae", "path": None, "params": {}}, "data": {"x": []}},
            "grids": {"main": {"description": "", "axes": {"loss": {"path": None}}}},
            "evaluate": {"metrics": None, "figures": [], "options": {}},
        },
    }
    assert _settings(index) == {
        "study": "s",
        "seeds": [0, 1],
        "base config": {"model": {"name": "ae"}},
        "grids": {"main": {"description": ""}},
    }


def test_bar_axis_from_zero_unless_range_says_otherwise(tmp_path):
    assert axis_bottom("probe-knn/accuracy", [0.8, 0.9]) == 0.0
    assert axis_bottom("neighbours/l2/agreement@10/improvement", [0.1, 0.2]) is None
    assert axis_bottom("elbo/elbo", [-100.0]) is None
    assert axis_bottom("unknown/thing", [3.0, 4.0]) == 0.0
    assert axis_bottom("unknown/thing", [-3.0, 4.0]) is None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = load_results(_study(tmp_path))
    captured = {}
    original = figures._png

    def keep(fig):
        captured["ylim"] = fig.axes[0].get_ylim()
        return original(fig)

    figures._png = keep
    try:
        figures.bar_chart(results, "main", "probe/linear/accuracy")
    finally:
        figures._png = original
        plt.close("all")
    assert captured["ylim"][0] == 0.0  # accuracies near 0.7 do not start the axis at 0.6


def test_glossary_entries():
    assert entry("neighbours/l2/per_label/3/score@10").title == "score@k"
    assert entry("probe-logistic/accuracy").direction == "higher"
    assert entry("reconstruction/mse").direction == "lower"


def test_curves_rows_are_quantities_columns_cells(tmp_path):
    root = _study(tmp_path)
    for run in (root / "runs").iterdir():  # an adaptive loss logs alpha and scale
        rows = ["epoch,loss,reconstruction,seconds,alpha_mean,alpha_min,alpha_max,scale_mean"]
        rows += [f"{e},{1 / e},{1 / e},0.1,{1 + e / 10},1,{2 + e},{0.1 * e}" for e in (1, 2, 3)]
        (run / "logs" / "metrics.csv").write_text("\n".join(rows) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    results = load_results(root)
    shapes = {}
    original = figures._png

    def keep(fig):
        shapes["labels"] = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
        shapes["n"] = len(fig.axes)
        return original(fig)

    figures._png = keep
    try:
        assert figures.training_curves(results, "main")
    finally:
        figures._png = original
    # reconstruction equals loss (drawn once); seconds and the min/max columns are no curves
    assert shapes["labels"] == ["loss", "alpha_mean", "scale_mean"]
    assert shapes["n"] == 3 * len(LOSSES)


def _chromium(args, timeout=120):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


CHECK = """<script>
window.addEventListener('load', function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var imgs = Array.from(document.images);
  var first = document.querySelector('table');
  var out = {
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    body: document.body.scrollWidth - document.body.clientWidth,
    images: imgs.length,
    broken: imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length,
    first: first ? first.id : null,
    sorted: null
  };
  var th = first.querySelectorAll('th')[first.querySelectorAll('th').length - 1];
  th.click();
  var col = th.cellIndex;
  out.sorted = Array.from(first.tBodies[0].rows).map(function (r) {
    return r.cells[col].dataset.v; });
  var pre = document.createElement('pre');
  pre.id = 'check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script></body>"""


@needs_chromium
@pytest.mark.parametrize("width", [1200, 700])
def test_report_renders_in_chromium(tmp_path, width):
    root = _study(tmp_path / "study")
    html_path, _ = write_report(root)
    probe = html_path.with_name("probe.html")
    probe.write_text(html_path.read_text().replace("</body>", CHECK))
    profile = tmp_path / "chrome-profile"
    common = [f"--user-data-dir={profile}", f"--window-size={width},2000",
              "--virtual-time-budget=3000"]  # fmt: skip
    done = _chromium([*common, "--enable-logging=stderr", "--v=0", "--dump-dom", probe.as_uri()])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Failed to load resource" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not errors, errors
    check = json.loads(re.search(r'<pre id="check">(.*?)</pre>', done.stdout).group(1))
    assert check["overflow"] <= 0 and check["body"] <= 0, check  # no horizontal overflow
    assert check["images"] >= 10 and check["broken"] == 0, check  # every image loads
    assert check["first"] == "headline", check  # the headline table is the first table
    values = [float(v) for v in check["sorted"] if v]
    assert values == sorted(values), check  # a click on a header sorts the column
    shot = tmp_path / "shot.png"
    done = _chromium([*common, f"--screenshot={shot}", html_path.as_uri()])
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
