"""Issue 25 item 6: a hub model is loaded at a pinned commit, never at a branch that can move."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from crucible.common.config import ConfigError
from crucible.common.hub import model_source

ROOT = Path(__file__).resolve().parents[3]


def test_local_folders_load_as_they_are_and_hub_ids_at_their_commit(tmp_path: Path) -> None:
    assert model_source(tmp_path) == model_source(str(tmp_path))
    assert model_source(tmp_path).revision is None
    pinned = model_source("Qwen/Qwen2.5-0.5B-Instruct@7ae557604adf67be50417f59c2c2f167def9a775")
    assert (pinned.path, pinned.revision) == ("Qwen/Qwen2.5-0.5B-Instruct", "7ae557604adf67be50417f59c2c2f167def9a775")


@pytest.mark.parametrize("name", ["Qwen/Qwen2.5-0.5B-Instruct", "org/model@main", "org/model@v1.0", "org/m@abc"])
def test_an_unpinned_hub_id_is_refused_naming_the_fix(name: str) -> None:
    with pytest.raises(ConfigError, match="@<commit sha>"):
        model_source(name)


def test_the_trainer_refuses_an_unpinned_base_model_before_any_work(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from crucible.trainer.hf_training import resolve_base_model
    from crucible.trainer.policy import TrainerPolicy

    runtime = SimpleNamespace(settings=SimpleNamespace(home=tmp_path))
    with pytest.raises(ConfigError, match="pinned hub id"):
        resolve_base_model(runtime, TrainerPolicy(base_model="meta-llama/Llama-3.2-1B-Instruct"))
    pinned = "meta-llama/Llama-3.2-1B-Instruct@4e20de362430cd3b72f300e6b0f18e50e7166e08"
    assert resolve_base_model(runtime, TrainerPolicy(base_model=pinned)) == (pinned, pinned)


def test_every_from_pretrained_of_transformers_passes_a_revision() -> None:
    """What bandit's B615 checks, without bandit: a transformers `from_pretrained` call names a
    revision (from `model_source`) or says on its line why it only ever reads a local folder."""
    missing = []
    for path in [*ROOT.glob("services/*/src/**/*.py"), *ROOT.glob("libs/*/src/**/*.py")]:
        text = path.read_text()
        if "from_pretrained" not in text or "transformers" not in text:
            continue
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if node.func.attr != "from_pretrained" or not (isinstance(owner, ast.Name) and owner.id.startswith("Auto")):
                continue
            if any(k.arg == "revision" for k in node.keywords) or "nosec B615" in lines[node.lineno - 1]:
                continue
            missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not missing, missing
