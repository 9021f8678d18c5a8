"""`crucible bench train`: LoRA training throughput on the tiny model, packing vs padding, in
the same run on the same samples. The figure is effective tokens/s: non-pad input tokens per
second of training steps (forward, backward, optimizer), so padding's wasted work counts
against it. Also reported: TRL's SFTTrainer (padding-free packing) against our Trainer path."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any


def _demo_chats(n: int, seed: int) -> list[list[dict[str, str]]]:
    """Chat samples of varied lengths, like the demo dataset (one to three exchanges)."""
    import random

    from crucible.trainer.corpus import coaching_dialogues

    rng = random.Random(seed)
    base = coaching_dialogues(n * 3, seed=seed)
    chats = []
    for i in range(n):
        turns = rng.choice([1, 1, 2, 3])
        chat: list[dict[str, str]] = []
        for j in range(turns):
            chat += base[(i * 3 + j) % len(base)]
        chats.append(chat)
    return chats


def _lora_model(path: Path) -> Any:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path)
    model.config.use_cache = False
    return get_peft_model(
        model, LoraConfig(task_type="CAUSAL_LM", r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"])
    )


def measure_trainer(
    path: Path, samples: list[Any], *, packing: bool, steps: int, batch: int, max_len: int, pad_id: int
) -> dict:
    """Time `steps` optimizer steps (the Trainer's loop body: forward, backward, clip, AdamW) on our rows."""
    import torch

    from crucible.trainer.samples import IGNORE, build_rows, make_collator

    torch.manual_seed(0)
    model = _lora_model(path)
    rows = build_rows(samples, packing=packing, max_length=max_len)
    collate = make_collator(packing, pad_id)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5)
    model.train()
    batches = [collate(rows[(i * batch) % len(rows) : (i * batch) % len(rows) + batch]) for i in range(steps + 1)]
    effective = 0
    total = 0
    trained = 0
    start = 0.0
    for i, b in enumerate(batches):
        if i == 1:  # the first step warms up allocators and kernels: not timed
            start = time.perf_counter()
        out = model(**b)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 1:
            effective += int((b["input_ids"] != pad_id).sum())  # samples never contain the pad token
            total += b["input_ids"].numel()
            trained += int((b["labels"] != IGNORE).sum())
    seconds = time.perf_counter() - start
    return {
        "rows": len(rows),
        "steps": steps,
        "seconds": round(seconds, 3),
        "effective_tokens_per_s": round(effective / seconds, 1),
        "all_tokens_per_s": round(total / seconds, 1),
        "pad_fraction": round(1 - effective / total, 4),
        "trained_tokens": trained,
    }


def measure_sft_trainer(path: Path, chats: list, *, steps: int, batch: int, max_len: int) -> dict:
    """TRL's SFTTrainer with its own packing (bfd, padding-free) and assistant-only loss."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(path)
    model = _lora_model(path)
    out = tempfile.mkdtemp(prefix="crucible-bench-sft-")
    cfg = SFTConfig(
        output_dir=out,
        max_steps=steps,
        per_device_train_batch_size=batch,
        learning_rate=2e-5,
        packing=True,
        max_length=max_len,
        assistant_only_loss=True,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=10_000,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=model,
        args=cfg,
        train_dataset=Dataset.from_list([{"messages": c} for c in chats]),
        processing_class=tok,
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    return {
        "steps": steps,
        "seconds": round(seconds, 3),
        "effective_tokens_per_s": round(trainer.state.num_input_tokens_seen / seconds, 1),
    }


def bench_train(quick: bool = False) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    from transformers import AutoTokenizer

    from crucible.trainer.samples import tokenize_chats
    from crucible.trainer.tiny import TinySpec, build_tiny_model, tiny_corpus

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    steps = 6 if quick else 30
    batch, max_len = 4, 1024
    with tempfile.TemporaryDirectory(prefix="crucible-bench-train-") as tmp:
        path = Path(tmp) / "tiny"
        texts, pre_chats = tiny_corpus(None)
        build_tiny_model(path, texts, TinySpec(pretrain_steps=20 if quick else 100), chats=pre_chats)
        tok = AutoTokenizer.from_pretrained(path)
        chats = _demo_chats(120 if quick else 400, seed=7)
        samples = tokenize_chats(tok, chats, max_len)
        padded = measure_trainer(
            path, samples, packing=False, steps=steps, batch=batch, max_len=max_len, pad_id=tok.pad_token_id
        )
        packed = measure_trainer(
            path, samples, packing=True, steps=steps, batch=batch, max_len=max_len, pad_id=tok.pad_token_id
        )
        result: dict[str, Any] = {
            "model": "tiny-llama",
            "device": "cpu",
            "threads": torch.get_num_threads(),
            "samples": len(samples),
            "mean_sample_tokens": round(sum(len(s.input_ids) for s in samples) / len(samples), 1),
            "batch_rows": batch,
            "max_seq_length": max_len,
            "padding": padded,
            "packing": packed,
            "packing_over_padding": round(packed["effective_tokens_per_s"] / padded["effective_tokens_per_s"], 2),
            "target_ratio": 2.0,
        }
        if not quick:
            sft = measure_sft_trainer(path, chats, steps=steps, batch=batch, max_len=max_len)
            result["trl_sft_packing"] = sft
            result["ours_over_trl_sft"] = round(packed["effective_tokens_per_s"] / sft["effective_tokens_per_s"], 2)
        result["meets_target"] = result["packing_over_padding"] >= 2.0
        return result
