"""`crucible bench train`: LoRA training throughput on the tiny model, packing vs padding, in
the same run on the same samples. The figure is effective tokens/s: non-pad input tokens per
second of training steps (forward, backward, optimizer), so padding's wasted work counts
against it. Also reported: TRL's SFTTrainer (padding-free packing) against our Trainer path."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
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


def registered_demo_chats() -> tuple[list[list[dict[str, str]]], str] | None:
    """The train split of the newest dataset version in $CRUCIBLE_HOME's registry (after
    `crucible run`, the demo dataset), or None when there is none."""
    from sqlalchemy import select

    from crucible.common.config import Settings, load_policy
    from crucible.common.registry import DatasetVersion
    from crucible.common.runtime import Runtime
    from crucible.trainer.inputs import TrainingInputError, data_from_registry
    from crucible.trainer.policy import TrainerPolicy

    settings = Settings()
    if not settings.database_url and not (settings.home / "registry.db").exists():
        return None
    runtime = Runtime.create(settings, policy=load_policy(None, {"trainer": TrainerPolicy}), migrate=False)
    try:
        with runtime.registry.session() as s:
            version = s.scalar(select(DatasetVersion.version).order_by(DatasetVersion.seq.desc()).limit(1))
        if version is None:
            return None
        try:
            return data_from_registry(runtime, version).train, f"dataset version {version}"
        except TrainingInputError:
            return None
    except Exception:
        return None
    finally:
        runtime.registry.dispose()


def _lora_model(path: Path, attention: str = "sdpa") -> Any:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    if attention == "crucible_segments":
        from crucible.trainer.segment_attention import register

        register()
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=attention)
    model.config.use_cache = False
    lora = LoraConfig(
        task_type="CAUSAL_LM", r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    return get_peft_model(model, lora)


class _Run:
    """One configuration's model, optimizer and rows; timed one step at a time."""

    def __init__(
        self, path: Path, samples: list[Any], *, packing: bool, attention: str, batch: int, max_len: int, pad_id: int
    ) -> None:
        import torch

        from crucible.trainer.samples import build_rows, make_collator

        torch.manual_seed(0)
        self.model = _lora_model(path, attention)
        self.model.train()
        self.rows = build_rows(samples, packing=packing, max_length=max_len)
        self.collate = make_collator(packing, pad_id)
        self.opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=2e-5)
        self.batch, self.pad_id = batch, pad_id
        self.i = 0
        self.seconds = 0.0
        self.effective = self.total = self.trained = self.steps = 0

    def step(self, *, timed: bool) -> None:
        import torch

        from crucible.trainer.samples import IGNORE

        start = (self.i * self.batch) % len(self.rows)
        b = self.collate(self.rows[start : start + self.batch])
        self.i += 1
        t0 = time.perf_counter()
        out = self.model(**b)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        if timed:
            self.seconds += time.perf_counter() - t0
            self.steps += 1
            self.effective += int((b["input_ids"] != self.pad_id).sum())  # samples never contain the pad token
            self.total += b["input_ids"].numel()
            self.trained += int((b["labels"] != IGNORE).sum())

    def figures(self) -> dict[str, Any]:
        return {
            "rows": len(self.rows),
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "effective_tokens_per_s": round(self.effective / self.seconds, 1),
            "all_tokens_per_s": round(self.total / self.seconds, 1),
            "pad_fraction": round(1 - self.effective / self.total, 4),
            "trained_tokens": self.trained,
        }


def measure_interleaved(runs: dict[str, _Run], steps: int, per_round: int = 2) -> dict[str, dict[str, Any]]:
    """Steps of every configuration in turns, so load from other processes on a shared machine
    falls on all of them alike; the first step of each (warm-up) is not timed."""
    for run in runs.values():
        run.step(timed=False)
    done = 0
    while done < steps:
        n = min(per_round, steps - done)
        for run in runs.values():
            for _ in range(n):
                run.step(timed=True)
        done += n
    return {name: run.figures() for name, run in runs.items()}


