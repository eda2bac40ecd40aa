"""dlbook_build.notebooks：读者带走的笔记本里没有 MyST，读起来和网页一样。

快的测试在手写的 Markdown 上检验转换；慢的测试构建一本小书，检查下载的
``.ipynb``、``jupyter_execute``、Colab 版与命令行导出的笔记本都没有残留
MyST，并且都能从头到尾执行。
"""

import json
import os
import textwrap

import pytest

from dlbook_build import colab
from dlbook_build import notebooks as nbs
from helpers import book_env, run_jupyter_book
from tinybook import FRONT_MATTER

HELPER = '''\
"""小书用的代码包。"""

VALUE = 3


def _core(x):
    # 书中展示的核心
    return x * VALUE


def other():
    return "不该出现在展示的代码里"
'''


def _ctx(tmp_path=None, **kw):
    kw.setdefault("glue", {"acc": {"data": {"text/plain": "0.9375"}}})
    kw.setdefault(
        "xrefs",
        {
            ("ref", "sec-a"): ("第一节", None),
            ("ref", "sec-b"): ("另一节", "https://x.io/b.html#sec-b"),
            ("numref", "fig-a"): ("图 2", None),
            ("numref", "tab-a"): ("表 1", None),
            ("term", "池化层"): ("池化层", None),
            ("doc", "other"): ("另一页", "https://x.io/other.html"),
        },
    )
    kw.setdefault("terms", {"池化层": "pooling layer"})
    kw.setdefault("citations", {"lecun1998": ("LeCun et al.", "1998")})
    kw.setdefault("equations", {"eq-a": "3.1"})
    return nbs.Context("book/part/page", srcdir=tmp_path or ".", **kw)


def _clean(text, ctx):
    out = nbs.convert(text, ctx)
    nb = {"cells": [{"cell_type": "markdown", "source": out}]}
    assert nbs.leftover_myst(nb) == [], out
    return out


def test_glue_text_uses_the_format_spec():
    ctx = _ctx()
    out = _clean("准确率 {glue:text}`acc:.1%`，原值 {glue:text}`acc`。", ctx)
    assert out == "准确率 93.8%，原值 0.9375。"
    assert ctx.warnings == []


def test_missing_glue_key_is_reported():
    ctx = _ctx()
    out = _clean("{glue:text}`nope:.2f`", ctx)
    assert out == "nope:.2f"
    assert "nope" in ctx.warnings[0] and "book/part/page" in ctx.warnings[0]


def test_literalinclude_becomes_the_code_itself(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "helper.py").write_text(HELPER, encoding="utf-8")
    ctx = _ctx(tmp_path)
    out = _clean(
        "看代码：\n\n```{literalinclude} /pkg/helper.py\n"
        ":pyobject: _core\n```\n\n后文",
        ctx,
    )
    assert "```python\ndef _core(x):\n    # 书中展示的核心\n" in out
    assert "return x * VALUE\n```" in out
    assert "other" not in out and out.endswith("后文")
    assert ctx.warnings == []


def test_missing_include_is_reported_not_left(tmp_path):
    ctx = _ctx(tmp_path)
    out = _clean("```{literalinclude} /nope.py\n:pyobject: f\n```", ctx)
    assert "nope.py" in out and "nope.py" in ctx.warnings[0]


def test_equations_get_their_numbers():
    ctx = _ctx()
    out = _clean(
        "由{eq}`eq-a` 可知：\n\n```{math}\n:label: eq-a\n"
        "y = a \\\\\nz = b\n```\n",
        ctx,
    )
    assert out.startswith("由式 (3.1) 可知：")
    assert "$$\n\\begin{split}\ny = a \\\\\nz = b\n\\end{split}" in out
    assert out.endswith("\\tag{3.1}\n$$")


def test_dollar_math_with_label():
    out = _clean("$$ y = x $$ (eq-a)\n", _ctx())
    assert out == "$$\n y = x \n\\tag{3.1}\n$$"


def test_term_gets_its_english_once():
    ctx = _ctx()
    assert _clean("{term}`池化层`很常用", ctx) == (
        "池化层（pooling layer）很常用"
    )
    assert _clean("{term}`池化层`（pooling layer）", ctx) == (
        "池化层（pooling layer）"
    )
    assert _clean("{term}`池化层`\n（pooling layer）", ctx) == (
        "池化层\n（pooling layer）"
    )


