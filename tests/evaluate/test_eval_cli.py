"""``reprlab eval`` prints a short table of what it computed; ``--json`` every number."""

import json

from reprlab.cli import eval as eval_cli
from reprlab.cli import main

METRICS = {
    "probe-logistic": {"accuracy": 0.75, "cross_entropy": 0.8},
    "neighbours": {
        "l2": {
            "score@5": 0.25,
            "score@10": 0.35,
            "per_label": {str(c): {"score@5": 0.1, "score@10": 0.2} for c in range(10)},
        }
    },
    "old": {"kept": 1.0},  # an earlier metric of metrics.json, not computed now
    "skipped": {"elbo": "needs a VAE"},
}


def test_summary_rows():
    ks, rows = eval_cli.summary_rows(METRICS, ["probe-logistic", "neighbours", "elbo"])
    assert ks == [5, 10]
    assert rows == [
        ("probe-logistic", "accuracy", "0.75", "", ""),
        ("probe-logistic", "cross_entropy", "0.8", "", ""),
        ("neighbours", "l2/score@k", "", "0.25", "0.35"),
        ("neighbours", "l2/per_label/*/score@k", "10 labels", "", ""),
        ("elbo", "skipped: needs a VAE", "", "", ""),
    ]


def test_eval_prints_a_short_table_or_json(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(eval_cli, "evaluate", lambda *a, **k: METRICS)
    args = ["eval", str(tmp_path), "--metrics", "probe-logistic,neighbours,elbo"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) < 20 and "k=5" in out and "0.35" in out
    assert "skipped: needs a VAE" in out and "kept" not in out and "{" not in out
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == METRICS
