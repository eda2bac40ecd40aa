"""CI 与 GitHub 工作流：先测试再发布，三个 Python 版本都测。"""

import re
import tomllib

import yaml

from helpers import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name):
    return yaml.safe_load((WORKFLOWS / name).read_text("utf-8"))


def _supported_pythons():
    """pyproject 的 requires-python 所允许的 3.x 次版本。"""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    spec = meta["project"]["requires-python"]
    low = int(re.search(r">=3\.(\d+)", spec).group(1))
    high = int(re.search(r"<3\.(\d+)", spec).group(1))
    return [f"3.{m}" for m in range(low, high)]


def test_supported_pythons_are_311_to_313():
    assert _supported_pythons() == ["3.11", "3.12", "3.13"]


def test_unit_tests_run_on_every_supported_python():
    unit = _load("tests.yml")["jobs"]["unit"]
    assert unit["strategy"]["matrix"]["python-version"] == (
        _supported_pythons()
    )
    runs = " ".join(s.get("run", "") for s in unit["steps"])
    assert 'pytest -m "not slow"' in runs
    assert "requirements-test.txt" in runs


def test_book_job_runs_the_ci_script():
    tests = _load("tests.yml")
    book = tests["jobs"]["book"]
    assert book["needs"] == "unit"
    assert any(s.get("run") == "bash .ci/run" for s in book["steps"])
    # 推送到 main 时不单独触发（由 pages.yml 调用），PR 与其他分支触发。
    on = tests[True] if True in tests else tests["on"]  # YAML 把 on 读成 True
    assert "workflow_call" in on and "pull_request" in on
    assert "main" in on["push"]["branches-ignore"]


def test_pages_deploys_only_after_the_tests():
    jobs = _load("pages.yml")["jobs"]
    assert jobs["tests"]["uses"] == "./.github/workflows/tests.yml"
    assert jobs["build"]["needs"] == "tests"
    assert jobs["deploy"]["needs"] == "build"
    assert jobs["notebooks"]["needs"] == "build"
    # 发布的是测试时构建的那一份，不在未经测试的情况下重新构建。
    runs = " ".join(s.get("run", "") for s in jobs["build"]["steps"])
    assert "jupyter-book build" not in runs


def test_ci_script_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text("utf-8")
    script = (ROOT / ".ci" / "run").read_text("utf-8")
    assert "pip install -r requirements-test.txt" in readme
    assert "python -m pytest" in readme
    assert "requirements-test.txt" in script
    assert re.search(r"^python -m pytest$", script, re.M)
    for version in _supported_pythons()[1:]:
        assert version in script


def test_reader_install_has_no_test_tooling():
    reader = (ROOT / "requirements.txt").read_text("utf-8")
    names = {
        re.split(r"[=<>\[ ]", line)[0].lower()
        for line in reader.splitlines()
        if line and not line.startswith(("#", "-"))
    }
    assert not names & {"pytest", "hypothesis", "playwright", "ruff"}
    test = (ROOT / "requirements-test.txt").read_text("utf-8")
    assert "-r requirements.txt" in test and "pytest-timeout" in test
