"""Several seeds in one command: ``quant-sentiment seeds --env=<env>``.

For each seed in ``multiseed.seeds`` a :class:`~kedro.framework.session.KedroSession`
runs ``multiseed.pipelines`` with every parameter of ``multiseed.seed_keys`` set to the
seed. Only the variants of ``multiseed.variants`` are produced and evaluated: the other
PTQ variants are disabled, and of ``evaluate`` only the chosen variants' namespaces
(``evaluate.<V>``, and their producer when it sits inside ``evaluate``, i.e. the
TF-IDF baseline) run. Each run is an ordinary ``kedro run``: versioned artifacts, and
an MLflow run tagged ``seed=<s>``. Each chosen variant's ``evaluate.<V>.summary``,
loaded at that session's version (never an older run's), becomes one row of
``multiseed_runs``, and the ``multiseed`` pipeline aggregates them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
import pandas as pd

logger = logging.getLogger(__name__)

SETTING = "multiseed"
REFERENCE = "fp32"


def nested(dotted: str, value: Any) -> dict[str, Any]:
    """``"a.b.c", 1`` -> ``{"a": {"b": {"c": 1}}}``."""
    out: Any = value
    for key in reversed(dotted.split(".")):
        out = {key: out}
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of two nested mappings (``extra`` wins), as Kedro merges runtime
    parameters: ``OmegaConf.merge``."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.merge(base, extra))


def check_settings(
    settings: dict[str, Any], pipelines: set[str], producers: dict[str, str]
) -> dict[str, Any]:
    """Validate ``params:multiseed``; errors name the setting."""
    seeds = settings.get("seeds")
    if not isinstance(seeds, list) or not seeds:
        raise ValueError(
            f"{SETTING}.seeds must be a non-empty list of integers, got {seeds!r}"
        )
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"{SETTING}.seeds must hold integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{SETTING}.seeds has duplicates: {seeds!r}")
    for key in ("prepare", "pipelines"):
        names = settings.get(key) or []
        unknown = sorted(set(names) - pipelines)
        if unknown:
            raise ValueError(
                f"{SETTING}.{key}: unknown pipeline(s) {unknown}; "
                f"registered: {sorted(pipelines)}"
            )
    if "evaluate" not in (settings.get("pipelines") or []):
        raise ValueError(
            f"{SETTING}.pipelines must include evaluate (its comparison table is "
            f"what the seeds are aggregated from), got {settings.get('pipelines')!r}"
        )
    keys = settings.get("seed_keys")
    if not isinstance(keys, list) or not keys:
        raise ValueError(
            f"{SETTING}.seed_keys must be a non-empty list of parameter names"
        )
    variants = settings.get("variants")
    if variants is not None:
        unknown = sorted(set(variants) - set(producers))
        if unknown:
            raise ValueError(
                f"{SETTING}.variants: unknown variant(s) {unknown}; "
                f"known: {sorted(producers)}"
            )
        missing = sorted(
            v
            for v in variants
            if producers[v] not in settings["pipelines"] and producers[v] != "baseline"
        )
        if missing:
            raise ValueError(
                f"{SETTING}.variants: {missing} are produced by pipelines that are "
                f"not in {SETTING}.pipelines ({[producers[v] for v in missing]})"
            )
    return settings


def chosen_variants(settings: dict[str, Any], producers: dict[str, str]) -> list[str]:
    """The reference plus ``multiseed.variants`` (null: every variant whose producer
    runs), in registry order."""
    wanted = settings.get("variants")
    runs = set(settings["pipelines"]) | {"baseline"}
    return [
        v
        for v in producers
        if v == REFERENCE
        or (v in wanted if wanted is not None else producers[v] in runs)
    ]


def node_selection(
    pipelines: dict, names: list[str], variants: list[str], producers: dict[str, str]
) -> list[str]:
    """Node names to run: every node of the pipelines except ``evaluate``'s, of which
    only the chosen variants' templates (``evaluate.<V>``) and the producers that sit
    inside ``evaluate`` (the TF-IDF baseline) are kept."""
    templates = {f"evaluate.{v}" for v in variants}
    inner_producers = {producers[v] for v in variants} - set(names)
    evaluate = set(pipelines["evaluate"].nodes) if "evaluate" in names else set()
    selected = set()
    for name in names:
        for node in pipelines[name].nodes:
            parts = (node.namespace or "").split(".")
            if (
                node not in evaluate
                or ".".join(parts[:2]) in templates
                or parts[0] in inner_producers
            ):
                selected.add(node.name)
    return sorted(selected)


def seed_params(seed: int, settings: dict[str, Any], ptq_variants: set[str]) -> dict:
    """Runtime parameters of one seed's run: the seed keys, the enabled variants and
    the MLflow tag."""
    params: dict[str, Any] = {"tracking": {"tags": {"seed": str(seed)}}}
    for key in settings["seed_keys"]:
        params = merge(params, nested(key, seed))
    if settings.get("variants") is not None:
        chosen = set(settings["variants"])
        for variant in sorted(ptq_variants):
            params = merge(
                params,
                nested(f"quantize_ptq.variants.{variant}.enabled", variant in chosen),
            )
    return params


def run_one_seed(  # noqa: PLR0913 - one session's inputs
    project_path: Path,
    env: str | None,
    params: dict[str, Any],
    settings: dict[str, Any],
    nodes: list[str],
    variants: list[str],
    seed: int,
) -> pd.DataFrame:
    """One seed's session: run the selected nodes, then load each chosen variant's
    ``evaluate.<V>.summary`` at this session's version (one row each)."""
    from kedro.framework.session import KedroSession

    with KedroSession.create(project_path, env=env, runtime_params=params) as session:
        session.run(pipeline_names=list(settings["pipelines"]), node_names=nodes)
        version = session.session_id
        catalog = session.load_context().catalog
        rows = [
            catalog.load(f"evaluate.{v}.summary", version=version) for v in variants
        ]
    table = pd.DataFrame(rows)
    table.insert(0, "seed", seed)
    table.insert(1, "run_version", version)
    return table


