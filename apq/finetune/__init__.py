"""``apq finetune``: the verified winner trained further with quantization in the loop."""
