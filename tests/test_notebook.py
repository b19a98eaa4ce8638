"""The artifact notebook is valid, only loads datasets the catalog declares, and
runs top to bottom against an offline run's catalog."""

import re

import nbformat
import pytest
import yaml

from tests.conftest import PROJECT_ROOT, run_session, tiny_finetune_params


def test_notebook_loads_declared_datasets():
    nb = nbformat.read(
        PROJECT_ROOT / "notebooks" / "explore_artifacts.ipynb", as_version=4
    )
    nbformat.validate(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "%load_ext kedro.ipython" in code
    names = set(re.findall(r'catalog\.load\("([^"]+)"\)', code))
    assert {"clean_train", "finetuned_model", "finetune_test_metrics"} <= names
    declared = set()
    for path in (PROJECT_ROOT / "conf" / "base").glob("catalog*.yml"):
        declared |= set(yaml.safe_load(path.read_text()))
    patterns = [
        re.compile("^" + re.sub(r"\\\{[^}]+\\\}", ".+", re.escape(d)) + "$")
        for d in declared
    ]
    missing = [n for n in names if not any(p.match(n) for p in patterns)]
    assert not missing, f"notebook loads undeclared datasets: {missing}"


NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, kedro_project):
    """Each notebook, executed as a user opens it (kernel, ``%load_ext
    kedro.ipython``, every cell in order) against an offline run's catalog."""
    nbclient = pytest.importorskip("nbclient")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no python3 Jupyter kernel (pip install ipykernel)")
    run_session(kedro_project, pipeline="preprocessing")
    run_session(
        kedro_project, pipeline="finetune", runtime_params=tiny_finetune_params()
    )
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(kedro_project)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    executed = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in executed)
    errors = [o for c in executed for o in c.outputs if o.output_type == "error"]
    assert errors == []
