"""extask as an application installs and embeds it: from a wheel, beside packages of its own named
``domain`` and ``application``, none of which extask shadows or is shadowed by.

The wheel is built from a copy of the project's sources and installed, not editable, into a fresh
virtual environment. Its dependencies are not downloaded again: the environment sees those of the
environment running the tests through a path entry, which adds their directory but runs none of its
``.pth`` files, so the editable extask installed there stays invisible.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT

SOURCES = ("pyproject.toml", "README.md", "domain", "application", "infrastructure")
EMBEDDING_HEADING = "## Embedding the engine in a Python application"
TIMEOUT_SECONDS = 180


def readme_embedding_example() -> str:
    """The first Python block under the README's embedding heading, as written."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split(EMBEDDING_HEADING, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    finished = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    sources = tmp_path_factory.mktemp("sources")
    for name in SOURCES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, sources / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, sources / name)
    built = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", built, sources, cwd=sources)
    [wheel] = built.glob("extask-*.whl")
    return wheel


@pytest.fixture(scope="module")
def python(wheel, tmp_path_factory) -> Path:
    """The interpreter of a fresh virtual environment with the wheel installed."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel, cwd=venv)
    site_packages = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv).stdout.strip()
    (Path(site_packages) / "extask_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture
def application_directory(tmp_path) -> Path:
    """An application's own folder, with packages of its own named like extask's layers."""
    for package in ("domain", "application"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f'WHOSE = "the application\'s {package}"\n')
    (tmp_path / "example.py").write_text(readme_embedding_example())
    return tmp_path


def test_the_wheel_installs_everything_under_the_extask_root_only(wheel):
    top_level = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    distribution, version = wheel.name.split("-")[:2]
    assert top_level == {"extask", f"{distribution}-{version}.dist-info"}


def test_the_readme_embedding_example_runs_beside_the_applications_own_domain_and_application(
    python, application_directory
):
    # The application's packages are imported first: were extask to import a bare ``domain``, it
    # would get the application's, and the example would fail.
    driver = (
        "import domain, application, runpy\n"
        "runpy.run_path('example.py', run_name='__main__')\n"
        "import domain, application, extask.domain\n"
        "print(domain.WHOSE, '|', application.WHOSE, '|', extask.domain.__file__)\n"
    )
    finished = run(python, "-c", driver, cwd=application_directory)
    *example_output, packages = finished.stdout.splitlines()

    amount, refusal, variables = example_output  # as the README's comments show them
    assert amount == "12.5"
    assert re.fullmatch(r"RestException External Task \S+ cannot be completed by worker 'billing-2'\. .*", refusal)
    assert variables == "{'amount': 12.5, 'customer': 'ACME', 'invoiceNumber': 'INV-1'}"
    whose_domain, whose_application, extask_domain = packages.split(" | ")
    assert (whose_domain, whose_application) == ("the application's domain", "the application's application")
    assert Path(extask_domain).is_relative_to(python.parents[1])  # from the wheel, not the checkout


def test_the_installed_console_script_answers(python, application_directory):
    finished = run(python.parent / "extask", "--help", cwd=application_directory)
    assert "serve" in finished.stdout
