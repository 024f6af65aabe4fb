"""Accuracy predictors: an fp32 MLP, transferred to a quantization-aware MLP (APQ), and baselines."""
