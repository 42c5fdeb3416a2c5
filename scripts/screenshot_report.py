"""Regenerate docs/report.png: run the main job (`reprlab run`, the default study's quick
profile), write its report and photograph the top of report.html in headless Chromium.

    python scripts/screenshot_report.py                 # trains the study (about 90 s on 2 cores)
    python scripts/screenshot_report.py --study-dir D   # reuse a finished `reprlab run --out D`
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study-dir", type=Path, help="a finished default study (skip training)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--size", default="1200,1700", help="window WIDTH,HEIGHT in pixels")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from reprlab.cli import main as reprlab
    from reprlab.study.report import write_report

    with tempfile.TemporaryDirectory() as tmp:
        study = args.study_dir or Path(tmp) / "default"
        if args.study_dir is None and reprlab(["run", "--out", str(study), "--no-report"]) > 1:
            return 1
        html, _ = write_report(study)
        subprocess.run(
            [args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--hide-scrollbars", f"--user-data-dir={Path(tmp) / 'profile'}",
             f"--window-size={args.size}", f"--screenshot={args.out.resolve()}", html.as_uri()],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
