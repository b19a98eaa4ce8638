"""The artifact notebook is valid and only loads datasets the catalog declares."""

import re

import nbformat
import yaml

from tests.conftest import PROJECT_ROOT


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
