"""KG-guided multiple-choice question synthesis (RODS §3.1): long-tail topological sampling, masking,
verified relation-preserving distractors, rendering and provenance. Entry point: ``run.synthesize``
(``fleming synth``); question types in ``templates``, wording in ``packs/<language>.yaml``.

Departures from the paper: path templates are explicit and configurable (the paper samples subgraphs
without saying how); "consistent with every observed fact" is a checked definition (features closed
over is_a) and every item is verified before it is written; rendering is template-first, with the LLM
paraphrase optional and checked; every item carries its subgraph and reasoning path.

The numba kernels (prims, masking, distractors, verify, kernel) are compiled once and cached next to
the sources; ``_numba_cache_guard`` clears that cache when any of them changes, since numba only checks
the file of the function it loads, not the files of the functions it calls.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_KERNEL_MODULES = ("prims", "masking", "distractors", "verify", "kernel", "sampler", "jsonl")


def _numba_cache_guard() -> None:
    here = Path(__file__).parent
    h = hashlib.sha256()
    for m in _KERNEL_MODULES:
        h.update((here / f"{m}.py").read_bytes())
    cache = here / "__pycache__"
    stamp = cache / "synth-kernels.sha256"
    try:
        if stamp.is_file() and stamp.read_text() == h.hexdigest():
            return
        cache.mkdir(exist_ok=True)
        for f in cache.iterdir():
            if f.suffix in (".nbi", ".nbc") and f.name.split(".")[0] in _KERNEL_MODULES:
                f.unlink(missing_ok=True)
        stamp.write_text(h.hexdigest())
    except OSError:        # read-only install: numba falls back to its user-wide cache
        pass


_numba_cache_guard()
