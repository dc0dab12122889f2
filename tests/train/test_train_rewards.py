"""GRPO rewards: TRL's signature, picklable, per-completion (no group statistics), on the shared grader."""

from __future__ import annotations

import pickle

from fleming.train.rewards import Correctness, Format, Grounding, RewardConfig, make_reward_funcs

OPTS = ["Marfan syndrome", "Noonan syndrome", "Turner syndrome"]
GOOD = "<think>Webbed neck fits Turner syndrome.</think>\n<answer>C</answer>"
WRONG = "<think>Tall stature.</think>\n<answer>A</answer>"
UNFORMATTED = "The answer is C."
CUT = "<think>Webbed neck fits"


def test_correctness_and_format_score_each_completion():
    completions = [GOOD, WRONG, UNFORMATTED, CUT]
    options, answer = [OPTS] * 4, [["C"]] * 4
    assert Correctness()(completions, options=options, answer=answer) == [1.0, 0.0, 1.0, 0.0]
    assert Format()(completions, options=options, answer=answer) == [1.0, 1.0, 0.0, 0.0]


def test_no_group_statistics_a_split_batch_scores_the_same():
    completions = [GOOD, WRONG, UNFORMATTED, CUT, GOOD, WRONG]
    options, answer = [OPTS] * 6, [["C"]] * 6
    whole = Correctness()(completions, options=options, answer=answer)
    halves = (Correctness()(completions[:3], options=options[:3], answer=answer[:3])
              + Correctness()(completions[3:], options=options[3:], answer=answer[3:]))
    assert whole == halves


def test_think_opened_by_the_template():
    done = "Webbed neck.</think><answer>C</answer>"
    assert Format(think_opened=True)([done]) == [1.0]
    assert Format()([done]) == [0.0]
    cut = ["Webbed neck, the answer is C"]  # the template opened <think> and it never closed
    assert Correctness(think_opened=True)(cut, options=[OPTS], answer=[["C"]]) == [0.0]


def test_rewards_pickle_and_keep_their_names():
    funcs, weights = make_reward_funcs(RewardConfig(correctness=1.0, format=0.5), think_opened=True)
    back = [pickle.loads(pickle.dumps(f)) for f in funcs]
    assert [f.__name__ for f in back] == ["correctness", "format"] and weights == [1.0, 0.5]
    assert back[1].think_opened is True


def test_grounding_is_opt_in_and_checks_the_chosen_option_text():
    funcs, weights = make_reward_funcs(RewardConfig(process_reward=True, process_weight=0.25))
    assert [f.__name__ for f in funcs] == ["correctness", "format", "grounding"] and weights[-1] == 0.25
    misquoted = "<think>Webbed neck fits Noonan.</think>\n<answer>C</answer>"
    assert Grounding()([GOOD, misquoted, UNFORMATTED], options=[OPTS] * 3) == [1.0, 0.0, 0.0]
