"""Training for ViFailback models: LoRA SFT (the paper's recipe), full fine-tuning, merging, the tiny model."""
