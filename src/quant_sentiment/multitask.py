"""One shared encoder, one classification head per task (issue 22, the core).

:class:`MultiTaskModel` is a ``transformers.PreTrainedModel``: any encoder that
``AutoModel`` builds (BERT from scratch, MiniLM, a hub id) pooled into one vector per
text (``pooling``: masked ``mean`` of the last hidden states, or the ``cls`` token),
then one linear head per task of the registry (:mod:`quant_sentiment.tasks`):
``single_label`` heads give class logits (softmax), ``multi_label`` heads one logit
per class (sigmoid).

``forward`` returns a dict with the combined ``loss`` (when labels are given) and
``logits__<task>`` per task, in task order (the Trainer's prediction tuple follows it).
Labels come as ``labels__<task>``: class ids with :data:`~quant_sentiment.tasks.MASKED`
(-100) for a row without that task (single_label); a 0/1 matrix with -100 entries for
masked rows (multi_label). A masked row adds nothing to its head's loss or gradient.

The per-task losses and their weighting live in ``config.loss`` (saved with the model):

- ``tasks.<task>``: ``kind`` (``cross_entropy`` / ``focal``; for multi_label the
  binary forms), ``focal_gamma``, ``class_weights`` (a list, e.g. from
  ``training.class_weights``; for multi_label the positive-class weights);
- ``weighting``: ``fixed`` (``sum_t w_t L_t`` with ``task_weights``, default 1 each)
  or ``uncertainty`` (Kendall, Gal & Cipolla 2018, classification form:
  ``sum_t exp(-s_t) L_t + s_t / 2`` with learned ``s_t = log sigma_t^2``, the
  parameter ``log_vars``; a task absent from a batch adds nothing).

``save_pretrained`` / ``from_pretrained`` round-trip the encoder, the heads, the
learned ``log_vars`` and the config (the encoder's config, tasks with their class
names, pooling and loss settings).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel

from quant_sentiment.tasks import KINDS, MASKED, SINGLE

WEIGHTINGS = ("fixed", "uncertainty")
POOLINGS = ("mean", "cls")
LOSS_KINDS = ("cross_entropy", "focal")


class MultiTaskConfig(PretrainedConfig):
    """The encoder's config (``encoder``, a dict), the ``tasks`` (name, kind,
    labels, metric), ``pooling``, ``head_dropout`` and ``loss`` (module docstring)."""

    model_type = "quant_sentiment_multitask"

    def __init__(
        self,
        encoder: dict[str, Any] | None = None,
        tasks: list[dict[str, Any]] | None = None,
        pooling: str = "mean",
        head_dropout: float = 0.1,
        loss: dict[str, Any] | None = None,
        **kwargs,
    ) -> None:
        self.encoder = dict(encoder or {})
        self.tasks = [dict(t) for t in tasks or []]
        self.pooling = pooling
        self.head_dropout = float(head_dropout)
        self.loss = dict(loss or {"weighting": "fixed"})
        super().__init__(**kwargs)
        if self.tasks:
            check_config(self)

    def encoder_config(self) -> PretrainedConfig:
        """The encoder's ``transformers`` config."""
        settings = dict(self.encoder)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)

    def task(self, name: str) -> dict[str, Any]:
        """The definition of task ``name``."""
        return next(t for t in self.tasks if t["name"] == name)


def check_config(config: MultiTaskConfig) -> None:
    """Stop on a bad multi-task setting, naming it (``multitask.<key>``).

    Raises:
        ValueError: For no tasks, an unknown kind / pooling / weighting / loss kind,
            class weights of the wrong length, or weights for unknown tasks.
    """
    names = [t["name"] for t in config.tasks]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"multitask.tasks must name distinct tasks, got {names}")
    for task in config.tasks:
        if task["kind"] not in KINDS:
            raise ValueError(
                f"multitask.tasks.{task['name']}.kind must be one of {list(KINDS)}"
            )
    if config.pooling not in POOLINGS:
        raise ValueError(f"multitask.pooling must be one of {list(POOLINGS)}")
    loss = config.loss
    if loss.get("weighting", "fixed") not in WEIGHTINGS:
        raise ValueError(
            f"multitask.loss.weighting must be one of {list(WEIGHTINGS)}, got "
            f"{loss.get('weighting')!r}"
        )
    for key in ("task_weights", "tasks"):
        unknown = sorted(set(loss.get(key) or {}) - set(names))
        if unknown:
            raise ValueError(
                f"multitask.loss.{key} names unknown task(s) {unknown}; tasks: {names}"
            )
    for name, cfg in (loss.get("tasks") or {}).items():
        kind = cfg.get("kind", "cross_entropy")
        if kind not in LOSS_KINDS:
            raise ValueError(
                f"multitask.loss.tasks.{name}.kind must be one of {list(LOSS_KINDS)}, "
                f"got {kind!r}"
            )
        weights = cfg.get("class_weights")
        if weights is not None and len(weights) != len(config.task(name)["labels"]):
            raise ValueError(
                f"multitask.loss.tasks.{name}.class_weights has {len(weights)} "
                f"values for {len(config.task(name)['labels'])} classes"
            )


