"""Verification of search winners: extract, quantize, fine-tune and evaluate on the test split."""
