"""Every example of docs/using-reprlab.md runs: each `##` section's python blocks, in order, in
one fresh namespace, from an empty working folder."""

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "using-reprlab.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def sections() -> dict[str, list[str]]:
    """Section title -> its python blocks."""
    found = {}
    for part in re.split(r"^## ", PAGE.read_text(), flags=re.MULTILINE)[1:]:
        title, _, body = part.partition("\n")
        blocks = BLOCK.findall(body)
        if blocks:
            found[title.strip()] = blocks
    return found


def test_the_page_has_the_promised_examples():
    assert set(sections()) == {
        "A split in a DataLoader with a torchvision transform",
        "AdaptiveLoss in a Lightning module",
        "MagnetLoss with a pytorch-metric-learning miner",
        "reprlab's exact knn inside AccuracyCalculator",
    }


@pytest.mark.parametrize("title", list(sections()))
def test_example_runs(title, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPRLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("REPRLAB_DATA", raising=False)
    namespace = {"__name__": f"docs_example_{title}"}
    for i, block in enumerate(sections()[title]):
        exec(compile(block, f"{PAGE.name}: {title} [block {i + 1}]", "exec"), namespace)
