from __future__ import annotations

from crucible.trainer.bench import bench_train


def test_quick_bench_reports_packing_against_padding_on_the_same_samples() -> None:
    result = bench_train(quick=True)
    assert result["data"] == "built-in coaching chats"
    for name in ("padding", "packing", "packing_sdpa_block_mask"):
        assert result[name]["steps"] == 6 and result[name]["effective_tokens_per_s"] > 0
    # Packed rows carry (almost) no padding; padded rows of mixed lengths carry a lot.
    assert result["packing"]["pad_fraction"] < 0.1 < result["padding"]["pad_fraction"]
    assert result["padding"]["rows"] == result["samples"] > result["packing"]["rows"]
    ratio = result["packing"]["effective_tokens_per_s"] / result["padding"]["effective_tokens_per_s"]
    assert result["packing_over_padding"] == round(ratio, 2)
    assert result["meets_target"] == (result["packing_over_padding"] >= 2.0)