class MultiTaskModel(PreTrainedModel):
    """Shared encoder + one head per task (module docstring)."""

    config_class = MultiTaskConfig
    base_model_prefix = "multitask"
    # The loss is a per-example mean per task: the Trainer scales it for
    # gradient accumulation itself (no num_items_in_batch).
    accepts_loss_kwargs = False
    _no_split_modules: list[str] = []

    def __init__(self, config: MultiTaskConfig) -> None:
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder_config())
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(config.head_dropout)
        self.heads = nn.ModuleDict(
            {t["name"]: nn.Linear(hidden, len(t["labels"])) for t in config.tasks}
        )
        self.log_vars = nn.Parameter(
            torch.zeros(len(config.tasks)),
            requires_grad=config.loss.get("weighting") == "uncertainty",
        )
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module) -> None:
        if isinstance(module, nn.Linear) and any(
            module is h for h in self.heads.values()
        ):
            std = getattr(self.encoder.config, "initializer_range", 0.02)
            module.weight.normal_(mean=0.0, std=std)
            module.bias.zero_()
        elif isinstance(module, MultiTaskModel):
            module.log_vars.zero_()
        else:
            self.encoder._init_weights(module)

    @classmethod
    def from_encoder(
        cls, encoder, tasks: list[dict[str, Any]], **settings
    ) -> MultiTaskModel:
        """A model whose encoder is ``encoder`` (its weights copied; e.g. a
        pretrained ``AutoModel``) with new heads for ``tasks``; ``settings`` are
        :class:`MultiTaskConfig` keywords (``pooling``, ``loss``, ...)."""
        config = MultiTaskConfig(
            encoder=encoder.config.to_dict(), tasks=tasks, **settings
        )
        model = cls(config)
        model.encoder.load_state_dict(encoder.state_dict())
        return model

    # ------------------------------------------------------------- forward
    def pooled(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """One vector per text: masked mean of the last hidden states, or [CLS]."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**inputs).last_hidden_state
        if self.config.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def task_logits(
        self, input_ids, attention_mask, token_type_ids=None
    ) -> dict[str, torch.Tensor]:
        """``{task: logits}`` in task order."""
        pooled = self.dropout(self.pooled(input_ids, attention_mask, token_type_ids))
        return {name: head(pooled) for name, head in self.heads.items()}

    def forward(
        self, input_ids=None, attention_mask=None, token_type_ids=None, **labels
    ) -> dict[str, torch.Tensor]:
        """``{"loss"?, "logits__<task>", ...}``; ``labels``: ``labels__<task>``."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        logits = self.task_logits(input_ids, attention_mask, token_type_ids)
        out = {f"logits__{name}": value for name, value in logits.items()}
        given = {
            name: labels[f"labels__{name}"]
            for name in logits
            if labels.get(f"labels__{name}") is not None
        }
        if not given:
            return out
        losses = {
            name: self.task_loss(name, logits[name], y) for name, y in given.items()
        }
        if all(loss is None for loss in losses.values()):
            # every row masked for every task: a zero loss that still backpropagates
            return {"loss": sum(v.sum() for v in logits.values()) * 0.0, **out}
        return {"loss": self.combine(losses), **out}

    # ------------------------------------------------------------- losses
    def task_loss(self, name: str, logits, labels) -> torch.Tensor | None:
        """The masked loss of one head (``None`` when every row is masked)."""
        task = self.config.task(name)
        cfg = (self.config.loss.get("tasks") or {}).get(name) or {}
        weights = cfg.get("class_weights")
        weights = None if weights is None else logits.new_tensor(weights)
        logits = logits.float()
        if task["kind"] == SINGLE:
            keep = labels != MASKED
            if not keep.any():
                return None
            return _single_loss(logits[keep], labels[keep].long(), cfg, weights)
        keep = (labels != MASKED).all(dim=-1)
        if not keep.any():
            return None
        return _multi_loss(logits[keep], labels[keep].float(), cfg, weights)

    def loss_weights(self) -> dict[str, float]:
        """Each task's current weight: ``task_weights`` (fixed) or ``exp(-s_t)``
        (uncertainty)."""
        names = [t["name"] for t in self.config.tasks]
        if self.config.loss.get("weighting") == "uncertainty":
            return dict(zip(names, torch.exp(-self.log_vars).tolist(), strict=True))
        fixed = self.config.loss.get("task_weights") or {}
        return {name: float(fixed.get(name, 1.0)) for name in names}

    def combine(self, losses: dict[str, torch.Tensor | None]) -> torch.Tensor:
        """The weighted sum of the present tasks' losses (module docstring)."""
        names = [t["name"] for t in self.config.tasks]
        uncertainty = self.config.loss.get("weighting") == "uncertainty"
        fixed = self.config.loss.get("task_weights") or {}
        total = self.log_vars.new_zeros(())
        for name, loss in losses.items():
            if loss is None:
                continue
            if uncertainty:
                s = self.log_vars[names.index(name)]
                total = total + torch.exp(-s) * loss + 0.5 * s
            else:
                total = total + float(fixed.get(name, 1.0)) * loss
        return total


def _single_loss(logits, labels, cfg: dict[str, Any], weights) -> torch.Tensor:
    """Cross-entropy or focal over the kept rows (``training``'s loss registry)."""
    from quant_sentiment.training import make_loss

    kind = cfg.get("kind", "cross_entropy")
    func = make_loss(
        {"kind": kind, "focal_gamma": cfg.get("focal_gamma", 2.0)}, weights
    )
    if func is None:  # plain cross-entropy
        return F.cross_entropy(logits, labels)
    return func({"logits": logits}, labels)


def _multi_loss(logits, targets, cfg: dict[str, Any], pos_weight) -> torch.Tensor:
    """Binary cross-entropy (or sigmoid focal, Lin et al. 2017) over the kept rows."""
    bce = F.binary_cross_entropy_with_logits(
        logits, targets, pos_weight=pos_weight, reduction="none"
    )
    if cfg.get("kind", "cross_entropy") == "focal":
        p = torch.sigmoid(logits)
        p_t = p * targets + (1 - p) * (1 - targets)
        bce = bce * (1 - p_t) ** float(cfg.get("focal_gamma", 2.0))
    return bce.mean()


def multitask_model(
    encoder_source, tasks: list[dict[str, Any]], **settings
) -> MultiTaskModel:
    """A multi-task model on ``encoder_source``: a folder or hub id (``AutoModel``)
    or an encoder config (a new, randomly initialised encoder, e.g. scratch BERT)."""
    if isinstance(encoder_source, PretrainedConfig):
        config = MultiTaskConfig(
            encoder=encoder_source.to_dict(), tasks=tasks, **settings
        )
        return MultiTaskModel(config)
    return MultiTaskModel.from_encoder(
        AutoModel.from_pretrained(str(encoder_source)), tasks, **settings
    )


def head_names(config: MultiTaskConfig) -> list[str]:
    """The task names in head order (the order of the outputs)."""
    return [t["name"] for t in config.tasks]


def multitask_from_source(
    source: str,
    tasks: list[dict[str, Any]],
    train_texts: list[str],
    scratch: dict[str, Any] | None = None,
    revision: str | None = None,
    **settings,
) -> tuple[MultiTaskModel, Any]:
    """``(model, tokenizer)`` from a ``finetune.model`` source, as
    ``modeling.load_model_source`` does for one task: a hub id or folder (its
    encoder's pretrained weights, its tokenizer) or ``scratch`` (a new small BERT
    and a WordPiece tokenizer trained on ``train_texts``)."""
    from quant_sentiment.modeling import SCRATCH, build_scratch_model

    if source == SCRATCH:
        first = tasks[0]["labels"]
        classifier, tokenizer = build_scratch_model(
            train_texts, {label: i for i, label in enumerate(first)}, scratch or {}
        )
        return MultiTaskModel.from_encoder(
            classifier.bert, tasks, **settings
        ), tokenizer
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        encoder = AutoModel.from_pretrained(source, revision=revision)
    except OSError as exc:
        raise OSError(
            f"Could not load model source '{source}': {exc}\nHub ids need network "
            f"access (or a filled Hugging Face cache); offline, use a local folder "
            f"or `scratch`."
        ) from exc
    return MultiTaskModel.from_encoder(encoder, tasks, **settings), tokenizer
