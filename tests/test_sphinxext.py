"""dlbook.sphinxext：代码包变化后，缓存的页面会重新执行，不留陈旧输出。"""

import os
import textwrap

import pytest

from conftest import run_jupyter_book
from dlbook.sphinxext import tree_hash

PAGE = """\
---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# 页面

```{code-cell} ipython3
import helper
print(f"VALUE={helper.VALUE}")
```
"""


def _make_book(root, with_extension: bool):
    extensions = (
        "  extra_extensions: [dlbook.sphinxext]\n" if with_extension else ""
    )
    config = textwrap.dedent(
        """\
        title: 测试
        only_build_toc_files: true
        execute:
          execute_notebooks: cache
        sphinx:
        {ext}  config:
            dlbook_watch_paths: [pkg]
            dlbook_bundle_mathjax: false
        """
    ).format(ext=extensions)
    (root / "_config.yml").write_text(config, encoding="utf-8")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: page\n", encoding="utf-8"
    )
    (root / "page.md").write_text(PAGE, encoding="utf-8")
    (root / "pkg").mkdir()
    (root / "pkg" / "helper.py").write_text("VALUE = 1\n", encoding="utf-8")


def _build_and_read(root):
    env_path = os.pathsep.join(
        [str(root / "pkg"), os.environ.get("PYTHONPATH", "")]
    )
    os.environ["PYTHONPATH"] = env_path
    try:
        result = run_jupyter_book(".", cwd=root, timeout=600)
    finally:
        os.environ["PYTHONPATH"] = env_path.split(os.pathsep, 1)[1]
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    html = (root / "_build" / "html" / "page.html").read_text("utf-8")
    return "VALUE=1" in html, "VALUE=2" in html


@pytest.mark.slow
@pytest.mark.parametrize("with_extension", [True, False])
def test_editing_the_package_reexecutes_cached_pages(
    tmp_path, with_extension
):
    _make_book(tmp_path, with_extension)
    assert _build_and_read(tmp_path) == (True, False)
    (tmp_path / "pkg" / "helper.py").write_text("VALUE = 2\n", "utf-8")
    has_old, has_new = _build_and_read(tmp_path)
    if with_extension:
        # 扩展让页面重新执行：显示新值。
        assert (has_old, has_new) == (False, True)
    else:
        # 对照组：没有扩展时 jupyter-cache 只看页面本身，输出是陈旧的。
        # 这说明上面的断言确实检验了扩展的作用。
        assert (has_old, has_new) == (True, False)


def test_tree_hash_changes_with_content_and_names(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    h1 = tree_hash([pkg])
    assert tree_hash([pkg]) == h1
    (pkg / "a.py").write_text("x = 2\n")
    h2 = tree_hash([pkg])
    assert h2 != h1
    (pkg / "a.py").rename(pkg / "b.py")
    assert tree_hash([pkg]) not in (h1, h2)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "b.cpython-311.py").write_text("junk")
    (pkg / "notes.txt").write_text("不是代码")
    h3 = tree_hash([pkg])
    (pkg / "notes.txt").write_text("仍不是代码")
    assert tree_hash([pkg]) == h3


def test_tree_hash_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="dlbook_watch_paths"):
        tree_hash([tmp_path / "nope"])


def test_coalesce_streams_keeps_lines_whole_and_inputs_untouched():
    from nbformat.v4 import new_output

    from dlbook.sphinxext import coalesce_streams

    outputs = [
        new_output("stream", name="stdout", text="最大差:"),
        new_output("stream", name="stdout", text=" 0.0\n"),
        new_output(
            "execute_result", data={"text/plain": "42"}, execution_count=1
        ),
        new_output("stream", name="stdout", text="下一行\n"),
    ]
    merged = coalesce_streams(outputs)
    # 一行字不会被拆开；后来的流并入第一个流；其他输出保持原样。
    assert merged[0]["text"] == "最大差: 0.0\n下一行\n"
    assert [o["output_type"] for o in merged] == ["stream", "execute_result"]
    # 传入的对象不被改动（否则写出的 .ipynb 会把同一段话存两遍）。
    assert outputs[0]["text"] == "最大差:" and len(outputs) == 4


def test_extension_replaces_myst_nb_stream_merging():
    import sphinx.application  # noqa: F401
    from myst_nb.core import render

    from dlbook import sphinxext

    class _App:
        def __getattr__(self, name):
            return lambda *a, **k: None

    sphinxext.setup(_App())
    assert render.coalesce_streams is sphinxext.coalesce_streams


def _executed_outputs(root):
    import json

    path = root / "_build" / "jupyter_execute" / "page.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return [(c.get("execution_count"), len(c["outputs"])) for c in code]


@pytest.mark.slow
@pytest.mark.parametrize("with_extension", [True, False])
def test_cached_pages_write_notebooks_with_outputs(tmp_path, with_extension):
    """只改文字的页面从缓存取输出；写出的 .ipynb 仍要带着输出。"""
    _make_book(tmp_path, with_extension)
    _build_and_read(tmp_path)
    assert _executed_outputs(tmp_path) == [(1, 1)]
    page = tmp_path / "page.md"
    page.write_text(page.read_text("utf-8") + "\n新加的一段文字。\n", "utf-8")
    assert _build_and_read(tmp_path) == (True, False)  # 页面仍显示输出
    if with_extension:
        assert _executed_outputs(tmp_path) == [(1, 1)]
    else:
        # 对照组：myst-nb 原样写出没有输出的笔记本。
        assert _executed_outputs(tmp_path) == [(None, 0)]
