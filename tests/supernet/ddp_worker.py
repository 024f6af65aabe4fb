"""What ``torchrun`` runs in test_distributed: ``python -m apq ARGS``, plus a dump of each rank's view.

Usage: ``torchrun ... tests/supernet/ddp_worker.py DUMP_DIR supernet --preset smoke``. After
training, every rank saves ``DUMP_DIR/rank<R>.pt``: its supernet state, its teacher logits and
the batch share it trained on at each step (batch size, first, end, loss weight).
"""
import os
import runpy
import sys
from pathlib import Path

import torch

from apq.supernet.train import ProgressiveShrinking

DUMP, RANK = Path(sys.argv[1]), os.environ["RANK"]
SHARES: list[tuple] = []
_run, _my_share = ProgressiveShrinking.run, ProgressiveShrinking._my_share


def run_and_dump(self, *args, **kwargs):
    _run(self, *args, **kwargs)
    torch.save({"state": self.net.state_dict(), "teacher_logits": self.teacher_logits, "shares": SHARES},
               DUMP / f"rank{RANK}.pt")


def recorded_share(self, batch):
    mine, weight = _my_share(self, batch)
    SHARES.append((batch, mine.start, mine.stop, weight))
    return mine, weight


ProgressiveShrinking.run, ProgressiveShrinking._my_share = run_and_dump, recorded_share
sys.argv = ["apq", *sys.argv[2:]]
runpy.run_module("apq", run_name="__main__", alter_sys=True)
