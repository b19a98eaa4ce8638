"""Batched prediction with a sequence classifier, shared by the pipelines."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def length_sorted_batches(texts: Sequence[str], batch_size: int):
    """Yield index arrays of ``texts`` in batches of similar character length.

    Batching similar lengths keeps dynamic padding small; callers write results back
    by index, so the output order is the input order.
    """
    order = np.argsort([len(t) for t in texts], kind="stable")
    for start in range(0, len(texts), batch_size):
        yield order[start : start + batch_size]


def predict_logits(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int | None,
    batch_size: int = 64,
    show_progress: bool = True,
) -> np.ndarray:
    """Return the logits (``float32``, shape ``[n, num_labels]``) for ``texts``.

    ``max_length`` is the model's (``params:model`` / its manifest); ``None``
    truncates at the tokenizer's own limit.

    Texts are batched by similar length (small dynamic padding), and the result is
    returned in the input order.
    """
    import torch
    from tqdm.auto import tqdm

    texts = list(texts)
    if not texts:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    model.eval()
    batches = length_sorted_batches(texts, batch_size)
    total = -(-len(texts) // batch_size)
    with torch.inference_mode():
        for idx in tqdm(
            batches, total=total, desc="predict", disable=not show_progress, leave=False
        ):
            enc = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            enc = {k: v.to(model.device) for k, v in enc.items()}
            out[idx] = model(**enc).logits.float().cpu().numpy()
    return out


def predictions_frame(
    frame: pd.DataFrame, logits: np.ndarray, id2label: dict[int, str]
) -> pd.DataFrame:
    """Attach predictions to a split: ``pred_id``, ``pred_label``, ``prob_<label>``.

    Args:
        frame: The split (``text``, ``label``, ``label_id`` and any other columns).
        logits: Logits in the row order of ``frame``.
        id2label: Label names by id.
    """
    from scipy.special import softmax

    probs = softmax(logits, axis=1)
    out = frame.reset_index(drop=True).copy()
    out["pred_id"] = logits.argmax(axis=1)
    out["pred_label"] = out["pred_id"].map(id2label)
    for i in sorted(id2label):
        out[f"prob_{id2label[i]}"] = probs[:, i].round(6)
    return out
