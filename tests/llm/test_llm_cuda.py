"""The CUDA path of the hf backend and `fleming serve` (runs only where a GPU is present).

On CPU-only machines (CI) these tests skip; the lead runs them on the lent GPU machine.
"""

from __future__ import annotations

import pytest

from fleming.llm import SamplingParams, make_backend

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CONVS = [[{"role": "user", "content": t}] for t in (
    "Which drug treats hypothyroidism?", "Short stature and delayed bone age: diagnosis?",
    "yes or no?", "Hypoplasia of the corpus callosum " * 5, "患者，男，45岁，胸痛2小时。")]


def test_hf_backend_runs_on_cuda_and_batches_like_single(tiny_model_dir):
    hf = make_backend("hf", str(tiny_model_dir), device="cuda", batch_size=8)
    assert hf.gen.model.device.type == "cuda"
    params = SamplingParams(temperature=0.0, max_tokens=24)
    batched = [c[0].text for c in hf.generate(CONVS, params, progress=False)]
    single = [hf.generate([c], params, progress=False)[0][0].text for c in CONVS]
    assert batched == single
    assert all(batched)


def test_bf16_on_cuda_generates(tiny_model_dir):
    hf = make_backend("hf", str(tiny_model_dir), device="cuda", dtype="bfloat16")
    assert hf.gen.model.dtype == torch.bfloat16
    out = hf.generate(CONVS[:2], SamplingParams(temperature=0.7, max_tokens=16, n=3, seed=1), progress=False)
    assert [len(o) for o in out] == [3, 3] and all(c.completion_tokens > 0 for o in out for c in o)


def test_served_on_cuda_matches_hf_backend(tiny_model_dir, serve_app):
    from fleming.llm.hf import HFGenerator
    from fleming.llm.server import create_app

    app = create_app(HFGenerator(tiny_model_dir, device="cuda"), "tiny", max_batch=8)
    with serve_app(app) as url:
        params = SamplingParams(temperature=0.0, max_tokens=24)
        served = [c[0].text for c in make_backend("openai", "tiny", base_url=url).generate(
            CONVS, params, progress=False)]
        local = [c[0].text for c in make_backend("hf", str(tiny_model_dir), device="cuda").generate(
            CONVS, params, progress=False)]
        assert served == local
