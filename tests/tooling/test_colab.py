"""Colab 版笔记本：网址、安装单元与导出（不需要构建整本书）。"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from dlbook_build import colab
from helpers import ROOT

REPO = "https://github.com/dlbook-zh/lesson12"


def _notebook(n_code=2, minor=5):
    cells = [
        {
            "cell_type": "code",
            "execution_count": i + 1,
            "id": f"c{i}",
            "metadata": {},
            "outputs": [
                {"output_type": "stream", "name": "stdout", "text": f"{i}\n"}
            ],
            "source": f"print({i})",
        }
        for i in range(n_code)
    ]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3"}
        },
        "nbformat": 4,
        "nbformat_minor": minor,
    }


def test_colab_url_points_at_the_notebooks_branch():
    assert colab.colab_url(REPO, "book/saving/index") == (
        "https://colab.research.google.com/github/dlbook-zh/lesson12/"
        "blob/notebooks/book/saving/index.ipynb"
    )
    assert colab.colab_url(REPO + ".git/", "p", branch="b").endswith(
        "/dlbook-zh/lesson12/blob/b/p.ipynb"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.com/a/b",
        "https://github.com/only-org",
        "https://github.com/a/b/c",
        "",
    ],
)
def test_non_github_urls_are_rejected_with_the_url(url):
    with pytest.raises(ValueError, match="repository.url") as err:
        colab.colab_url(url, "p")
    assert repr(url) in str(err.value)


def _run_setup_cell(monkeypatch, source):
    """执行安装单元，把 subprocess 换成记录调用的假模块；返回调用列表。"""
    calls = []
    fake = type(sys)("subprocess")
    fake.run = lambda cmd, check: calls.append((cmd, check))
    monkeypatch.setitem(sys.modules, "subprocess", fake)
    exec(compile(source, "setup", "exec"), {})
    return calls


def test_setup_cell_is_first_and_does_nothing_outside_colab(monkeypatch):
    nb = colab.add_setup_cell(_notebook(), REPO, "abc123")
    first = nb["cells"][0]
    assert first["metadata"]["tags"] == [colab.SETUP_TAG]
    assert (
        "dlbook @ git+https://github.com/dlbook-zh/lesson12@abc123"
        in (first["source"])
    )
    # 不在 Colab 中：执行安装单元不应调用 pip。
    assert "google.colab" not in sys.modules
    assert _run_setup_cell(monkeypatch, first["source"]) == []


def test_setup_cell_installs_dlbook_in_colab(monkeypatch):
    """模拟 Colab：安装单元先补装缺少的包，再无依赖地安装 dlbook。"""
    nb = colab.add_setup_cell(_notebook(), REPO, "main")
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("colab"))
    calls = _run_setup_cell(monkeypatch, nb["cells"][0]["source"])
    assert len(calls) == 2 and all(check for _, check in calls)
    first, second = calls[0][0], calls[1][0]
    assert first[:4] == [sys.executable, "-m", "pip", "install"]
    assert set(colab.COLAB_EXTRA_PACKAGES) <= set(first)
    assert "--no-deps" in second
    assert second[-1] == f"dlbook @ git+{REPO}@main"


def test_add_setup_cell_keeps_the_rest_and_is_idempotent():
    src = _notebook(n_code=3)
    once = colab.add_setup_cell(src, REPO, "main")
    twice = colab.add_setup_cell(once, REPO, "main")
    assert once == twice
    assert once["cells"][1:] == src["cells"]
    assert len(src["cells"]) == 3  # 输入没有被改动
    assert once["cells"][0]["id"] == colab.SETUP_TAG
    # 旧版 nbformat（4.4）不允许 id 字段。
    old = colab.add_setup_cell(_notebook(minor=4), REPO, "main")
    assert "id" not in old["cells"][0]


def test_setup_cell_source_is_valid_python():
    compile(colab.setup_source(REPO, "main"), "setup", "exec")


def test_export_writes_valid_notebooks_in_the_same_tree(tmp_path):
    import nbformat

    src = tmp_path / "jupyter_execute"
    (src / "book" / "part").mkdir(parents=True)
    (src / "book" / "part" / "page.ipynb").write_text(
        json.dumps(_notebook()), encoding="utf-8"
    )
    (src / "intro.ipynb").write_text(json.dumps(_notebook(1)), "utf-8")
    out = tmp_path / "colab"
    written = colab.export_notebooks(src, out, REPO, "main")
    assert written == [out / "book/part/page.ipynb", out / "intro.ipynb"]
    for path in written:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert colab.SETUP_TAG in nb.cells[0].metadata.tags
    page = nbformat.read(written[0], as_version=4)
    assert [c.source for c in page.cells[1:]] == ["print(0)", "print(1)"]
    assert page.cells[1].outputs[0]["text"] == "0\n"  # 输出保留


def test_export_reports_missing_build_and_bad_notebooks(tmp_path):
    with pytest.raises(FileNotFoundError, match="jupyter-book build"):
        colab.export_notebooks(tmp_path / "nope", tmp_path / "out", REPO)
    bad = tmp_path / "src"
    bad.mkdir()
    (bad / "broken.ipynb").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.ipynb"):
        colab.export_notebooks(bad, tmp_path / "out", REPO)
    (bad / "broken.ipynb").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="缺少 cells"):
        colab.export_notebooks(bad, tmp_path / "out", REPO)


def test_command_line(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.ipynb").write_text(json.dumps(_notebook()), "utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlbook_build.colab",
            str(src),
            str(tmp_path / "o"),
        ]
        + ["--repo", REPO, "--ref", "v1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "1 个" in result.stdout
    nb = json.loads((tmp_path / "o" / "a.ipynb").read_text("utf-8"))
    assert f"{REPO}@v1" in nb["cells"][0]["source"]


def test_binder_uses_the_books_python():
    """Binder（repo2docker）按 runtime.txt 选 Python，须与 pyproject 一致。"""
    import tomllib

    root = ROOT
    runtime = (root / "runtime.txt").read_text(encoding="utf-8").strip()
    assert runtime.startswith("python-"), runtime
    version = runtime.removeprefix("python-")
    meta = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    spec = meta["project"]["requires-python"]
    assert f">={version}" in spec, (runtime, spec)
    assert not (root / "binder").exists() and not (root / ".binder").exists()


def test_configured_branch_reads_config_yml(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text(
        "sphinx:\n  config:\n    dlbook_colab_branch: colab-nb\n",
        encoding="utf-8",
    )
    assert colab.configured_branch(config) == "colab-nb"
    config.write_text("title: 无 sphinx 设置\n", encoding="utf-8")
    assert colab.configured_branch(config) == colab.DEFAULT_BRANCH
    with pytest.raises(FileNotFoundError, match="nope.yml"):
        colab.configured_branch(tmp_path / "nope.yml")


def test_workflow_pushes_to_the_branch_the_buttons_use(tmp_path):
    """发布工作流推送的分支来自 _config.yml，而不是另写一遍的字面量。"""
    workflow = yaml.safe_load(
        (ROOT / ".github" / "workflows" / "pages.yml").read_text("utf-8")
    )
    build, push_job = workflow["jobs"]["build"], workflow["jobs"]["notebooks"]
    assert build["outputs"]["colab_branch"] == (
        "${{ steps.colab.outputs.branch }}"
    )
    push = next(
        s for s in push_job["steps"] if "git push" in s.get("run", "")
    )
    assert push["env"]["BRANCH"] == "${{ needs.build.outputs.colab_branch }}"
    assert colab.DEFAULT_BRANCH not in push["run"]
    # 在仓库根目录运行导出步骤里写 $GITHUB_OUTPUT 的那条命令
    step = next(s for s in build["steps"] if s.get("id") == "colab")
    command = step["run"].split('>> "$GITHUB_OUTPUT"')[0]
    assert command.startswith("python -c ")
    command = f'"{sys.executable}"' + command[len("python") :]
    output = tmp_path / "github_output"
    subprocess.run(
        ["bash", "-c", command + ' >> "$GITHUB_OUTPUT"'],
        cwd=ROOT,
        env={**os.environ, "GITHUB_OUTPUT": str(output)},
        check=True,
    )
    expected = colab.configured_branch(ROOT / "_config.yml")
    assert output.read_text(encoding="utf-8") == f"branch={expected}\n"
