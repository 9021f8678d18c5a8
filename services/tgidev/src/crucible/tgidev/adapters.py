"""LoRA adapters for one served base: how they are named at start, and what makes one loadable.

Everything here runs before the served model is touched, so a bad adapter is refused with a clear
reason while the adapters already loaded keep answering. The checks, in order:

1. the folder and its `adapter_config.json` exist (else `AdapterNotFound`, HTTP 404 like vLLM's
   `LoRAAdapterNotFoundError`);
2. it is a LoRA adapter (`peft_type` "LORA");
3. its base is the served base. The one rule: the last path component of the adapter's
   `base_model_name_or_path` equals the last path component of the served base's folder or of its
   served name (`/models/tiny-base`, `tiny-base` and `org/tiny-base` all name `…/tiny-base`). A
   folder moved between machines or pulled from the artifact store keeps its name; a hub id keeps
   its last part. Two different bases that share a name are still caught by step 5;
4. its rank (largest of `r` and `rank_pattern`) is at most `--max-lora-rank`;
5. `adapter_model.safetensors` (or `adapter_model.bin`) reads completely, and every LoRA matrix
   fits the base module it targets (a truncated file or another base's shapes fail here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


class AdapterError(ValueError):
    """A refused adapter: `status` and `error_type` are what vLLM answers for the same case."""

    status = 400
    error_type = "BadRequestError"


class AdapterNotFound(AdapterError):
    status = 404
    error_type = "NotFoundError"


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    path: Path
    rank: int
    base: str


def parse_lora_adapters(text: str) -> list[tuple[str, str]]:
    """TGI's `LORA_ADAPTERS` syntax: comma-separated `id` or `name=path`; an id names itself."""
    out: list[tuple[str, str]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if sep and (not name or not path):
            raise ValueError(f"bad adapter entry {item!r}: expected `name=path` or a path")
        out.append((name, path) if sep else (item, item))
    names = [name for name, _ in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"adapter names given twice: {', '.join(duplicates)}")
    return out


def same_base(adapter_base: str, served_names: list[str]) -> bool:
    """The module docstring's rule: compare last path components."""
    wanted = _last_component(adapter_base)
    return bool(wanted) and wanted in {_last_component(n) for n in served_names}


def _last_component(name: str) -> str:
    return Path(str(name).rstrip("/\\")).name


def read_adapter_config(name: str, path: Path) -> dict[str, Any]:
    config_file = path / "adapter_config.json"
    if not path.is_dir() or not config_file.is_file():
        raise AdapterNotFound(f"Loading lora {name} failed: No adapter found for {path}")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise AdapterError(f"Loading lora {name} failed: {config_file} is not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise AdapterError(f"Loading lora {name} failed: {config_file} is not a JSON object")
    return config


def adapter_rank(config: dict[str, Any]) -> int:
    ranks = [int(config.get("r") or 0)] + [int(v) for v in (config.get("rank_pattern") or {}).values()]
    return max(ranks)


def check_adapter_config(
    name: str, path: Path, config: dict[str, Any], *, served_names: list[str], max_rank: int
) -> AdapterInfo:
    """Steps 2-4 of the module docstring, on an already-read `adapter_config.json`."""
    peft_type = str(config.get("peft_type") or "")
    if peft_type.upper() != "LORA":
        raise AdapterError(f"Loading lora {name} failed: {path} is a {peft_type or 'non-PEFT'} adapter, not LoRA")
    base = str(config.get("base_model_name_or_path") or "")
    if not same_base(base, served_names):
        raise AdapterError(
            f"Loading lora {name} failed: adapter was trained on base {base or '(unset)'!r}, "
            f"this server serves {served_names[0]!r}"
        )
    rank = adapter_rank(config)
    if rank < 1:
        raise AdapterError(f"Loading lora {name} failed: adapter_config.json has no positive rank `r`")
    if rank > max_rank:
        raise AdapterError(f"LoRA rank {rank} is greater than max_lora_rank {max_rank}.")
    return AdapterInfo(name=name, path=path, rank=rank, base=base)


def read_adapter_weights(name: str, path: Path) -> dict[str, Any]:
    """The adapter's tensors, read completely (so a truncated or corrupt file fails here)."""
    for filename in WEIGHT_FILES:
        weights = path / filename
        if weights.is_file():
            break
    else:
        raise AdapterNotFound(f"Loading lora {name} failed: No adapter found for {path} (no {WEIGHT_FILES[0]})")
    try:
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            tensors = load_file(str(weights))
        else:
            import torch

            tensors = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors and torch raise several types for a damaged file
        raise AdapterError(f"Loading lora {name} failed: {weights} is unreadable ({exc})") from exc
    if not isinstance(tensors, dict) or not tensors:
        raise AdapterError(f"Loading lora {name} failed: {weights} holds no tensors")
    return tensors


def check_weights_fit(name: str, tensors: dict[str, Any], base_model: Any) -> None:
    """Every `lora_A`/`lora_B` matrix must target a linear module of the base with matching sizes."""
    modules = dict(base_model.named_modules())
    for key, tensor in tensors.items():
        for part, dim in ((".lora_A.", 1), (".lora_B.", 0)):
            if part not in key:
                continue
            module_name = key.split(part)[0].removeprefix("base_model.model.")
            module = modules.get(module_name)
            if module is None:
                raise AdapterError(f"Loading lora {name} failed: it targets {module_name!r}, which the base lacks")
            size = getattr(module, "in_features" if dim == 1 else "out_features", None)
            if size is not None and (tensor.ndim != 2 or int(tensor.shape[dim]) != int(size)):
                raise AdapterError(
                    f"Loading lora {name} failed: {key} has shape {tuple(tensor.shape)}, "
                    f"which does not fit {module_name} ({module.in_features}->{module.out_features}) of the base"
                )
