"""The recipe as a plain list of stages (datatrove's ``examples/fineweb.py`` lists its steps the same way):

    kg -> synth -> split -> public -> model -> validator -> refine -> cot -> base -> sft -> grpo1 -> grpo2
    -> eval -> report

``fleming.io.run_stages`` runs them: each writes its own folder with ``stats.json`` and a done marker
holding the fingerprint of its config chained to every earlier stage's, so a re-run skips finished
stages, a changed config re-runs that stage and the ones after it, and a killed stage resumes in place.
Mining happens inside ``grpo2`` (each round re-mines with the newest model).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from fleming.io import Stage


def sections(cfg) -> dict[str, Any]:
    """Every stage's own config object, built (and so validated) before any stage runs."""
    from fleming.config import build as b
    from fleming.errors import ConfigError
    out: dict[str, Any] = {"refine": _refine_probe(cfg)}
    where = cfg.source
    if cfg.cot.get("enabled", True):
        from fleming.cot.config import CotConfig

        out["cot"] = b(CotConfig, _without(cfg.cot, "enabled"), "cot", where)
    if cfg.sft.get("enabled", True) or cfg.base.get("enabled", False) or cfg.validator.enabled:
        from fleming.train.sft import SFTSection
    if cfg.sft.get("enabled", True):
        out["sft"] = b(SFTSection, _without(cfg.sft, "enabled"), "sft", where)
    if cfg.base.get("enabled", False):
        out["base"] = b(SFTSection, _without(cfg.base, "enabled"), "base", where)
    if cfg.validator.enabled:
        out["validator"] = b(SFTSection, cfg.validator.sft, "validator.sft", where)
    if cfg.grpo.get("enabled", True):
        from fleming.train.grpo import GRPOSection

        out["grpo"] = b(GRPOSection, _without(cfg.grpo, "enabled"), "grpo", where)
    if not cfg.model.get("path"):
        from fleming.train.pretrain import PretrainConfig

        extra = set(cfg.model) - {"pretrain"}
        if extra:
            raise ConfigError(f"{where}: model.{sorted(extra)[0]}: unknown key; expected path or pretrain")
        out["model"] = b(PretrainConfig, cfg.model.get("pretrain"), "model.pretrain", where)
    return out


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in (key, "accelerate")}


def _refine_probe(cfg):
    from fleming.pipeline.data import refine_config

    return refine_config(cfg, Path(cfg.out), "http://127.0.0.1:1/v1" if cfg.validator.enabled else None)


def stages(cfg, root: Path) -> list[Stage]:
    """The run's stages, in order, each bound to ``cfg`` and ``root``."""
    from fleming.pipeline import data, evaluate, seeds, train
    from fleming.report import write_report

    kg = data.kg_dir(cfg, root)
    on = {"sft": cfg.sft.get("enabled", True), "grpo1": _grpo_on(cfg, 1), "grpo2": _grpo_on(cfg, 2)}
    start = partial(train.start_model, cfg, root, enabled=on)
    c = cfg

    def st(name: str, fn, config: Any, enabled: bool = True) -> Stage:
        return Stage(name, fn, {"seed": c.seed, "section": config}, enabled)

    return [
        st("kg", lambda d: data.run_kg(c, root, d), c.kg,
           c.kg.enabled and (not c.kg.dir or c.kg.slice is not None)),
        st("synth", lambda d: data.run_synth(c, root, d), c.synth, c.synth.enabled),
        st("split", lambda d: data.run_split(c, root, d), c.split),
        st("public", lambda d: data.run_public(c, root, d), c.public, c.public.enabled),
        st("model", lambda d: train.run_model(c, root, d, kg), c.model, not c.model.get("path")),
        st("validator", lambda d: train.run_validator(c, root, d, kg), c.validator, c.validator.enabled),
        st("refine", lambda d: data.run_refine(c, root, d), c.refine),
        st("cot", lambda d: train.run_cot_stage(c, root, d, kg), c.cot, c.cot.get("enabled", True)),
        st("base", lambda d: train.run_base(c, root, d), c.base, c.base.get("enabled", False)),
        st("sft", lambda d: train.run_sft(c, root, d, start("sft")), c.sft, on["sft"]),
        st("grpo1", lambda d: train.run_grpo1(c, root, d, start("grpo1")), _grpo(c, 1), on["grpo1"]),
        st("grpo2", lambda d: train.run_grpo2(c, root, d, start("grpo2")), _grpo(c, 2), on["grpo2"]),
        st("eval", lambda d: evaluate.run_eval(c, root, d, kg), c.eval, c.eval.enabled),
        st("rl_seeds", lambda d: seeds.run_rl_seeds(c, root, d, kg), {"seeds": c.seeds, "grpo": c.grpo},
           bool(c.seeds.rl) and c.eval.enabled and on["sft"] and on["grpo1"] and on["grpo2"]),
        st("report", lambda d: write_report(c, root, d), {"always": True}),
    ]


def _grpo(cfg, stage: int) -> dict[str, Any]:
    """The part of the GRPO section a stage depends on: stage 1 not on mining or stage 2's settings."""
    drop = ("stage2", "mining") if stage == 1 else ()
    return {"stage": stage, **{k: v for k, v in cfg.grpo.items() if k not in drop}}


def _grpo_on(cfg, stage: int) -> bool:
    if not cfg.grpo.get("enabled", True):
        return False
    return bool((cfg.grpo.get(f"stage{stage}") or {}).get("enabled", True))
