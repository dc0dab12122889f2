"""Stage-2 mining: pools, the Right : Wrong mix with its fallback, dynamic sampling, and the accounting."""

from __future__ import annotations

import json

import pytest

from fleming.config import build
from fleming.records import MCQ, Metadata
from fleming.train.grpo import GRPOSection
from fleming.train.mining import MiningConfig, MixFilter, mix, pools


def _row(i, correct, k=8, level="Moderate", rewards=None):
    return {"id": f"q{i}", "difficulty": level, "k": k, "errors": 0, "correct": correct,
            "pass_rate": correct / k, "rewards": rewards if rewards is not None else [0.0, 1.0]}


def test_pools_by_pass_rate():
    rows = [_row(0, 8), _row(1, 0), _row(2, 1), _row(3, 4), {**_row(4, 0), "k": 0, "pass_rate": None}]
    assert pools(rows, hard_max_pass=0.125) == {"easy": ["q0"], "normal": ["q3"], "hard": ["q1", "q2"]}


def test_mix_one_to_two_from_the_pools():
    rows = [_row(i, 8) for i in range(10)] + [_row(10 + i, 0) for i in range(12)] + [_row(30, 6)]
    chosen, rep = mix(rows, MiningConfig(right_wrong="1:2"), seed=0)
    assert rep["pools"] == {"easy": 10, "normal": 1, "hard": 12}
    assert rep["achieved"] == {"right": 6, "wrong": 12, "right_from_easy": 6, "right_from_fallback": 0,
                               "ratio": "6:12"}
    assert sum(v == "wrong" for v in chosen.values()) == 12 and not rep["fallback_used"]


def test_fallback_fills_right_with_the_most_often_right_normal_items():
    rows = ([_row(0, 8)] + [_row(10 + i, 0) for i in range(8)]
            + [_row(20, 7), _row(21, 5), _row(22, 4), _row(23, 2)])
    chosen, rep = mix(rows, MiningConfig(right_wrong="1:2", hard_max_pass=0.125), seed=0)
    # wrong: 8 hard + q23 (pass 0.25 < 0.5) = 9 -> right wanted round(4.5) = 4 (Python rounds half to even)
    assert rep["asked"]["right"] == 4 and rep["achieved"]["wrong"] == 9
    right = sorted(k for k, v in chosen.items() if v == "right")
    assert right == ["q0", "q20", "q21", "q22"] and rep["achieved"]["right_from_fallback"] == 3
    assert rep["fallback_used"] and rep["short_of_right"] == 0


def test_difficult_items_come_first_among_hard_ones_under_a_cap():
    rows = ([_row(i, 0, level="Moderate") for i in range(6)]
            + [_row(10 + i, 0, level="Difficult") for i in range(3)])
    chosen, _ = mix(rows, MiningConfig(right_wrong="1:2", max_items=6), seed=1)
    assert {k for k, v in chosen.items() if v == "wrong"} >= {"q10", "q11", "q12"}
    assert sum(v == "wrong" for v in chosen.values()) == 4


def test_dynamic_sampling_drops_zero_variance_items_and_the_filter_accounts_for_all():
    rows = [_row(0, 8, rewards=[2.0] * 8), _row(1, 0, rewards=[1.0] * 8), _row(2, 0, rewards=[0.0, 1.0]),
            _row(3, 3, rewards=[0.0, 2.0]), _row(4, 0, rewards=[0.0, 1.0])]
    mcfg = MiningConfig(dynamic_sampling=True, right_wrong="1:2")
    chosen, rep = mix(rows, mcfg, seed=0)
    assert "q0" not in chosen and "q1" not in chosen
    recs = [MCQ(id=r["id"], source="s", split="train", question="q?", options={"A": "x", "B": "y"},
                answer=["A"], metadata=Metadata(difficulty="Moderate")) for r in rows]
    recs.append(recs[0].model_copy(update={"id": "q9"}))  # never scored
    f = MixFilter(chosen, rows, mcfg)
    kept = list(f.run(recs))
    assert f.stats.reconciles() and len(kept) == len(chosen)
    assert f.stats.dropped["zero_variance"] == 2 and f.stats.dropped["mining_error"] == 1


@pytest.mark.slow
def test_mine_with_the_tiny_model_persists_pools_and_uses_the_cache(tiny_model_dir, tmp_path):
    from fleming.train.mining import mine

    cfg = build(GRPOSection, {"out": str(tmp_path), "mining": {"backend": "hf", "k": 3, "max_tokens": 8,
                                                               "batch": 16}}, "", "t.yaml")
    recs = [MCQ(id=f"q{i}", source="s", split="train", question=f"Finding {i}?",
                options={"A": "Marfan syndrome", "B": "Noonan syndrome"}, answer=["AB"[i % 2]],
                metadata=Metadata(difficulty="Moderate")) for i in range(6)]
    stats = mine(cfg, tiny_model_dir, recs, tmp_path / "round-1", 1, log=lambda s: None)
    assert stats["rollouts"] == 18 and stats["reconciles"] and stats["backend"] == "hf"
    pool = json.loads((tmp_path / "round-1" / "pools.json").read_text())
    assert pool["round"] == 1 and pool["model"] == str(tiny_model_dir)
    assert sum(len(pool[k]) for k in ("easy", "normal", "hard")) == 6
    scores = [json.loads(x) for x in (tmp_path / "round-1" / "scores.jsonl").read_text().splitlines()]
    assert all(s["k"] == 3 and len(s["rewards"]) == 3 for s in scores)
    again = mine(cfg, tiny_model_dir, recs, tmp_path / "round-1b", 1, log=lambda s: None)
    again_scores = (tmp_path / "round-1b" / "scores.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in again_scores] == scores
    assert again["seconds"] < stats["seconds"]  # every rollout came from the cache


@pytest.mark.slow
def test_mine_scores_a_seeded_pool_and_counts_the_rest_as_not_scored(tiny_model_dir, tmp_path):
    from fleming.train.mining import mine

    def cfg(seed):
        return build(GRPOSection, {"out": str(tmp_path / f"s{seed}"), "seed": seed, "mining": {
            "backend": "hf", "k": 2, "max_tokens": 8, "batch": 16, "pool": 4}}, "", "t.yaml")

    recs = [MCQ(id=f"q{i}", source="s", split="train", question=f"Finding {i}?",
                options={"A": "Marfan syndrome", "B": "Noonan syndrome"}, answer=["AB"[i % 2]],
                metadata=Metadata(difficulty="Moderate")) for i in range(10)]
    picked = {}
    for seed in (0, 1):
        out = tmp_path / f"s{seed}" / "round-1"
        stats = mine(cfg(seed), tiny_model_dir, recs, out, 1, log=lambda s: None)
        scores = (out / "scores.jsonl").read_text().splitlines()
        picked[seed] = {json.loads(x)["id"] for x in scores}
        assert stats["rollouts"] == 8 and len(picked[seed]) == 4 and stats["reconciles"]
        f = stats["filter"]
        assert f["in"] == 10 and f["drop_reasons"]["not_in_scored_pool"] == 6
        assert f["kept"] + f["dropped"] == 10
    assert picked[0] != picked[1]          # the pool is drawn with the GRPO seed
