"""Adapter checks and plans for the serving fleet's disk (crucible.gateway.adapter_sync), on real
peft adapters of the tiny base model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crucible.gateway.adapter_sync import (
    Adapter,
    AdapterError,
    base_name,
    check_adapter,
    lora_adapters_value,
    plan_prepare,
    plan_sync,
    same_base,
)


def _copy(adapter: Path, dest: Path) -> Path:
    shutil.copytree(adapter, dest)
    return dest


def test_a_real_adapter_passes_on_its_base(tiny_adapter: Path) -> None:
    check_adapter(tiny_adapter, expected_base="tiny-base", registry_base="tiny-base", max_rank=8)


def test_truncated_weights_are_refused_like_the_safetensors_library_refuses_them(
    tiny_adapter: Path, tmp_path: Path
) -> None:
    from safetensors import SafetensorError, safe_open

    bad = _copy(tiny_adapter, tmp_path / "a")
    weights = bad / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-16])
    with pytest.raises(AdapterError, match="truncated or corrupt"):
        check_adapter(bad)
    with pytest.raises(SafetensorError), safe_open(str(weights), framework="pt") as fh:
        fh.keys()
    weights.write_bytes(b"\xff" * 4)
    with pytest.raises(AdapterError, match="truncated"):
        check_adapter(bad)
    weights.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    with pytest.raises(AdapterError, match="exceeds the file"):
        check_adapter(bad)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "adapter_config.json").unlink(), "adapter_config.json is missing"),
        (lambda d: (d / "adapter_config.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "adapter_model.safetensors").unlink(), "no weights file"),
        (lambda d: _edit_config(d, peft_type="PROMPT_TUNING"), "not LORA"),
        (lambda d: _edit_config(d, r=64), "above the server's maximum 8"),
        (lambda d: _edit_config(d, base_model_name_or_path="meta-llama/Llama-3.1-8B"), "trained on"),
    ],
)
def test_bad_adapters_say_why(tiny_adapter: Path, tmp_path: Path, change, message: str) -> None:
    bad = _copy(tiny_adapter, tmp_path / "a")
    change(bad)
    with pytest.raises(AdapterError, match=message):
        check_adapter(bad, expected_base="tiny-base", max_rank=8)


def test_registry_base_mismatch_is_refused(tiny_adapter: Path) -> None:
    with pytest.raises(AdapterError, match="registry base 'other-base'"):
        check_adapter(tiny_adapter, expected_base="tiny-base", registry_base="other-base")


def _edit_config(folder: Path, **changes: object) -> None:
    path = folder / "adapter_config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def test_base_names_match_across_hub_ids_paths_and_the_hub_cache() -> None:
    hub = "meta-llama/Llama-3.1-8B-Instruct"
    assert same_base(hub, hub)
    assert same_base(hub, "/models/Llama-3.1-8B-Instruct/")
    assert same_base(hub, "/root/.cache/huggingface/hub/models--meta-llama--Llama-3.1-8B-Instruct/snapshots/0e9e")
    assert base_name("/x/models--org--m/snapshots/abc") == "org/m"
    assert same_base("tiny-base", "/var/lib/crucible/models/tiny-base")
    assert not same_base(hub, "meta-llama/Llama-3.1-70B-Instruct")
    assert not same_base("tiny-base", "")


def _a(name: str, status: str) -> Adapter:
    return Adapter(name=name, status=status, base_model="b", adapter_uri=f"file:///a/{name}")


def test_prepare_takes_serving_first_then_canaries_only() -> None:
    adapters = [_a("m1", "canary"), _a("m2", "serving"), _a("m3", "evaluated"), _a("m4", "retired")]
    assert [a.name for a in plan_prepare(adapters)] == ["m2", "m1"]


def test_sync_fetches_wanted_removes_only_what_left() -> None:
    adapters = [
        _a("serving", "serving"),
        _a("canary", "canary"),
        _a("evaluated", "evaluated"),
        _a("retired", "retired"),
        _a("rolled", "rolled_back"),
        _a("rejected", "rejected"),
        _a("trained", "trained"),
    ]
    present = ["serving", "retired", "rolled", "rejected", "trained", "someone-elses"]
    plan = plan_sync(adapters, present)
    assert [a.name for a in plan.fetch] == ["canary", "evaluated"]
    assert plan.remove == ("rejected", "retired", "rolled")
    assert plan.keep == ("serving",)
    # Nothing to do once DIR matches.
    settled = plan_sync(adapters, ["serving", "canary", "evaluated", "trained", "someone-elses"])
    assert settled.fetch == () and settled.remove == ()


def test_lora_adapters_value_is_tgis_syntax() -> None:
    value = lora_adapters_value([("m2", Path("/data/adapters/m2")), ("m1", Path("/data/adapters/m1"))])
    assert value == "m2=/data/adapters/m2,m1=/data/adapters/m1"
    with pytest.raises(AdapterError):
        lora_adapters_value([("a,b", Path("/data/adapters/x"))])
    with pytest.raises(AdapterError):
        lora_adapters_value([("m1", Path("/data/a=b/m1"))])
