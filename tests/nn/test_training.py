"""The shared checkpointed step loop: saves on Ctrl-C only between steps."""
import pytest
from tqdm import tqdm

from apq.nn.training import run_checkpointed


def _loop(interrupt_in: str, at: int) -> tuple[list[int], int]:
    state, saved = {"step": 0}, []

    def train_step():
        if interrupt_in == "step" and state["step"] == at:
            raise KeyboardInterrupt  # mid-step: weights and counter may disagree
        state["step"] += 1
        return 0.5, 90.0

    def after_step():
        if interrupt_in == "after" and state["step"] == at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_checkpointed(lambda: state["step"] < 10, train_step, after_step, lambda: saved.append(state["step"]),
                         tqdm(total=10, disable=True))
    return saved, state["step"]


def test_ctrl_c_between_steps_saves_the_steps_done():
    assert _loop("after", 3) == ([3], 3)


def test_ctrl_c_inside_a_step_saves_nothing():
    assert _loop("step", 3) == ([], 3)


def test_the_loop_runs_every_remaining_step():
    state = {"step": 4}

    def train_step():
        state["step"] += 1
        return 0.1, 99.0

    run_checkpointed(lambda: state["step"] < 10, train_step, lambda: None, lambda: None, tqdm(total=10, disable=True))
    assert state["step"] == 10
