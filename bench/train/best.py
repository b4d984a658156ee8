"""The run's best validation point, kept so that it can be tested: the
convention of pytorch/examples' word_language_model and awd-lstm-lm, which
test the weights of the best validation epoch, not the last ones.

The weights are copied to the host at each new best (between epochs, off the
training clock) and live in the trainer's state, so a checkpoint saves them
and a resumed run keeps its best point. Cost: one host copy of the model
(params + buffers, fp32) and a copy each time validation improves.
"""

from __future__ import annotations

import math
import time


def update(st: dict, model, ppl: float) -> None:
    """After a validation point with perplexity `ppl` (already on st["curve"]):
    remember it and copy the weights when it beats every earlier point."""
    best = st.get("best_point")
    if not math.isfinite(ppl) or (best is not None and ppl >= best["valid_ppl"]):
        return
    t0 = time.perf_counter()
    st["best_weights"] = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    st["best_copy_s"] = st.get("best_copy_s", 0.0) + time.perf_counter() - t0
    st["best_point"] = {"step": st["step"], "epoch": st["epoch"], "seconds": st["curve"][-1][1], "valid_ppl": ppl}


def test_at_best(st: dict, model, test_final: float | None, score) -> tuple[dict, object]:
    """Metrics of the best point (its step, epoch, seconds and valid ppl, and
    the test ppl of its weights) and what else `score()` gave for them.
    `score()` -> (test ppl, extra) runs with the best weights loaded, then the
    final weights are put back; when the best point is the last one it is not
    called: the final figure is the best's and extra is None."""
    best, weights = st.get("best_point"), st.get("best_weights")
    if best is None or weights is None:
        return {}, None
    out = {"best_step": best["step"], "best_epoch": best["epoch"], "best_seconds": best["seconds"],
           "best_copy_s": st.get("best_copy_s", 0.0),
           "best_weights_mb": sum(t.numel() * t.element_size() for t in weights.values()) / 2**20}
    last = st["curve"][-1] if st["curve"] else None
    if test_final is None or (last is not None and last[0] == best["step"] and last[2] == best["valid_ppl"]):
        return {**out, "test_ppl_best": test_final}, None
    final = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(weights)
    try:
        test, extra = score()
    finally:
        model.load_state_dict(final)
    return {**out, "test_ppl_best": test if math.isfinite(test) else None}, extra
