"""One ZeRO-2 training step on CPU through DeepSpeed's gloo backend, in a subprocess with the
launcher's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) as `deepspeed`
or `torchrun` would set it. The first run compiles DeepSpeed's CPU ops (about a minute); they
are cached in the venv's TORCH_EXTENSIONS_DIR so later runs are fast."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import json, sys
from pathlib import Path
from transformers import TrainerCallback
from crucible.common.config import Settings, load_policy
from crucible.common.runtime import Runtime
from crucible.trainer.policy import TrainerPolicy
from crucible.trainer.job import run_job
from crucible.trainer.request import TrainRequest

home, train, val = map(Path, sys.argv[1:4])
seen = {}

class Inspect(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        seen["optimizer"] = type(kw.get("optimizer")).__name__
        seen["zero_stage"] = args.hf_deepspeed_config.config["zero_optimization"]["stage"]
        import torch.distributed as dist
        seen["backend"] = dist.get_backend()

policy = load_policy(None, {"trainer": TrainerPolicy})
rt = Runtime.create(Settings(home=home, log_json=False), policy=policy)
out = run_job(rt, TrainRequest("ds-job", train_file=train, val_file=val, deepspeed="zero2",
              overrides={"max_steps": "1", "checkpoint_every_steps": "1", "max_seq_length": "128"}),
              lambda n, m: None, callbacks=[Inspect()])
print("RESULT " + json.dumps({"outcome": out.as_dict(), "seen": seen}, default=str))
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crucible.trainer.tiny import TinySpec, build_tiny_model, tiny_corpus

    path = tmp_path_factory.mktemp("tiny") / "tiny-base"
    texts, chats = tiny_corpus(None)
    build_tiny_model(path, texts, TinySpec(pretrain_steps=20), chats=chats)
    return path


@pytest.fixture
def splits(tmp_path: Path) -> tuple[Path, Path]:
    from crucible.trainer.corpus import coaching_dialogues

    out = []
    for split, n in (("train", 16), ("val", 4)):
        path = tmp_path / f"{split}.chat.jsonl"
        path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in coaching_dialogues(n, seed=len(split))))
        out.append(path)
    return out[0], out[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_one_zero2_step_on_cpu_with_gloo(tmp_path: Path, tiny_model: Path, splits) -> None:
    import shutil

    home = tmp_path / "home"
    shutil.copytree(tiny_model, home / "models" / "tiny-base")
    env = os.environ | {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "OMP_NUM_THREADS": "1",
        "TORCH_EXTENSIONS_DIR": os.environ.get("TORCH_EXTENSIONS_DIR", str(Path(sys.prefix) / "torch_extensions")),
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(home), str(splits[0]), str(splits[1])],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=540,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["outcome"]["status"] == "succeeded", result["outcome"]["reason"]
    assert result["outcome"]["metrics"]["global_step"] == 1
    assert result["seen"]["zero_stage"] == 2
    assert result["seen"]["backend"] == "gloo"
    assert "Zero" in result["seen"]["optimizer"] or "DeepSpeed" in result["seen"]["optimizer"], result["seen"]
    assert (home / "artifacts" / "models" / result["outcome"]["model_name"] / "adapter").is_dir()
