"""The plateau callback's three rules, on logged metrics shaped like TRL's."""

from __future__ import annotations

from fleming.train.plateau import PlateauCallback, PlateauConfig, slope


def _log(reward, zero=0.0, c_std=0.4, f_std=0.4):
    return {"reward": reward, "reward_std": 0.5, "frac_reward_zero_std": zero,
            "rewards/correctness/std": c_std, "rewards/format/std": f_std}


def _feed(cb, logs):
    for step, logs_ in enumerate(logs, start=1):
        reason = cb.observe(logs_, step)
        if reason:
            return step, reason
    return None, None


CFG = PlateauConfig(window=4, min_steps=6, max_zero_std=0.8, min_func_std=0.05, min_slope=0.01, patience=2)


def test_a_rising_reward_never_stops():
    step, _ = _feed(PlateauCallback(CFG), [_log(0.1 * i) for i in range(30)])
    assert step is None


def test_sparse_groups_stop_the_stage():
    logs = [_log(0.1 * i) for i in range(6)] + [_log(1.0, zero=0.9)] * 6
    step, reason = _feed(PlateauCallback(CFG), logs)
    assert reason.startswith("zero_std") and step == 10  # window mean at step 9: (0 + 3 x 0.9) / 4 < 0.8


def test_every_function_std_small_stops_even_if_the_sum_varies():
    logs = [_log(0.1 * i) for i in range(6)] + [_log(0.6 + 0.1 * i, c_std=0.0, f_std=0.01) for i in range(8)]
    step, reason = _feed(PlateauCallback(CFG), logs)
    assert reason.startswith("func_std") and step == 10


def test_a_flat_reward_stops_after_patience_but_not_before_min_steps():
    step, reason = _feed(PlateauCallback(CFG), [_log(0.5)] * 12)
    assert reason.startswith("slope") and step == 7  # min_steps 6: flat at 6 and 7 -> patience 2


def test_slope():
    assert slope([0.0, 0.5, 1.0, 1.5]) == 0.5
