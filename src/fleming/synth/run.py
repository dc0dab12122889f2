"""``fleming synth``: synthesize N verified items from a KG directory, in parallel, deterministically.

Item slots 0, 1, 2, ... are processed in fixed-size chunks; a slot's question type and attempt seeds
depend only on (seed, slot), and chunks are merged in slot order, so the output is the same for any
number of workers. The first N distinct items in slot order are kept (a later duplicate of an earlier
item is dropped with its reason). Workers are forked after the index is built and the kernel compiled,
so they share the KG arrays copy-on-write.

``stats.json`` (``fleming.steps.Stats`` layout plus distributions): attempts in, items kept, drop
reasons, attempts per item, and the distributions over question types, hops and rarity deciles, the
latter beside what uniform sampling of the same types' anchors would give.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from fleming.errors import ConfigError, FlemingError
from fleming.io import sha256_file, write_json
from fleming.kg.store import KG, META
from fleming.steps import Stats
from fleming.synth.evidence import KINDS
from fleming.synth.items import ItemBuilder, Lookup
from fleming.synth.kernel import REASONS, Kernel, slot_uniforms
from fleming.synth.render import load_pack
from fleming.synth.sampler import SynthIndex
from fleming.synth.templates import SynthConfig

DUPLICATE = "duplicate of an earlier item"
PILOT_SLOT = 1 << 40          # pilot slots are numbered from here: never an item slot


class Synthesizer:
    """Index + kernel + item builders for one KG and config; ``chunk(c)`` makes slots of chunk c."""

    def __init__(self, kg: KG, cfg: SynthConfig, seed: int):
        self.kg, self.cfg, self.seed = kg, cfg, seed
        self.index = SynthIndex(kg, cfg)
        if not self.index.plans:
            why = "; ".join(f"{k}: {v}" for k, v in self.index.unsupported.items())
            raise FlemingError(f"no question type of the config can be made from {kg.path}: {why}")
        self.pack = load_pack(cfg.language, cfg.packs)
        missing = [t for t in self.index.plans if not self.pack.questions.get(t)]
        if missing:
            raise ConfigError(f"template pack {cfg.language!r}: field 'questions.{missing[0]}': missing")
        self.kernel = Kernel(self.index)
        self.acceptance = self._pilot()
        self.names = list(self.index.plans)
        w = np.array([self.index.plans[t].qt.weight for t in self.names])
        self.cum = np.cumsum(w / w.sum())
        self.lookup = Lookup(kg, cfg.provenance_records)
        meta = kg.path / META if kg.path else None
        info = {"kg": str(kg.path), "kg_build": sha256_file(meta)[:16] if meta and meta.is_file() else None,
                "seed": seed}
        self.builders = {t: ItemBuilder(kg, p, self.pack, info, self.index.degree, self.lookup,
                                         self.index.graph.histo)
                         for t, p in self.index.plans.items()}
        self.seen: set = set()   # keys of items this process built: a later slot with one is a duplicate

    def _pilot(self) -> dict[str, float]:
        """Each type's acceptance (accepted / attempts) on ``pilot_slots`` slots of their own (numbered
        from 2**40, never item slots); types under ``min_acceptance`` are moved to ``unsupported``: a
        slot of such a type would mostly burn ``max_attempts`` attempts and give up. Deterministic for
        a KG, config and seed, so the output still does not depend on the worker count."""
        cfg, idx = self.cfg, self.index
        if not cfg.pilot_slots:
            return {}
        slots = np.arange(PILOT_SLOT, PILOT_SLOT + cfg.pilot_slots, dtype=np.int64)
        rates = {}
        for name in list(idx.plans):
            out = self.kernel.run(name, slots, self.seed)
            rate = rates[name] = round(int((out.status == 0).sum()) / int(out.attempts.sum()), 4)
            if rate < cfg.min_acceptance:
                del idx.plans[name]
                idx.unsupported[name] = (f"{rate:.1%} of attempts succeed in a {cfg.pilot_slots}-slot pilot "
                                         f"(min_acceptance {cfg.min_acceptance:.0%})")
        if not idx.plans:
            why = "; ".join(f"{k}: {v}" for k, v in idx.unsupported.items())
            raise FlemingError(f"no question type of the config can be made from {self.kg.path}: {why}")
        return rates

    def warm_up(self) -> None:
        """Compile (or load) the kernel before forking, and read the lazily loaded columns."""
        for t in self.names:
            self.kernel.run(t, np.arange(2, dtype=np.int64), self.seed)
        self.lookup.tables()

    def slot_types(self, slots: np.ndarray) -> np.ndarray:
        u = slot_uniforms(np.uint64(self.seed % (1 << 64)), slots)
        return np.minimum(np.searchsorted(self.cum, u, side="right"), len(self.names) - 1)

    def chunk(self, c: int) -> list[tuple]:
        """Per slot of chunk c: (slot, type, attempts, {reason: n} | None, JSON line (bytes) | None,
        drop | None, key, decile)."""
        cs = self.cfg.chunk_size
        slots = np.arange(c * cs, (c + 1) * cs, dtype=np.int64)
        types = self.slot_types(slots)
        gc_was = gc.isenabled()
        gc.disable()                       # many small acyclic dicts: the cycle collector only costs time
        try:
            runs = [self._run(name, ti, slots[types == ti]) for ti, name in enumerate(self.names)
                    if (types == ti).any()]
            self.lookup.prepare([(r[3], r[6]) for r in runs])       # bulk look-ups for the whole chunk
            rows = [row for r in runs for row in self._rows(*r)]
        finally:
            if gc_was:
                gc.enable()
        rows.sort(key=lambda r: r[0])
        return rows

    def _run(self, name: str, ti: int, slots: np.ndarray) -> tuple:
        """The kernel over one type's slots, the item keys, and which slots are known duplicates."""
        out = self.kernel.run(name, slots, self.seed)
        keys = _keys(ti, out, self.index.plans[name].qt.masked)
        # Slots are processed in increasing order in each process, so a key this process has already
        # built belongs to an earlier slot: the tally would drop the item, so it is not rendered at all.
        # (A key holds its type, so the builds of the chunk's other types cannot change this.)
        dup = np.array([k in self.seen for k in keys], dtype=bool)
        return name, ti, slots.tolist(), out, keys, dup, self.builders[name].accepted(out, dup)

    def _rows(self, name: str, ti: int, sl: list[int], out, keys: list[bytes], dup: np.ndarray,
              accepted: np.ndarray) -> list[tuple]:
        """The chunk rows of one type's slots (after ``Lookup.prepare``)."""
        builder, plan = self.builders[name], self.index.plans[name]
        attempts, status = out.attempts.tolist(), out.status.tolist()    # one conversion per batch
        deciles = plan.decile[np.maximum(builder.anchor_pos[out.anchor], 0)].tolist()
        why_att: list = [None] * len(sl)                 # per slot: {reason: n} of its failed attempts
        for i in np.flatnonzero(out.reasons.any(axis=1)).tolist():
            why_att[i] = {REASONS[k]: v for k, v in enumerate(out.reasons[i].tolist()) if v}
        built = builder.build_all(out, sl, accepted)                      # validated (else it raises)
        kinds = [tuple(k for j, k in enumerate(row[:n]) if j != p)        # per slot: its options' kinds
                 for row, n, p in zip(out.kind.tolist(), out.nopt.tolist(), out.ans_pos.tolist(),
                                      strict=True)]
        seen, rows = self.seen, []
        for i, (line, why) in enumerate(built):
            if line is None:
                drop = DUPLICATE if dup[i] and status[i] == 0 else why or None
                rows.append((sl[i], ti, attempts[i], why_att[i], None, drop, None, None, ()))
            else:
                seen.add(keys[i])
                rows.append((sl[i], ti, attempts[i], why_att[i], line, None, keys[i], deciles[i],
                             kinds[i]))
        return rows


