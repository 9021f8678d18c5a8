"""The trainer: LoRA/QLoRA fine-tuning of a causal LM on a dataset version (issue 7)."""