def test_references_become_titles_and_links():
    ctx = _ctx()
    out = _clean(
        "见{ref}`sec-a`、{ref}`sec-b`、{ref}`那一节 <sec-b>`、"
        "{numref}`fig-a`、{doc}`other`。",
        ctx,
    )
    assert out == (
        "见第一节、[另一节](https://x.io/b.html#sec-b)、"
        "[那一节](https://x.io/b.html#sec-b)、图 2、"
        "[另一页](https://x.io/other.html)。"
    )


def test_unresolved_reference_keeps_its_text_and_is_reported():
    ctx = _ctx()
    assert _clean("{ref}`sec-nope`", ctx) == "sec-nope"
    assert "sec-nope" in ctx.warnings[0]


def test_citations_become_author_year(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text(
        "@article{lecun1998,\n title={Gradient},\n"
        " author={LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua},\n"
        " journal={Proc. IEEE}, year={1998}}\n"
        "@article{two,\n title={T}, author={A, B and C, D}, year={2001}}\n",
        encoding="utf-8",
    )
    entries = nbs._read_bib([bib])
    assert entries["lecun1998"][:2] == ("LeCun et al.", "1998")
    assert entries["two"][:2] == ("A and C", "2001")
    assert "Gradient" in entries["lecun1998"][2]
    ctx = _ctx(citations={k: v[:2] for k, v in entries.items()})
    out = _clean("Dropout {cite:p}`lecun1998,two`，{cite:t}`two` 说", ctx)
    assert out == (
        "Dropout (LeCun et al., 1998; A and C, 2001)，A and C（2001） 说"
    )


def test_admonitions_become_quotes_and_dropdowns_details():
    ctx = _ctx()
    out = _clean(
        textwrap.dedent(
            """\
            ```{admonition} 为什么
            正文 {glue:text}`acc:.0%`

            第二段
            ```

            :::{note}
            小心
            :::

            ````{admonition} 练习 1 的答案
            :class: dropdown

            ```{math}
            :label: eq-a
            x
            ```
            ````
            """
        ),
        ctx,
    )
    assert "> **为什么**\n>\n> 正文 94%\n>\n> 第二段" in out
    assert "> **注意**\n>\n> 小心" in out
    assert "<details>\n<summary>练习 1 的答案</summary>\n\n$$\nx\n" in out
    assert out.endswith("\\tag{3.1}\n$$\n\n</details>")


def test_sphinx_exercise_directives():
    ctx = _ctx(xrefs={("numref", "ex-1"): ("练习 1", None)})
    out = _clean(
        "```{exercise} 池化\n:label: ex-1\n\n算一算\n```\n\n"
        "```{solution} ex-1\n:class: dropdown\n\n是 {glue:text}`acc`\n```"
        "\n\n```{solution-start} ex-1\n```\n正文\n```{solution-end}\n```",
        ctx,
    )
    assert out.startswith("> **练习 1：池化**\n>\n> 算一算\n\n")
    assert (
        "<summary>练习 1 的答案</summary>\n\n是 0.9375\n\n</details>" in out
    )
    assert out.endswith("**练习 1 的答案**\n正文")
    assert ctx.warnings == []


def test_exercise_with_hint_and_solution_like_the_book():
    """书中的写法：提示折叠在题目里，{ref} 指向练习时显示编号。"""
    ctx = _ctx(xrefs={("numref", "ex-a-1"): ("练习 7", None)})
    out = _clean(
        "见{ref}`ex-a-1`。\n\n"
        "````{exercise}\n:label: ex-a-1\n\n写代码：\n\n"
        "```python\ndef f():\n    ...\n```\n\n"
        "```{admonition} 提示\n:class: dropdown\n\n想一想\n```\n````\n\n"
        "````{solution} ex-a-1\n:class: dropdown\n\n"
        "```python\ndef f():\n    return 1\n```\n````",
        ctx,
    )
    assert out.startswith("见练习 7。\n\n> **练习 7**\n>\n> 写代码：")
    assert "> ```python\n> def f():\n>     ...\n> ```" in out
    assert "> <details>\n> <summary>提示</summary>\n>\n> 想一想" in out
    assert out.endswith(
        "<details>\n<summary>练习 7 的答案</summary>\n\n"
        "```python\ndef f():\n    return 1\n```\n\n</details>"
    )
    assert ctx.warnings == []
    # 没有编号可查时退回“答案”，并且不留 MyST
    bare = _ctx()
    out = _clean("```{solution} ex-b\n:class: dropdown\n\n是\n```", bare)
    assert out.startswith("<details>\n<summary>答案</summary>")


def test_targets_and_comments_are_dropped_code_is_untouched():
    ctx = _ctx()
    src = (
        "(sec-a)=\n# 标题\n% 注释\n正文 `{term}`x`` 不动\n\n"
        "```python\nprint('{term}`y`')\n```"
    )
    out = nbs.convert(src, ctx)
    assert out == (
        "# 标题\n正文 `{term}`x`` 不动\n\n```python\nprint('{term}`y`')\n```"
    )
    assert ctx.warnings == []


def test_list_table_becomes_a_markdown_table():
    ctx = _ctx()
    out = _clean(
        textwrap.dedent(
            """\
            ```{list-table} 方式
            :name: tab-a
            :header-rows: 1

            * - 方式
              - 说明
            * - `save`
              - 见{ref}`sec-a`，
                第二行
            ```
            """
        ),
        ctx,
    )
    assert out == (
        "*表 1：方式*\n\n| 方式 | 说明 |\n|---|---|\n"
        "| `save` | 见第一节， 第二行 |"
    )


def test_unknown_role_and_directive_are_text_and_reported():
    ctx = _ctx()
    out = _clean("见 {pep}`8`。\n\n```{epigraph-x}\n名言\n```", ctx)
    assert out == "见 8。\n\n名言"
    assert any("{pep}" in w and "book/part/page" in w for w in ctx.warnings)
    assert any("{epigraph-x}" in w for w in ctx.warnings)


@pytest.mark.parametrize(
    "leftover",
    [
        "{term}`x`",
        "{glue:text}`a:.2f`",
        "```{note}\nx\n```",
        ":::{note}\nx\n:::",
        "(sec-x)=\n# t",
    ],
)
def test_leftover_myst_is_detected(leftover):
    nb = {"cells": [{"cell_type": "markdown", "source": leftover}]}
    assert nbs.leftover_myst(nb)


def test_code_is_not_taken_for_myst():
    source = (
        "文件名写成 `{epoch:04d}`。\n\n```python\nx = '{term}`y`'\n"
        "(sec-x)=\n```\n\n````markdown\n```{note}\n```\n````"
    )
    assert nbs.myst_in(source) == []
    assert nbs.myst_in(source + "\n{term}`z`") == ["{term}`z`"]


class _AnyTarget(nbs.Context):
    """每个引用都找得到的上下文：只检验语法是否都认得。"""

    def glue_output(self, key):
        return {"data": {"text/plain": "0.5"}}

    def xref(self, role, target, title):
        return title or target, None

    def term_english(self, term):
        return "english"

    def citation(self, key):
        return "A", "2000"

    def equation_number(self, label):
        return "1.1"


def test_every_book_page_converts_without_unknown_syntax():
    """书中每一页用到的角色与指令转换器都认得，转换后没有 MyST。

    不必构建：用 myst-nb 的读取器把页面读成笔记本（与构建时相同）。
    新页面用了转换器不认得的语法时，这里先失败。
    """
    from myst_nb.core.read import read_myst_markdown_notebook

    from helpers import ROOT, toc_files

    pages = toc_files()
    assert len(pages) >= 20
    for page in pages:
        text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
        ctx = _AnyTarget(page, srcdir=ROOT)
        out = nbs.convert_notebook(read_myst_markdown_notebook(text), ctx)
        assert nbs.leftover_myst(out) == [], page
        # 找不到的引用文件由构建本身报告；这里只管语法是否都认得
        unknown = [w for w in ctx.warnings if "不认识" in w]
        assert unknown == [], page


def _notebook():
    return {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "m1",
                "metadata": {},
                "source": ["(sec-a)=\n", "# 页 {glue:text}`acc:.0%`"],
            },
            {
                "cell_type": "code",
                "id": "c1",
                "execution_count": 1,
                "metadata": {
                    "mystnb": {
                        "figure": {
                            "caption": "曲线 {term}`池化层`",
                            "name": "fig-a",
                        }
                    }
                },  # fmt: skip
                "outputs": [],
                "source": "print(1)",
            },
        ],
        "metadata": {"jupytext": {"formats": "md:myst"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_convert_notebook_adds_captions_and_marks_it():
    raw = _notebook()
    before = json.dumps(raw)
    out = nbs.convert_notebook(raw, _ctx())
    assert json.dumps(raw) == before  # 输入不变
    assert out["cells"][0]["source"] == "# 页 94%"
    caption = out["cells"][2]
    assert caption["cell_type"] == "markdown"
    assert caption["source"] == "*图 2：曲线 池化层（pooling layer）*"
    assert caption["id"] == "c1-caption"
    # 元数据里的图题也转换了，原来的笔记本则仍被查出残留的角色
    figure = out["cells"][1]["metadata"]["mystnb"]["figure"]
    assert figure["caption"] == "曲线 池化层（pooling layer）"
    assert any("图题" in p for p in nbs.leftover_myst(raw))
    assert out["metadata"][nbs.MARK] and "jupytext" not in out["metadata"]
    assert nbs.leftover_myst(out) == []


def test_export_refuses_unconverted_notebooks(tmp_path):
    src = tmp_path / "_build" / "jupyter_execute"
    src.mkdir(parents=True)
    (src / "p.ipynb").write_text(json.dumps(_notebook()), encoding="utf-8")
    with pytest.raises(ValueError, match="没有转换"):
        nbs.export(tmp_path / "_build", tmp_path / "out")
    with pytest.raises(ValueError, match="MyST"):
        colab.export_notebooks(
            src, tmp_path / "colab", "https://github.com/a/b"
        )
    good = nbs.convert_notebook(_notebook(), _ctx())
    (src / "p.ipynb").write_text(json.dumps(good), encoding="utf-8")
    assert nbs.export(tmp_path / "_build", tmp_path / "out") == [
        tmp_path / "out" / "p.ipynb"
    ]


def test_export_without_build_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="jupyter-book build"):
        nbs.export(tmp_path, tmp_path / "out")


# ------------------------------------------------------------ 小书（慢）

PAGE = (
    FRONT_MATTER
    + """\
(sec-page)=
# 页面

```{code-cell} ipython3
from myst_nb import glue

import helper

glue("value", helper._core(2), display=False)
glue("ratio", 0.123456, display=False)
```

{term}`卷积核`决定了输出。结果是 {glue:text}`value`，比例
{glue:text}`ratio:.1%`。方法见 {cite:p}`lecun1998`，编码见 {pep}`8`。

```{math}
:label: eq-page
y = 3 x
```

由{eq}`eq-page`，见{ref}`sec-page`与{numref}`fig-page`。

```{literalinclude} /pkg/helper.py
:pyobject: _core
```

```{note}
一条提示，值为 {glue:text}`value`。
```

```{code-cell} ipython3
---
mystnb:
  figure:
    caption: 一条直线
    name: fig-page
---
import matplotlib.pyplot as plt

plt.plot([0, 1], [0, 3]);
```

## 练习

本节的第一题是{ref}`ex-page-1`。

````{exercise}
:label: ex-page-1

算一算 $3 \\times 2$。

```{admonition} 提示
:class: dropdown

乘法。
```
````

```{solution} ex-page-1
:class: dropdown

答案是 {glue:text}`value`，由{eq}`eq-page`。
```
"""
)

GLOSSARY = (
    FRONT_MATTER
    + """\
# 术语表

```{glossary}
卷积核
  convolution kernel。滑过输入的小权重矩阵。
```
"""
)

BIB = """\
@article{lecun1998,
  title = {Gradient-Based Learning},
  author = {LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua},
  journal = {Proceedings of the IEEE},
  year = {1998}
}
"""

CONFIG = """\
title: 测试
only_build_toc_files: true
execute:
  execute_notebooks: cache
bibtex_bibfiles: [refs.bib]
repository:
  url: https://github.com/a/b
html:
  use_download_button: true
  baseurl: https://example.org/book/
launch_buttons:
  binderhub_url: https://mybinder.org
sphinx:
  extra_extensions: [dlbook_build, sphinx_exercise]
  config:
    language: zh_CN
    dlbook_watch_paths: [pkg]
    dlbook_bundle_mathjax: false
    numfig: true
    math_numfig: true
    math_eqref_format: "式 ({number})"
    numfig_format:
      figure: "图 %s"
"""


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory):
    root = tmp_path_factory.mktemp("nbbook")
    (root / "_config.yml").write_text(CONFIG, encoding="utf-8")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: page\nchapters:\n  - file: glossary\n",
        encoding="utf-8",
    )
    (root / "page.md").write_text(PAGE, encoding="utf-8")
    (root / "glossary.md").write_text(GLOSSARY, encoding="utf-8")
    (root / "refs.bib").write_text(BIB, encoding="utf-8")
    (root / "pkg").mkdir()
    (root / "pkg" / "helper.py").write_text(HELPER, encoding="utf-8")
    pythonpath = os.pathsep.join(
        p for p in [str(root / "pkg"), os.environ.get("PYTHONPATH")] if p
    )
    env = book_env(PYTHONPATH=pythonpath)
    result = run_jupyter_book(".", cwd=root, timeout=600, env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    return root, log, env


def _markdown(path):
    text = path.read_text(encoding="utf-8")
    return json.loads(text), _markdown_text(text)


def _markdown_text(text):
    nb = json.loads(text)
    return "\n\n".join(
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
    )


@pytest.mark.slow
def test_tiny_book_notebooks_read_like_the_page(tiny_book):
    root, log, _ = tiny_book
    build = root / "_build"
    downloads = [
        build / "html" / "_sources" / "page.ipynb",
        build / "jupyter_execute" / "page.ipynb",
    ]
    for path in downloads:
        nb, text = _markdown(path)
        assert nbs.leftover_myst(nb) == [], path
        # 术语带英文，并链接到网站上的术语表
        assert (
            "[卷积核（convolution kernel）]"
            "(https://example.org/book/glossary.html#term-"
        ) in text
        assert "结果是 6，比例\n12.3%" in text
        assert "(LeCun et al., 1998)" in text
        assert "\\tag{1}" in text and "由式 (1)，见页面与图 1" in text
        assert "def _core(x):\n    # 书中展示的核心" in text
        assert "不该出现" not in text
        assert "> **注意**\n>\n> 一条提示，值为 6。" in text
        # 练习是带编号的引用块，提示与答案各自折叠
        assert "本节的第一题是练习 1。" in text
        assert "> **练习 1**\n>\n> 算一算" in text
        assert "> <summary>提示</summary>" in text
        assert "<summary>练习 1 的答案</summary>\n\n答案是 6" in text
        assert "*图 1：一条直线*" in text
    # 不认识的角色按文字输出，并有一条指明页面与角色的警告
    assert "编码见 8。" in text
    assert "笔记本导出" in log and "{pep}" in log
    assert "page" in log.split("{pep}")[0].splitlines()[-1]


@pytest.mark.slow
def test_tiny_book_exports_have_no_myst_and_execute(tiny_book, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    root, _, env = tiny_book
    build = root / "_build"
    exported = nbs.export(build, tmp_path / "plain")
    exported += colab.export_notebooks(
        build / "jupyter_execute",
        tmp_path / "colab",
        "https://github.com/a/b",
    )
    assert len(exported) == 4  # 两页 × 两种导出
    old = dict(os.environ)
    os.environ.update(env)
    try:
        for path in exported:
            nb, _ = _markdown(path)
            assert nbs.leftover_myst(nb) == [], path
            notebook = nbformat.read(path, as_version=4)
            nbformat.validate(notebook)
            NotebookClient(
                notebook, timeout=120, resources={"metadata": {"path": root}}
            ).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)


@pytest.mark.slow
def test_rebuild_reconverts_from_the_raw_notebook(tiny_book):
    """增量构建不重读页面时，从备份的原文重新转换（结果不变）。"""
    root, _, env = tiny_book
    path = root / "_build" / "jupyter_execute" / "page.ipynb"
    before = path.read_text(encoding="utf-8")
    result = run_jupyter_book(".", cwd=root, timeout=600, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert path.read_text(encoding="utf-8") == before
    raw = root / "_build" / nbs.RAW_DIR / "page.ipynb"
    assert "{glue:text}" in raw.read_text(encoding="utf-8")
    # PDF 构建重新读取页面时，myst-nb 把原始笔记本写回共用的
    # jupyter_execute；转换照样进行，Colab 版导出读到的仍是转换后的。
    result = run_jupyter_book(
        ".", "--builder", "latex", "--all", cwd=root, timeout=600, env=env
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert _markdown(path)[1] == _markdown_text(before)
