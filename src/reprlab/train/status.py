"""``status.json``: ``running``, ``done``, ``failed`` or ``diverged``, with reason, epoch, step."""

import json
import time
from pathlib import Path
from typing import Any

from reprlab import atomic

STATUSES = ("running", "done", "failed", "diverged")


def write_status(run_dir: Path, status: str, reason: str = "", **fields: Any) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    record = {
        "status": status,
        "reason": reason,
        **fields,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic.write_json(Path(run_dir) / "status.json", record)


def read_status(run_dir: Path) -> dict[str, Any]:
    """The run's status record; ``{'status': 'missing'}`` when it has none."""
    path = Path(run_dir) / "status.json"
    if not path.is_file():
        return {"status": "missing", "reason": ""}
    return json.loads(path.read_text())
