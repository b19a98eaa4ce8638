"""Word attributions of one classifier on one text, toward one class.

Every method returns one score per word (:mod:`.words`); a positive score means the
word raises the probability of the target class.

- :func:`occlusion` (any ``Classifier``): the drop of the target probability when
  the word is left out; all leave-one-out texts go through ``predict_logits`` as one
  batch.
- :func:`lime_scores` (any ``Classifier``): LIME's local linear surrogate
  (``lime.lime_text``, words removed per position, fixed seed and sample count).
- :func:`integrated_gradients` (PyTorch ``transformers`` models): Captum's
  ``LayerIntegratedGradients`` on the input-embedding layer toward the target
  probability, from a baseline that replaces every non-special token by the padding
  token; sub-word scores are summed per word; Captum's convergence delta is returned.
  Only for the formats listed in the parameters (``hf``: FP32, FP16, BF16, QAT models
  before conversion; ``hf_multitask``).

A multi-task model is explained head by head, each head as a
:class:`~quant_sentiment.heads.HeadView`: the target is one class of that head and
its probability the head's softmax (single_label) or that class's own sigmoid
(multi_label), so every method applies to both kinds of head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from quant_sentiment.heads import HeadView

from .words import join_words, split_words, token_scores_to_words

#: Attribution methods by name (``explain.methods`` in parameters_explain.yml).
INTEGRATED_GRADIENTS = "integrated_gradients"
OCCLUSION = "occlusion"
LIME = "lime"
METHODS = (INTEGRATED_GRADIENTS, OCCLUSION, LIME)


def probabilities(clf: Any, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Class probabilities ``[n, num_labels]``: one head's own
    (:class:`quant_sentiment.heads.HeadView`: softmax, or a sigmoid per class for a
    multi_label head), else the softmax of ``predict_logits``."""
    from scipy.special import softmax

    if isinstance(clf, HeadView):
        return clf.probabilities(list(texts), batch_size=batch_size)
    logits = clf.predict_logits(list(texts), batch_size=batch_size)
    return softmax(np.asarray(logits, dtype=np.float64), axis=1)


def occlusion(
    clf: Any, words: Sequence[str], target: int, batch_size: int
) -> np.ndarray:
    """Leave-one-word-out: ``p(target | text) - p(target | text without word i)``."""
    words = list(words)
    texts = [join_words(words)] + [
        join_words(words[:i] + words[i + 1 :]) for i in range(len(words))
    ]
    p = probabilities(clf, texts, batch_size)[:, target]
    return p[0] - p[1:]


def lime_scores(
    clf: Any,
    words: Sequence[str],
    target: int,
    params: dict[str, Any],
    batch_size: int,
) -> np.ndarray:
    """LIME weights of every word position toward ``target``.

    Args:
        params: ``explain.lime``: ``num_samples`` (perturbed texts per text),
            ``seed`` (the explainer's random state, the same for every text).
    """
    from lime.lime_text import LimeTextExplainer

    explainer = LimeTextExplainer(
        split_expression=split_words,
        bow=False,  # one feature per word position, as the other methods
        mask_string="",  # a removed word is left out, as in occlusion
        feature_selection="none",
        random_state=int(params["seed"]),
    )
    explanation = explainer.explain_instance(
        join_words(words),
        lambda texts: probabilities(clf, texts, batch_size),
        labels=(target,),
        num_features=len(words),
        num_samples=int(params["num_samples"]),
    )
    out = np.zeros(len(words), dtype=np.float64)
    for index, weight in explanation.as_map()[target]:
        out[index] = weight
    return out


def supports_gradients(clf: Any, fmt: str, formats: list[str]) -> bool:
    """Whether Integrated Gradients applies: a PyTorch ``transformers`` model of one
    of ``formats`` (``explain.attribution.integrated_gradients.formats``; torchao
    and bitsandbytes models are PyTorch too, but their quantized embeddings and
    Linears are not differentiable)."""
    model = getattr(clf, "model", None)
    return fmt in formats and hasattr(model, "get_input_embeddings")


def _forward(clf: Any):
    """``(p(input_ids, attention_mask), input-embedding layer)`` of a PyTorch
    classifier: one head's probabilities for a :class:`HeadView` (a multi-task
    model's head: softmax or sigmoid), else the softmax of the model's logits."""
    import torch

    if isinstance(clf, HeadView):
        return clf.torch_probabilities, clf.input_embeddings()
    model = clf.model

    def target_probabilities(input_ids, attention_mask):
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        return torch.softmax(logits.float(), dim=-1)

    return target_probabilities, model.get_input_embeddings()


def _encode(clf: Any, text: str):
    """Token ids, attention mask, offsets and the all-padding baseline of ``text``."""
    import torch

    tokenizer = clf.tokenizer
    enc = tokenizer(
        text,
        truncation=True,
        max_length=clf.max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    ids = enc["input_ids"]
    special = enc["special_tokens_mask"].bool()
    baseline = torch.where(special, ids, torch.full_like(ids, tokenizer.pad_token_id))
    return ids, enc["attention_mask"], enc["offset_mapping"][0].tolist(), baseline


def integrated_gradients(
    clf: Any, words: Sequence[str], target: int, params: dict[str, Any]
) -> tuple[np.ndarray, float]:
    """Integrated Gradients of ``p(target)`` on the input embeddings, per word.

    Args:
        clf: A loaded ``hf`` variant (``.model``, ``.tokenizer``, ``.max_length``).
        params: ``explain.integrated_gradients``: ``n_steps``, ``method`` (Captum's
            integral approximation), ``internal_batch_size``.

    Returns:
        Word scores (they sum to ``p(x) - p(baseline) - delta``) and Captum's
        convergence delta.
    """
    from captum.attr import LayerIntegratedGradients

    target_probabilities, embeddings = _forward(clf)
    ids, mask, offsets, baseline = _encode(clf, join_words(words))
    lig = LayerIntegratedGradients(target_probabilities, embeddings)
    attributions, delta = lig.attribute(
        ids,
        baselines=baseline,
        target=int(target),
        additional_forward_args=(mask,),
        n_steps=int(params["n_steps"]),
        method=params["method"],
        internal_batch_size=int(params["internal_batch_size"]),
        return_convergence_delta=True,
    )
    token_scores = attributions.sum(dim=-1)[0].detach().float().numpy()
    return token_scores_to_words(offsets, token_scores, words), float(delta.item())
