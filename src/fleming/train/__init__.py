"""Training: the tiny-model builder (and, from other modules, SFT, rewards, GRPO and curriculum)."""
