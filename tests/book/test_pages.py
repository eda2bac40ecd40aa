"""书页的源文件：读者能在 JupyterLab 中把它们当笔记本打开，且格式统一。"""

import re

import jupytext
import pytest

from helpers import ROOT, toc_files

PAGES = toc_files()


@pytest.mark.parametrize("page", PAGES)
def test_jupytext_opens_page_as_myst_notebook(page):
    """不指定格式时 jupytext 也按 MyST 读取，代码单元一个不少。"""
    path = ROOT / f"{page}.md"
    text = path.read_text(encoding="utf-8")
    nb = jupytext.read(path)
    assert (
        nb.metadata["jupytext"]["text_representation"]["format_name"]
        == "myst"
    )
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == text.count("```{code-cell}"), page
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("page", PAGES)
def test_page_has_a_label_and_seeds_once(page):
    text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    assert re.search(r"^\((chap|sec)-[a-z0-9-]+\)=$", text, re.M), page
    if "```{code-cell}" in text:
        first = text.split("```{code-cell}", 1)[1].split("```", 1)[0]
        assert "import dlbook" in first and "dlbook.setup(" in first, page


@pytest.mark.parametrize("page", PAGES)
def test_no_hotlinked_images(page):
    text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    assert not re.search(r"!\[[^\]]*\]\(https?://", text), page
    assert not re.search(r"<img[^>]+src=\"https?://", text), page
    assert not re.search(r"\{(image|figure)\}\s*https?://", text), page


@pytest.mark.parametrize("page", PAGES)
def test_code_lines_fit_the_pdf(page):
    """代码单元与代码块每行不超过 78 个字符，PDF 中不会被截断。"""
    text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    too_long = []
    for block in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S):
        too_long += [ln for ln in block.splitlines() if len(ln) > 78]
    assert not too_long, too_long[:5]
