"""Values refused at the edge, the run folder's lock, files that follow the umask, and the
reasons given for unreadable checkpoints (issue 14, points 4, 9 and 12)."""

from __future__ import annotations

import os
import stat

import pytest

from reprlab import atomic
from reprlab.cli import main
from reprlab.errors import ReprlabError
from reprlab.rundir import RunDir
from reprlab.train.checkpoint import load_checkpoint

QUICK = ["--data", "digits", "--model", "ae", "--arch", "mlp", "--hidden", "16",
         "--latent-dim", "2", "--epochs", "1", "--set", "data.limit=100"]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--lr", "inf"], ["--lr", "finite"]),
        (["--set", "train.lr=.inf"], ["--lr", "finite"]),
        (["--set", "train.lr=.nan"], ["--lr", "finite"]),
        (["--loss", "cauchy", "--scale", ".inf"], ["--scale", "finite"]),
        (["--loss", "cauchy", "--scale", "0"], ["--scale", "positive"]),
        (["--hidden", "0,0"], ["--hidden", "at least 1"]),
        (["--set", "model.vae.beta=.inf"], ["model.vae.beta", "finite"]),
        (["--set", "train.seed=-1"], ["--seed"]),
    ],
)
def test_numbers_at_the_edge_are_refused(tmp_path, capsys, args, words):
    out = tmp_path / "run"
    code = main(["train", *QUICK, "--out", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    for word in words:
        assert word in err
    assert not out.exists()


def test_train_takes_an_exclusive_lock_on_its_run_folder(tmp_path, capsys):
    """Issue 14, point 4: two ``train --out same`` ran together and mixed their files."""
    out = tmp_path / "run"
    with RunDir(out).lock("reprlab train"):
        code = main(["train", *QUICK, "--out", str(out)])
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written
    err = capsys.readouterr().err.strip()
    assert code == 2 and "another 'reprlab train' is using" in err, err
    assert not out.exists()  # the lock's own folder is removed when nothing was written
    assert main(["train", *QUICK, "--out", str(out)]) == 0  # free again
    assert RunDir(out).read_status()["status"] == "done"


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_files_follow_the_umask(tmp_path, umask):
    """Issue 14, point 12: atomic writes made every file 0600."""
    previous = os.umask(umask)
    try:
        atomic.write_text(tmp_path / "a" / "f.txt", "x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a" / "f.txt").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o777 & ~umask


def test_unreadable_checkpoints_say_why(tmp_path):
    """Issue 14, point 12: an empty reason for 0 bytes; weights_only=False suggested."""
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ReprlabError, match=r"is empty \(0 bytes\); delete it") as error:
        load_checkpoint(empty)
    assert "''" not in str(error.value)
    noise = tmp_path / "noise.pt"
    noise.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ReprlabError, match="damaged or not a reprlab checkpoint") as error:
        load_checkpoint(noise)
    assert "weights_only" not in str(error.value)
    assert len(str(error.value).splitlines()) == 1
