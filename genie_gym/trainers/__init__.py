"""World-model training loops: tokenizer, LAM, dynamics; DDP under torchrun."""
