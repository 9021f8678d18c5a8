"""`crucible bench train`: LoRA training throughput on the tiny model, packing vs padding, in
the same run on the same samples (the demo dataset's train split, built by the pipeline). The
figure is effective tokens/s: non-pad input tokens per second of training steps (forward,
backward, clipping, optimizer), so padding's wasted work counts against it. Both sides train the
policy's epochs in the order a shuffled epoch gives, with the policy's per-device batch. Also
measured: transformers' own packed paths (SDPA with the block-diagonal mask it derives from
position ids, over packed rows and over `DataCollatorWithFlattening` batches), and TRL's
SFTTrainer against our Trainer path."""

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


def _lora_model(path: Path, attention: str = "sdpa") -> Any:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    if attention == "crucible_segments":
        from crucible.trainer.segment_attention import register

        register()
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=attention)  # nosec B615: built in this run
    model.config.use_cache = False
    lora = LoraConfig(
        task_type="CAUSAL_LM", r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    return get_peft_model(model, lora)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The rows' order in one epoch: a seeded random permutation, a new one each epoch, as the
    Trainer's shuffling sampler gives. Same count and seed, same order: the padded and the
    flattened layouts (one row per sample) see the samples in the same order."""
    import torch

    gen = torch.Generator()
    gen.manual_seed(seed + epoch)
    return torch.randperm(n, generator=gen).tolist()


def epoch_batches(n_rows: int, batch: int, seed: int, epoch: int) -> list[list[int]]:
    """Row indices of each step of an epoch (the last batch may be short, as with the Trainer)."""
    order = epoch_order(n_rows, seed, epoch)
    return [order[i : i + batch] for i in range(0, n_rows, batch)]


def round_targets(steps_per_epoch: int, rounds: int) -> list[int]:
    """How many of an epoch's steps are done after each of `rounds` rounds: every configuration
    is at the same fraction of its epoch at the end of a round, so load from other processes on
    a shared machine falls on all of them alike."""
    return [-(-steps_per_epoch * r // rounds) for r in range(1, rounds + 1)]


class _Run:
    """One configuration's model, optimizer, rows and collator; timed one step at a time
    (forward, backward, clipping, AdamW: what a training step costs), in wall and CPU time."""

    def __init__(
        self,
        path: Path,
        samples: list[Any],
        *,
        layout: str,
        attention: str,
        batch: int,
        max_len: int,
        pad_id: int,
        seed: int,
    ) -> None:
        import torch

        from crucible.trainer.samples import build_rows, make_collator

        torch.manual_seed(0)
        self.model = _lora_model(path, attention)
        self.model.train()
        self.rows = build_rows(samples, packing=layout == "packed", max_length=max_len)
        if layout == "flattened":
            from transformers import DataCollatorWithFlattening

            # transformers' own padding-free path: the batch's samples concatenated into one row,
            # position ids restarting per sample, the first token of each sample not a target.
            self.collate: Any = DataCollatorWithFlattening(return_position_ids=True)
        else:
            self.collate = make_collator(layout == "packed", pad_id)
        self.opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=2e-5)
        self.batch, self.pad_id, self.seed = batch, pad_id, seed
        self.wall = self.cpu = 0.0
        self.effective = self.total = self.trained = self.steps = 0
        self.epoch_effective: list[int] = []
        self.epoch_cpu: list[float] = []

    def epoch(self, epoch: int) -> list[list[int]]:
        self.epoch_effective.append(0)
        self.epoch_cpu.append(0.0)
        return epoch_batches(len(self.rows), self.batch, self.seed, epoch)

    def step(self, rows: list[int], *, timed: bool) -> None:
        import torch

        from crucible.trainer.samples import IGNORE

        b = self.collate([self.rows[i] for i in rows])
        w0, c0 = time.perf_counter(), time.process_time()
        out = self.model(**b)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        if timed:
            cpu = time.process_time() - c0
            self.wall += time.perf_counter() - w0
            self.cpu += cpu
            self.steps += 1
            effective = int((b["input_ids"] != self.pad_id).sum())  # samples never contain the pad token
            self.effective += effective
            self.total += b["input_ids"].numel()
            self.trained += int((b["labels"] != IGNORE).sum())
            self.epoch_effective[-1] += effective
            self.epoch_cpu[-1] += cpu

    def figures(self) -> dict[str, Any]:
        return {
            "rows": len(self.rows),
            "steps": self.steps,
            "wall_seconds": round(self.wall, 3),
            "cpu_seconds": round(self.cpu, 3),
            "effective_tokens_per_s": round(self.effective / self.wall, 1),
            "effective_tokens_per_cpu_s": round(self.effective / self.cpu, 1),
            "all_tokens_per_cpu_s": round(self.total / self.cpu, 1),
            "pad_fraction": round(1 - self.effective / self.total, 4),
            "effective_tokens": self.effective,
            "trained_tokens": self.trained,
        }


def measure_epochs(runs: dict[str, _Run], epochs: int) -> dict[str, dict[str, Any]]:
    """Whole shuffled epochs of every configuration, interleaved in rounds (`round_targets`);
    one untimed warm-up step first. Every configuration trains on the same tokens."""
    for run in runs.values():
        run.step(epoch_batches(len(run.rows), run.batch, run.seed + 1000, 0)[0], timed=False)
    for epoch in range(epochs):
        plans = {name: run.epoch(epoch) for name, run in runs.items()}
        rounds = min(len(p) for p in plans.values())
        done = dict.fromkeys(runs, 0)
        for r in range(rounds):
            for name, run in runs.items():
                target = round_targets(len(plans[name]), rounds)[r]
                for rows in plans[name][done[name] : target]:
                    run.step(rows, timed=True)
                done[name] = target
    return {name: run.figures() for name, run in runs.items()}


def measure_trainers(path: Path, chats: list, samples: list[Any], *, steps: int, batch: int, max_len: int) -> dict:
    """The whole training loop, Transformers `Trainer` (our rows and collator) against TRL's
    `SFTTrainer` (its own bfd packing, padding-free, assistant-only loss), same model and attention."""
    from datasets import Dataset
    from transformers import AutoTokenizer, Trainer, TrainingArguments
    from trl import SFTConfig, SFTTrainer

    from crucible.trainer.samples import build_rows, make_collator

    tok = AutoTokenizer.from_pretrained(path)  # nosec B615: the tiny model built in this run
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
        from crucible.trainer.hf_training import ListDataset

        rows = build_rows(samples, packing=True, max_length=max_len)
        ours = Trainer(
            model=_lora_model(path, "crucible_segments"),
            args=TrainingArguments(output_dir=tmp, remove_unused_columns=False, **common),
            train_dataset=ListDataset(rows),
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


def _bench_data(quick: bool) -> tuple[list[list[dict[str, str]]], str, dict[str, Any]]:
    """The demo dataset's train split (built by the pipeline, `crucible.trainer.demo_dataset`);
    the quick version (tests) and a machine where the pipeline cannot run use built-in chats,
    and `data` says so."""
    if quick:
        return _demo_chats(120, seed=7), "built-in coaching chats", {}
    import subprocess

    from crucible.trainer.demo_dataset import DEMO_SEED, DEMO_USERS, demo_train_chats

    start = time.perf_counter()
    try:
        chats, version = demo_train_chats()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, ValueError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        return _demo_chats(400, seed=7), "built-in coaching chats", {"demo_dataset_error": str(detail)[-400:]}
    info = {
        "demo_dataset": {
            "command": f"crucible run --users {DEMO_USERS} --seed {DEMO_SEED} --steps dataset",
            "version": version,
            "split": "train",
            "build_seconds": round(time.perf_counter() - start, 1),
        }
    }
    return chats, f"demo dataset {version} (train split)", info


def _bench_train(quick: bool) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    from transformers import AutoTokenizer

    from crucible.trainer.policy import TrainerPolicy
    from crucible.trainer.samples import tokenize_chats
    from crucible.trainer.tiny import TinySpec, build_tiny_model, tiny_corpus

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    policy = TrainerPolicy()
    # The policy's per-device batch and sequence length; a full run is the policy's epochs.
    batch, max_len, seed = policy.per_device_batch_size, policy.max_seq_length, policy.seed
    epochs = 1 if quick else max(1, round(policy.epochs))
    chats, source, data_info = _bench_data(quick)
    with tempfile.TemporaryDirectory(prefix="crucible-bench-train-") as tmp:
        path = Path(tmp) / "tiny"
        texts, pre_chats = tiny_corpus(None)
        build_tiny_model(path, texts, TinySpec(pretrain_steps=20 if quick else 100), chats=pre_chats)
        tok = AutoTokenizer.from_pretrained(path)  # nosec B615: built just above
        samples = tokenize_chats(tok, chats, max_len)
        common = {"batch": batch, "max_len": max_len, "pad_id": tok.pad_token_id, "seed": seed}
        runs = {
            "padding": _Run(path, samples, layout="padded", attention="sdpa", **common),
            "packing": _Run(path, samples, layout="packed", attention="crucible_segments", **common),
            "packing_sdpa_block_mask": _Run(path, samples, layout="packed", attention="sdpa", **common),
            "flattening_sdpa": _Run(path, samples, layout="flattened", attention="sdpa", **common),
        }
        figures = measure_epochs(runs, epochs)
        pad, packed = runs["padding"], runs["packing"]
        per_epoch = [
            round((pe / pc) / (de / dc), 2)
            for pe, pc, de, dc in zip(
                packed.epoch_effective, packed.epoch_cpu, pad.epoch_effective, pad.epoch_cpu, strict=True
            )
        ]
        padded_cpu = figures["padding"]["effective_tokens_per_cpu_s"]
        result: dict[str, Any] = {
            "model": "tiny-llama",
            "data": source,
            **data_info,
            "device": "cpu",
            "threads": torch.get_num_threads(),
            "samples": len(samples),
            "mean_sample_tokens": round(sum(len(s.input_ids) for s in samples) / len(samples), 1),
            "batch_rows": batch,
            "max_seq_length": max_len,
            "epochs": epochs,
            **figures,
            # CPU time of this one-thread process: what other processes on a shared machine take
            # does not count against either side (on a quiet machine it equals the wall time).
            "packing_over_padding": round(figures["packing"]["effective_tokens_per_cpu_s"] / padded_cpu, 2),
            "packing_over_padding_wall": round(
                figures["packing"]["effective_tokens_per_s"] / figures["padding"]["effective_tokens_per_s"], 2
            ),
            "packing_over_padding_per_epoch": per_epoch,
            # What removing the padding alone would give at an equal cost per token, and the cost
            # per token (all tokens, pad included) of the packed path against the padded one.
            "padding_removal_bound": round(
                (1 - figures["packing"]["pad_fraction"]) / (1 - figures["padding"]["pad_fraction"]), 2
            ),
            "per_token_speedup": round(
                figures["packing"]["all_tokens_per_cpu_s"] / figures["padding"]["all_tokens_per_cpu_s"], 2
            ),
            "packing_sdpa_block_mask_over_padding": round(
                figures["packing_sdpa_block_mask"]["effective_tokens_per_cpu_s"] / padded_cpu, 2
            ),
            "flattening_sdpa_over_padding": round(
                figures["flattening_sdpa"]["effective_tokens_per_cpu_s"] / padded_cpu, 2
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
