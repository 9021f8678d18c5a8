"""Many LoRA adapters on one base model, chosen per request, never merged.

PEFT's multi-adapter model does the work: the first adapter wraps the base in a `PeftModel`, later
ones are `load_adapter(path, adapter_name=...)`, a request runs under `set_adapter(name)` or, for
the base, under `disable_adapter()`. Every change to the model and every generation hold the same
lock (the runner's), so switching adapters between requests is safe and a load waits for the
generation in progress.

Like vLLM, the registered adapters (name -> path) and the resident ones are apart: at most
`max_loras` live in the model at once; a request for a registered adapter that is not resident
loads it again from its path, evicting the least recently used one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from crucible.tgidev.adapters import (
    AdapterError,
    AdapterInfo,
    check_adapter_config,
    check_weights_fit,
    read_adapter_config,
    read_adapter_weights,
)


class AdapterConflict(AdapterError):
    """A name already taken, or not registered: vLLM's `InvalidUserInput` / `NotFoundError`."""

    error_type = "InvalidUserInput"


class UnknownAdapter(AdapterError):
    status = 404
    error_type = "NotFoundError"


class LoadedAdapters:
    def __init__(
        self,
        base_model: Any,
        *,
        served_names: list[str],
        lock: threading.Lock,
        max_loras: int = 4,
        max_lora_rank: int = 16,
    ) -> None:
        if max_loras < 1 or max_lora_rank < 1:
            raise ValueError("max_loras and max_lora_rank must be at least 1")
        self.base_model = base_model
        self.model: Any = base_model
        self.served_names = served_names
        self.lock = lock
        self.max_loras = max_loras
        self.max_lora_rank = max_lora_rank
        self.registered: dict[str, AdapterInfo] = {}
        self._resident: OrderedDict[str, None] = OrderedDict()

    def names(self) -> list[str]:
        return list(self.registered)

    def __contains__(self, name: object) -> bool:
        return name in self.registered

    def resident(self) -> list[str]:
        return list(self._resident)

    def validate(self, name: str, path: Path) -> tuple[AdapterInfo, dict[str, Any]]:
        """The checks that need no lock: files, config, base, rank, and weights read completely."""
        config = read_adapter_config(name, path)
        info = check_adapter_config(name, path, config, served_names=self.served_names, max_rank=self.max_lora_rank)
        return info, read_adapter_weights(name, path)

    def load(self, name: str, path: str | Path, *, inplace: bool = False) -> AdapterInfo:
        """Register and load `name`; with `inplace`, replace an adapter of that name (vLLM's
        `load_inplace`), which keeps answering from its old files if the new ones fail."""
        if not name or not str(path):
            raise AdapterConflict("Both 'lora_name' and 'lora_path' must be provided.")
        if name in self.served_names or name == "tgi":
            raise AdapterConflict(f"'{name}' names the base model; give the adapter another lora_name.")
        if name in self.registered and not inplace:
            raise self._duplicate(name)
        info, weights = self.validate(name, Path(path))
        with self.lock:
            previous = self.registered.get(name)
            if previous is not None and not inplace:  # a concurrent load of the same name won
                raise self._duplicate(name)
            # Under the lock: PEFT swaps the base's modules while adapters load.
            check_weights_fit(name, weights, self.base_model)
            if previous is not None and name in self._resident:
                self._evict(name)
            try:
                self._make_resident(info)
            except AdapterError:
                if previous is not None:
                    self._make_resident(previous)
                raise
            self.registered[name] = info
        return info

    def unload(self, name: str) -> None:
        if not name:
            raise AdapterConflict("'lora_name' needs to be provided to unload a LoRA adapter.")
        with self.lock:
            if name not in self.registered:
                raise UnknownAdapter(f"The lora adapter '{name}' cannot be found.")
            if name in self._resident:
                self._evict(name)
            del self.registered[name]

    @contextmanager
    def active(self, name: str | None) -> Iterator[Any]:
        """The model with `name` (or the base, for None) switched on. Call with the lock held."""
        if name is None:
            with self.model.disable_adapter() if self.model is not self.base_model else nullcontext():
                yield self.model
            return
        info = self.registered.get(name)
        if info is None:
            raise UnknownAdapter(f"The model `{name}` does not exist.")
        if name in self._resident:
            self._resident.move_to_end(name)
        else:
            self._make_resident(info)
        self.model.set_adapter(name)
        yield self.model

    def _duplicate(self, name: str) -> AdapterConflict:
        return AdapterConflict(
            f"The lora adapter '{name}' has already been loaded. "
            "If you want to load the adapter in place, set 'load_inplace' to True."
        )

    def _make_resident(self, info: AdapterInfo) -> None:
        """Load `info` into the PEFT model (lock held); on failure the model is as it was."""
        from peft import PeftModel

        while len(self._resident) >= self.max_loras:
            self._evict(next(iter(self._resident)))
        try:
            if self.model is self.base_model:
                self.model = PeftModel.from_pretrained(
                    self.base_model, str(info.path), adapter_name=info.name, is_trainable=False
                )
            else:
                self.model.load_adapter(str(info.path), adapter_name=info.name, is_trainable=False)
        except Exception as exc:
            self._drop_partial(info.name)
            raise AdapterError(f"Loading lora {info.name} failed: {exc}") from exc
        self.model.eval()
        self._resident[info.name] = None

    def _evict(self, name: str) -> None:
        self._resident.pop(name, None)
        if not self._resident:
            # The last adapter out: take the LoRA layers out of the base, back to the plain model.
            self.model = self.model.unload()
            self.model.eval()
        else:
            self.model.delete_adapter(name)

    def _drop_partial(self, name: str) -> None:
        """Undo a load that failed half-way, so the adapters already there answer as before."""
        if self.model is not self.base_model and name in self.model.peft_config:
            if self._resident:
                self.model.delete_adapter(name)
            else:
                self.model = self.model.unload()
        if self.model is self.base_model:
            _strip_lora_layers(self.base_model)


def _strip_lora_layers(model: Any) -> None:
    """Put each module a failed `PeftModel(...)` wrapped back to the base layer it wrapped."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer) and name:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