def _keys(ti: int, out, masked: bool) -> list[bytes]:
    """Per slot, the item's identity as bytes: (type, answer, sorted observed nodes) for a masked
    anchor, else (type, answer, anchor); two slots with one key make the same item."""
    n = len(out.anchor)
    answers = out.opts[np.arange(n), out.ans_pos]
    if masked:
        inside = np.arange(out.obs.shape[1]) < out.nobs[:, None]
        rest = np.sort(np.where(inside, out.obs, np.iinfo(np.int64).max), axis=1)
    else:
        rest = out.anchor[:, None]
    k = np.ascontiguousarray(np.column_stack([np.full(n, ti), answers, rest]).astype(np.int64))
    return k.view(np.dtype((np.void, 8 * k.shape[1]))).ravel().tolist()


def _release_arrow_memory() -> None:
    """Hand the Arrow pool's freed pages (Parquet decoding, string kernels) back to the OS."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


_WORKER: Synthesizer | None = None   # set in the parent before forking; workers inherit it


def _run_chunk(c: int) -> list[tuple]:
    assert _WORKER is not None
    return _WORKER.chunk(c)


class _Tally:
    """Merges slot rows in order into the output file and the stats, up to n items."""

    def __init__(self, n: int, names: list[str], f):
        self.n, self.names, self.f = n, names, f
        self.stats = Stats("synth")
        self.keys: set = set()
        self.types: Counter = Counter()
        self.deciles: dict[str, Counter] = {t: Counter() for t in names}
        self.kinds: dict[str, Counter] = {t: Counter() for t in names}      # distractors per evidence kind
        self.weakest: dict[str, Counter] = {t: Counter() for t in names}    # items by their weakest kind
        self.attempts: Counter = Counter()
        self.slots_used = self.given_up = 0

    @property
    def done(self) -> bool:
        return self.stats.n_kept >= self.n

    def add(self, rows: list[tuple]) -> None:
        """The rows (of one chunk, in slot order) until n items are kept; their lines written at once."""
        st, keys, names, lines = self.stats, self.keys, self.names, []
        for _, ti, attempts, reasons, line, drop, key, decile, kinds in rows:
            if st.n_kept >= self.n:
                break
            name = names[ti]
            self.slots_used += 1
            self.attempts[name] += attempts
            st.n_in += attempts
            if reasons:
                st.dropped.update(reasons)
            if line is None:
                if drop is None:
                    self.given_up += 1
                else:
                    st.dropped[drop] += 1
            elif key in keys:
                st.dropped[DUPLICATE] += 1
            else:
                keys.add(key)
                st.n_kept += 1
                self.types[name] += 1
                self.deciles[name][decile] += 1
                self.kinds[name].update(KINDS[k] for k in kinds)
                self.weakest[name][KINDS[max(kinds, default=0)]] += 1
                lines.append(line)
        if lines:
            lines.append(b"")
            self.f.write(b"\n".join(lines))


def synthesize(kg_dir: str | Path, n: int, cfg: SynthConfig, seed: int, out_dir: str | Path,
               workers: int = 1, backend=None, samples: int = 0) -> dict:
    """Write ``out_dir/items.jsonl`` (n items, or fewer if the KG runs out) and ``out_dir/stats.json``
    (and ``samples.md`` with ``samples`` random rendered items); returns the stats. ``backend``: an LLM
    backend for the optional paraphrase (else built from cfg)."""
    global _WORKER
    if n < 1:
        raise ConfigError(f"--n must be >= 1, got {n}")
    t0 = time.perf_counter()
    kg = KG.load(kg_dir)
    synth = Synthesizer(kg, cfg, seed)
    synth.warm_up()
    _release_arrow_memory()
    t_index = time.perf_counter() - t0
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "items.jsonl"
    tmp = path.with_name(path.name + ".tmp")
    t1, c1 = time.perf_counter(), time.process_time()
    _WORKER = synth
    try:
        with open(tmp, "wb") as f:                      # streamed in slot order, renamed when complete
            tally = _Tally(n, synth.names, f)
            _generate(synth, tally, max(1, workers))
    finally:
        _WORKER = None
    t_synth, c_synth = time.perf_counter() - t1, time.process_time() - c1
    para = _paraphrase(tmp, cfg, backend) if cfg.paraphrase else None
    os.replace(tmp, path)
    stats = _stats(synth, tally, cfg, n, seed, workers, t_index, t_synth, para)
    stats["timing_s"]["synthesis_cpu_parent"] = round(c_synth, 3)     # this process only (not workers)
    write_json(out_dir / "stats.json", stats)
    if samples:
        from fleming.synth.render import samples_markdown

        lines = path.read_text(encoding="utf-8").splitlines()
        (out_dir / "samples.md").write_text(samples_markdown(lines, samples, seed), encoding="utf-8")
    return stats


def _generate(synth: Synthesizer, tally: _Tally, workers: int) -> None:
    cs, next_chunk, rate = synth.cfg.chunk_size, 0, 0.5
    fork = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(workers, mp_context=fork) if workers > 1 else None
    try:
        while not tally.done:
            need = tally.n - tally.stats.n_kept
            k = min(max(workers, math.ceil(need / max(rate, 0.01) / cs * 1.1)), 8 * workers)
            chunks = range(next_chunk, next_chunk + k)
            next_chunk += k
            before = tally.stats.n_kept
            results = pool.map(_run_chunk, chunks) if pool else map(synth.chunk, chunks)
            for rows in results:
                tally.add(rows)
            made = tally.stats.n_kept - before
            if made == 0:
                break                                    # the KG yields nothing more for this config
            rate = max(tally.stats.n_kept / max(tally.slots_used, 1), 0.01)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)


def _paraphrase(path: Path, cfg: SynthConfig, backend) -> dict:
    from fleming.synth.paraphrase import paraphrase_lines

    lines, counts = paraphrase_lines(path.read_text(encoding="utf-8").splitlines(), cfg.paraphrase, backend)
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return counts


def _shares(c: Counter, keys) -> dict:
    total = sum(c.values()) or 1
    return {str(k): round(c.get(k, 0) / total, 4) for k in keys}


def _stats(synth: Synthesizer, tally: _Tally, cfg: SynthConfig, n: int, seed: int, workers: int,
           t_index: float, t_synth: float, para: dict | None) -> dict:
    idx, kept = synth.index, tally.stats.n_kept
    deciles, uniform = Counter(), dict.fromkeys(range(1, 11), 0.0)
    for t, c in tally.deciles.items():
        deciles.update(c)
        share = tally.types[t] / kept if kept else 0.0
        for d, u in idx.uniform_deciles(t).items():
            uniform[d] += share * u
    hops: Counter = Counter()
    for t, c in tally.types.items():
        hops[idx.plans[t].qt.hops] += c
    items_share = _shares(deciles, range(1, 11))
    tail_items = sum(items_share[str(d)] for d in (1, 2, 3))
    tail_uniform = sum(uniform[d] for d in (1, 2, 3))
    return {
        "n_requested": n, "n_items": kept, "seed": seed, "workers": workers, "kg": str(synth.kg.path),
        "kg_nodes": synth.kg.n_nodes, "kg_edges": synth.kg.n_edges,
        "steps": tally.stats.to_dict(), "reconciles": tally.stats.reconciles(),
        "attempts_per_item": round(tally.stats.n_in / kept, 4) if kept else None,
        "slots": {"used": tally.slots_used, "given_up": tally.given_up},
        "question_types": dict(tally.types.most_common()),
        "attempts_per_item_by_type": {t: round(tally.attempts[t] / tally.types[t], 3)
                                      for t in tally.types},
        "hops": {str(h): c for h, c in sorted(hops.items())},
        "rarity_deciles": {"items": items_share, "uniform": {str(d): round(u, 4) for d, u in uniform.items()},
                           "rarest_30pct_items": round(tail_items, 4),
                           "rarest_30pct_uniform": round(tail_uniform, 4),
                           "rarest_30pct_ratio": round(tail_items / tail_uniform, 3)
                           if tail_uniform else None},
        "unsupported_types": idx.unsupported,
        "discriminators": _discriminators(tally),
        "pilot_acceptance": synth.acceptance,
        "eligible_anchors": {t: len(p.arrays.anchors) for t, p in idx.plans.items()},
        "paraphrase": para,
        "timing_s": {"load_and_index": round(t_index, 3), "synthesis": round(t_synth, 3),
                     "items_per_s": round(kept / t_synth, 1) if t_synth > 0 else None},
        "config": _config_dict(cfg),
    }


def _discriminators(tally: _Tally) -> dict:
    """Shares of distractors per open-world evidence kind (``evidence.KINDS``), overall and per type,
    and of items by the weakest kind among their distractors (asserted < pertinent < rich absence)."""
    kinds, weakest = Counter(), Counter()
    for t in tally.names:
        kinds.update(tally.kinds[t])
        weakest.update(tally.weakest[t])
    names = KINDS[1:]
    return {"distractors": _shares(kinds, names), "items_by_weakest": _shares(weakest, names),
            "by_type": {t: {"distractors": _shares(tally.kinds[t], names),
                            "items_by_weakest": _shares(tally.weakest[t], names)}
                        for t in tally.names if tally.types[t]}}


def _config_dict(cfg: SynthConfig) -> dict:
    d = asdict(cfg)
    d["question_types"] = {q["name"]: {k: v for k, v in q.items() if k != "name"}
                           for q in d["question_types"]}
    return d
