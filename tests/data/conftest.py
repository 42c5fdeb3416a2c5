"""Isolate data tests from the user's folders: an empty cache dir and no $REPRLAB_DATA."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_dirs(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("REPRLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("REPRLAB_DATA", raising=False)