def measure_trainers(path: Path, chats: list, samples: list[Any], *, steps: int, batch: int, max_len: int) -> dict:
    """The whole training loop, Transformers `Trainer` (our rows and collator) against TRL's
    `SFTTrainer` (its own bfd packing, padding-free, assistant-only loss), same model and attention."""
    from datasets import Dataset
    from transformers import AutoTokenizer, Trainer, TrainingArguments
    from trl import SFTConfig, SFTTrainer

    from crucible.trainer.samples import build_rows, make_collator

    tok = AutoTokenizer.from_pretrained(path)
    common = {
        "max_steps": steps,
        "per_device_train_batch_size": batch,
        "learning_rate": 2e-5,
        "bf16": False,
        "gradient_checkpointing": False,
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 10_000,
        "disable_tqdm": True,
        "include_num_input_tokens_seen": "non_padding",
        "dataloader_num_workers": 0,
        "seed": 0,
    }
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        from crucible.trainer.job import _ListDataset

        rows = build_rows(samples, packing=True, max_length=max_len)
        ours = Trainer(
            model=_lora_model(path, "crucible_segments"),
            args=TrainingArguments(output_dir=tmp, remove_unused_columns=False, **common),
            train_dataset=_ListDataset(rows),
            data_collator=make_collator(True, tok.pad_token_id),
            processing_class=tok,
        )
        sft = SFTTrainer(
            model=_lora_model(path, "crucible_segments"),
            args=SFTConfig(output_dir=tmp, packing=True, max_length=max_len, assistant_only_loss=True, **common),
            train_dataset=Dataset.from_list([{"messages": c} for c in chats]),
            processing_class=tok,
        )
        for name, trainer in (("transformers_trainer", ours), ("trl_sft_trainer", sft)):
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
            out[name] = {
                "steps": steps,
                "seconds": round(seconds, 3),
                "effective_tokens_per_s": round(trainer.state.num_input_tokens_seen / seconds, 1),
            }
    return out


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Libraries print to stdout (DeepSpeed's logger holds sys.stdout itself); `--json` output must
    stay clean, so file descriptor 1 points at stderr while the bench runs."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def bench_train(quick: bool = False) -> dict[str, Any]:
    with stdout_to_stderr():
        return _bench_train(quick)


def _bench_train(quick: bool) -> dict[str, Any]:
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
        found = None if quick else registered_demo_chats()
        chats, source = found if found else (_demo_chats(120 if quick else 400, seed=7), "built-in coaching chats")
        chats = chats[: 120 if quick else 400]
        samples = tokenize_chats(tok, chats, max_len)
        common = {"batch": batch, "max_len": max_len, "pad_id": tok.pad_token_id}
        runs = {
            "padding": _Run(path, samples, packing=False, attention="sdpa", **common),
            "packing": _Run(path, samples, packing=True, attention="crucible_segments", **common),
            "packing_sdpa_block_mask": _Run(path, samples, packing=True, attention="sdpa", **common),
        }
        figures = measure_interleaved(runs, steps)
        padded = figures["padding"]["effective_tokens_per_s"]
        result: dict[str, Any] = {
            "model": "tiny-llama",
            "data": source,
            "device": "cpu",
            "threads": torch.get_num_threads(),
            "samples": len(samples),
            "mean_sample_tokens": round(sum(len(s.input_ids) for s in samples) / len(samples), 1),
            "batch_rows": batch,
            "max_seq_length": max_len,
            **figures,
            "packing_over_padding": round(figures["packing"]["effective_tokens_per_s"] / padded, 2),
            "packing_sdpa_block_mask_over_padding": round(
                figures["packing_sdpa_block_mask"]["effective_tokens_per_s"] / padded, 2
            ),
            "target_ratio": 2.0,
        }
        result["meets_target"] = result["packing_over_padding"] >= result["target_ratio"]
        if not quick:
            loops = measure_trainers(path, chats, samples, steps=10, batch=batch, max_len=max_len)
            result["trainer_loops"] = loops
            result["transformers_trainer_over_trl_sft"] = round(
                loops["transformers_trainer"]["effective_tokens_per_s"]
                / loops["trl_sft_trainer"]["effective_tokens_per_s"],
                2,
            )
        return result