def run_seeds(
    project_path: Path,
    env: str | None,
    seeds: list[int] | None = None,
    extra_params: dict[str, Any] | None = None,
) -> str:
    """Run the seeds and the ``multiseed`` aggregation; returns the version (session
    id) of the aggregated outputs."""
    from kedro.framework.project import pipelines as registered
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from quant_sentiment.variants import VARIANTS, produced_by

    bootstrap_project(project_path)
    extra = dict(extra_params or {})
    if seeds is not None:
        extra = merge(extra, {SETTING: {"seeds": list(seeds)}})
    with KedroSession.create(project_path, env=env, runtime_params=extra) as session:
        context = session.load_context()
        settings = context.params[SETTING]
    ptq = {v.name for v in produced_by("quantize_ptq")}
    producers = {v.name: v.producer for v in VARIANTS}
    check_settings(settings, set(registered), producers)
    variants = chosen_variants(settings, producers)
    nodes = node_selection(registered, settings["pipelines"], variants, producers)

    if settings.get("prepare"):
        with KedroSession.create(
            project_path, env=env, runtime_params=extra
        ) as session:
            session.run(pipeline_names=list(settings["prepare"]))

    frames = []
    for i, seed in enumerate(settings["seeds"], start=1):
        logger.info("Seed %d (%d of %d)", seed, i, len(settings["seeds"]))
        params = merge(extra, seed_params(seed, settings, ptq))
        frames.append(
            run_one_seed(project_path, env, params, settings, nodes, variants, seed)
        )

    runs = pd.concat(frames, ignore_index=True)
    with KedroSession.create(project_path, env=env, runtime_params=extra) as session:
        session.load_context().catalog.save("multiseed_runs", runs)
        session.run(pipeline_names=[SETTING])
        return session.session_id


@click.group()
def cli() -> None:
    """quant-sentiment experiment commands."""


@cli.command("seeds")
@click.option("--env", "-e", default=None, help="Kedro environment (conf/<env>).")
@click.option(
    "--seeds",
    default=None,
    help="Comma-separated seeds, replacing multiseed.seeds (e.g. 1,2,3).",
)
@click.option(
    "--params",
    default="",
    help='Extra runtime parameters, as kedro run --params ("a.b=1,c=x").',
)
def seeds_command(env: str | None, seeds: str | None, params: str) -> None:
    """Run the multiseed.pipelines once per seed and aggregate the comparison tables."""
    from omegaconf import OmegaConf

    seed_list = None
    if seeds is not None:
        try:
            seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError as err:
            raise click.BadParameter(f"--seeds: integers separated by commas ({err})")
    extra = (
        OmegaConf.to_container(OmegaConf.from_dotlist(params.split(",")))
        if params
        else {}
    )
    version = run_seeds(Path.cwd(), env, seed_list, extra)
    click.echo(f"multiseed outputs saved at version {version}")
