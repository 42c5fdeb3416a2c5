"""The report: self-contained HTML (checked in headless Chromium) and Markdown."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reprlab.study.report import write_report

from .fakes import write_study

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _study(tmp_path):
    rng = np.random.default_rng(1)
    values = {
        f"main/loss={loss}": {
            s: {
                "probe": {"linear": {"accuracy": float(rng.normal(m, 0.01))}},
                "elbo": float(rng.normal(-100 * m, 1)),
            }
            for s in range(3)
        }
        for loss, m in [("mse", 0.6), ("cauchy", 0.8), ("l1", 0.7)]
    }
    return write_study(
        tmp_path,
        values,
        question="Does a <robust> loss help?",
        statuses={("main/loss=l1", 2): ("failed", "RuntimeError: boom")},
    )


def test_report_files(tmp_path):
    root = _study(tmp_path)
    html_path, md_path = write_report(root)
    html = html_path.read_text()
    md = md_path.read_text()
    assert "Does a &lt;robust&gt; loss help?" in html
    assert html.count("<table") >= 3  # headline, failures, ...
    assert "RuntimeError: boom" in html and "RuntimeError: boom" in md
    assert "<script" not in html.lower()
    # only inline images: no http(s) or file references
    assert not re.search(r'(src|href)="(?!data:image/png;base64,)', html)
    assert html.count('src="data:image/png;base64,') >= 2 + 3 + 1 + 3  # bars, recon, curves, ...
    assert "ttest_rel" in html and "ttest_rel" in md
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (root / link).is_file(), link
    assert "runs/r000/figures/reconstructions.png" in md


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_report_renders_in_chromium(tmp_path):
    root = _study(tmp_path / "study")
    html_path, _ = write_report(root)
    profile = tmp_path / "chrome-profile"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=2000",
        "--dump-dom",
        html_path.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    assert "Failed to load resource" not in done.stderr
    assert dom.count("<table") >= 3
    assert dom.count("<img") >= 9 and "data:image/png;base64," in dom
    assert "Study: fake" in dom
    # the browser decoded every image: a screenshot is taken and is a valid PNG
    shot = tmp_path / "shot.png"
    cmd = [c for c in cmd if c != "--dump-dom"]
    cmd[-1:-1] = [f"--screenshot={shot}", "--window-size=1200,2000"]
    subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
