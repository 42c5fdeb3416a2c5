import numpy as np
from PIL import Image

from reprlab.cli import main


def test_data_list_shows_every_data_set_and_presence(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("digits", "fashion-mnist", "mnist", "cifar100", "omniglot", "celeba"):
        assert name in out
    assert "bundled" in out and "absent" in out


def test_data_info_counts_and_grid(tmp_path, capsys):
    grid = tmp_path / "grid.png"
    argv = ["data", "info", "digits", "--grid", str(grid), "--per-class", "3", "--max-classes", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1,347" in out and "450" in out
    image = np.asarray(Image.open(grid))
    assert image.shape == (4 * 10 + 2, 3 * 10 + 2)  # 8x8 tiles with 2-pixel padding


def test_data_info_absent_is_a_clear_error(tmp_path, capsys):
    assert (
        main(["data", "info", "mnist", "--root", str(tmp_path), "--grid", str(tmp_path / "g.png")])
        == 1
    )
    err = capsys.readouterr().err
    assert "'mnist' not found" in err and not (tmp_path / "g.png").exists()
    assert main(["data", "info", "nope"]) == 2
