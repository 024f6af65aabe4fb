"""Fixed reference workload: a host-speed yardstick that stage times are divided by.

    .venv/bin/python bench/reference.py [--repeats 1]

Hosts here differ 2-2.7x in speed (the same pipeline took 32 min on one and 77 min on another),
so a stage time alone does not say whether a change made the pipeline faster. This workload is
the same on every host: :data:`TRAIN_STEPS` Adam steps of a fixed small conv net (the kind of
ops the stages run: 3x3 and depthwise convs, batch norm, ReLU6, fp32, channels-last) on fixed
seeded random 28x28 images, then one evaluation pass over :data:`EVAL_IMAGES` images, in this
process with torch's default thread count (as the supernet stage runs). Its wall seconds are
the unit ``bench/pipeline.py`` reports every stage in (``in_reference_units``). Nothing here
learns anything useful; only its time matters, and it is the same computation on every run.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

SEED = 0
TRAIN_STEPS = 300  # ~25 s alone on a 2-core host of this project, with the evaluation pass.
TRAIN_BATCH = 128
EVAL_IMAGES = 8192
EVAL_BATCH = 512
IMAGES = 4096  # distinct random training images, cycled


def reference_net() -> nn.Module:
    """A fixed MobileNetV2-like conv net for 1x28x28 input, 10 classes (about 60k parameters)."""

    def conv(cin, cout, k, stride=1, groups=1):
        return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]

    layers = [*conv(1, 16, 3), *conv(16, 64, 1), *conv(64, 64, 3, 2, 64), *conv(64, 32, 1),
              *conv(32, 128, 1), *conv(128, 128, 5, 2, 128), *conv(128, 64, 1), *conv(64, 256, 1)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


def reference_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random images (IMAGES, 1, 28, 28) float32, channels-last, and labels (IMAGES,) int64."""
    gen = torch.Generator().manual_seed(SEED)
    x = torch.randn(IMAGES, 1, 28, 28, generator=gen).contiguous(memory_format=torch.channels_last)
    return x, torch.randint(0, 10, (IMAGES,), generator=gen)


def run_reference(steps: int = TRAIN_STEPS, eval_images: int = EVAL_IMAGES) -> dict:
    """Run the workload once; wall seconds of the training steps, the evaluation pass and both.

    Returns ``{"train_s", "eval_s", "seconds", "steps", "eval_images", "threads", "final_loss"}``
    (``final_loss``: the last step's cross-entropy, the same on every run of one torch build).
    """
    torch.manual_seed(SEED)
    x, y = reference_tensors()
    net = reference_net().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    started = time.perf_counter()
    net.train()
    for step in range(steps):
        start = (step * TRAIN_BATCH) % IMAGES
        xb, yb = x[start:start + TRAIN_BATCH], y[start:start + TRAIN_BATCH]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        optimizer.step()
    trained = time.perf_counter()
    net.eval()
    with torch.inference_mode():
        for start in range(0, eval_images, EVAL_BATCH):
            index = torch.arange(start, min(start + EVAL_BATCH, eval_images)) % IMAGES
            net(x[index]).argmax(dim=1)
    done = time.perf_counter()
    return {"train_s": round(trained - started, 3), "eval_s": round(done - trained, 3),
            "seconds": round(done - started, 3), "steps": steps, "eval_images": eval_images,
            "threads": torch.get_num_threads(), "final_loss": round(float(loss.detach()), 4) if steps else None}


def time_reference(repeats: int = 1) -> dict:
    """The workload ``repeats`` times; ``seconds`` is the fastest run (least disturbed by other load)."""
    runs = [run_reference() for _ in range(max(1, repeats))]
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "runs_s": [r["seconds"] for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="runs; the fastest one is reported")
    print(json.dumps(time_reference(parser.parse_args().repeats)))


if __name__ == "__main__":
    main()
