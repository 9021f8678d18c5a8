from __future__ import annotations

from pathlib import Path

from crucible.common.registry import DatasetVersion
from crucible.trainer.bench import bench_train, epoch_batches, epoch_order, round_targets
from crucible.trainer.demo_dataset import newest_train_split, pipeline_env

from .conftest import make_runtime, new_style_chats, write_chat_jsonl


def test_quick_bench_reports_packing_against_padding_on_the_same_samples() -> None:
    result = bench_train(quick=True)
    assert result["data"] == "built-in coaching chats"
    assert result["batch_rows"] == 4 and result["max_seq_length"] == 1024  # the policy's
    names = ("padding", "packing", "packing_sdpa_block_mask", "flattening_sdpa")
    for name in names:
        assert result[name]["steps"] > 0 and result[name]["effective_tokens_per_cpu_s"] > 0
    # Every configuration trains on the same tokens: one whole epoch each.
    assert len({result[n]["effective_tokens"] for n in names}) == 1
    assert len({result[n]["trained_tokens"] for n in names}) == 1
    # One sample per step-row when padding: an epoch is ceil(samples / 4) steps.
    assert result["padding"]["steps"] == -(-result["samples"] // 4) == result["flattening_sdpa"]["steps"]
    # Packed rows carry (almost) no padding; padded rows of mixed lengths carry a lot.
    assert result["packing"]["pad_fraction"] < 0.1 < result["padding"]["pad_fraction"]
    assert result["flattening_sdpa"]["pad_fraction"] == 0
    assert result["padding"]["rows"] == result["samples"] > result["packing"]["rows"]
    ratio = result["packing"]["effective_tokens_per_cpu_s"] / result["padding"]["effective_tokens_per_cpu_s"]
    assert result["packing_over_padding"] == round(ratio, 2)
    assert result["meets_target"] == (result["packing_over_padding"] >= 2.0)
    bound = (1 - result["packing"]["pad_fraction"]) / (1 - result["padding"]["pad_fraction"])
    assert result["padding_removal_bound"] == round(bound, 2)


def test_an_epoch_visits_every_row_once_in_a_fresh_shuffled_order() -> None:
    epochs = [epoch_batches(10, 4, seed=42, epoch=e) for e in range(3)]
    for batches in epochs:
        assert [len(b) for b in batches] == [4, 4, 2]
        assert sorted(i for b in batches for i in b) == list(range(10))
    assert epochs[0] != epochs[1] != epochs[2]
    assert epochs[0] == epoch_batches(10, 4, seed=42, epoch=0)
    assert epoch_order(10, 42, 0) != list(range(10))


def test_rounds_keep_configurations_at_the_same_fraction_of_their_epoch() -> None:
    assert round_targets(10, 10) == list(range(1, 11))
    assert round_targets(22, 10) == [3, 5, 7, 9, 11, 14, 16, 18, 20, 22]
    assert round_targets(3, 3) == [1, 2, 3]


def test_pipeline_env_cannot_reach_configured_infrastructure(tmp_path: Path) -> None:
    env = pipeline_env(
        tmp_path,
        {"PATH": "/bin", "CRUCIBLE_DATABASE_URL": "postgresql://prod", "CRUCIBLE_NATS_URL": "nats://prod:4222"},
    )
    assert env["PATH"] == "/bin" and env["CRUCIBLE_HOME"] == str(tmp_path)
    assert "CRUCIBLE_DATABASE_URL" not in env and "CRUCIBLE_NATS_URL" not in env


def test_newest_train_split_reads_the_newest_registered_version(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rt = make_runtime(home)
    try:
        for seq, version in ((1, "v1_20261121"), (2, "v2_20261122")):
            for split, n in (("train", 3 + seq), ("val", 2)):
                path = rt.artifacts.local_path(f"datasets/{version}/{split}.chat.jsonl")
                write_chat_jsonl(path, new_style_chats(n, seed=seq))
            uri = rt.artifacts.write_json(
                f"datasets/{version}/manifest.json",
                {"files": {f"{s}.chat.jsonl": {"split": s, "format": "chat"} for s in ("train", "val")}},
            )
            with rt.registry.session() as s:
                s.add(DatasetVersion(version=version, seq=seq, manifest_uri=uri, manifest_sha256="m" * 64))
    finally:
        rt.registry.dispose()
    chats, version = newest_train_split(home)
    assert version == "v2_20261122"
    assert chats == new_style_chats(5, seed=2)
