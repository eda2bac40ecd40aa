"""整本书的构建测试：零警告、每页都执行、网站自给自足、中文可搜索。"""

import json
import re

import pytest

from helpers import ROOT, toc_files

#: TensorFlow / absl / oneDNN 的日志特征。
TF_LOG = re.compile(
    r"oneDNN custom operations|absl::InitializeLog|cpu_feature_guard"
    r"|[IWEF]0000 00:00|Unable to register cu(DNN|FFT|BLAS)"
    r"|could not open file to read NUMA"
)
#: 读 ``_build/jupyter_execute`` 的测试：后台的 PDF 构建等它们跑完才开始，
#: 因为它会重写那些笔记本（见 tests/conftest.py）。
READS_NOTEBOOKS = pytest.mark.reads_executed_notebooks

#: 会让浏览器向外部主机发出请求的资源引用。
EXTERNAL_ASSET = re.compile(
    r"<(script|img|iframe|source|audio|video)\b[^>]*\bsrc=\"(https?:)?//"
    r"|<link\b[^>]*\bhref=\"(https?:)?//[^\"]*\"[^>]*>"
)


def _html_pages(html_dir):
    return sorted(html_dir.rglob("*.html"))


def test_build_succeeds_with_zero_warnings(html_build):
    result, _ = html_build
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    # Sphinx 的警告形如 “WARNING: ...”；内核启动时的
    # “[IPKernelApp] WARNING | ...” 不是构建警告。
    warnings = [line for line in log.splitlines() if "WARNING:" in line]
    assert not warnings, "\n".join(warnings[:20])


def test_every_toc_page_is_built(html_build):
    _, html_dir = html_build
    for page in toc_files():
        assert (html_dir / f"{page}.html").is_file(), page


@READS_NOTEBOOKS
def test_every_code_cell_was_executed(html_build):
    """每个代码单元都有执行记录：构建产物里的笔记本没有未执行的单元。"""
    import nbformat

    _, html_dir = html_build
    executed = ROOT / "_build" / "jupyter_execute"
    for page in toc_files():
        source = (ROOT / f"{page}.md").read_text(encoding="utf-8")
        n_cells = source.count("```{code-cell}")
        nb_path = executed / f"{page}.ipynb"
        if n_cells == 0:  # 没有代码单元的页面（如参考文献）
            continue
        nb = nbformat.read(nb_path, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        assert len(cells) == n_cells, page
        for cell in cells:
            assert cell.get("execution_count"), (page, cell.source[:80])


@READS_NOTEBOOKS
def test_every_figure_cell_shows_an_image(html_build):
    """标了图题（``mystnb: figure``）的代码单元都真的输出了一张图。"""
    import nbformat

    executed = ROOT / "_build" / "jupyter_execute"
    missing = []
    for page in toc_files():
        path = executed / f"{page}.ipynb"
        if not path.is_file():
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("mystnb", {})
            if cell.cell_type != "code" or "figure" not in meta:
                continue
            kinds = {
                kind for out in cell.outputs for kind in out.get("data", {})
            }
            if not kinds & {"image/png", "image/svg+xml", "text/html"}:
                missing.append((page, meta["figure"].get("name")))
    assert not missing, f"这些图没有输出：{missing}"


def test_no_tensorflow_log_lines_in_pages(html_build):
    _, html_dir = html_build
    for page in _html_pages(html_dir):
        match = TF_LOG.search(page.read_text(encoding="utf-8"))
        assert match is None, (page, match and match.group(0))


def test_no_third_party_assets(html_build):
    _, html_dir = html_build
    for page in _html_pages(html_dir):
        text = page.read_text(encoding="utf-8")
        for m in EXTERNAL_ASSET.finditer(text):
            tag = m.group(0)
            # 读者点击的普通链接可以指向外部；样式、脚本、字体和图片不行。
            if tag.startswith("<link") and not re.search(
                r'rel="(stylesheet|preload|icon|modulepreload)"', tag
            ):
                continue
            pytest.fail(f"{page.relative_to(html_dir)} 引用外部资源：{tag}")
    for css in html_dir.rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), css


def test_mathjax_is_served_from_the_build(html_build):
    _, html_dir = html_build
    intro = (html_dir / "book" / "intro.html").read_text(encoding="utf-8")
    src = re.search(r'<script[^>]+src="([^"]*tex-chtml\.js)[^"]*"', intro)
    assert src, "页面没有加载 MathJax"
    target = (html_dir / "book" / src.group(1)).resolve()
    assert target.is_file(), target
    fonts = html_dir / "mathjax" / "es5" / "output" / "chtml" / "fonts"
    assert any(fonts.rglob("*.woff")), "MathJax 字体没有复制到网站中"


#: 整个网站的大小上限（字节）：MathJax 只随网站发布用到的部分。
SITE_LIMIT = 15 * 1024 * 1024


def test_site_is_light(html_build):
    _, html_dir = html_build
    sizes = {p: p.stat().st_size for p in html_dir.rglob("*") if p.is_file()}
    total = sum(sizes.values())
    biggest = [
        (str(p.relative_to(html_dir)), sizes[p])
        for p in sorted(sizes, key=sizes.get, reverse=True)[:5]
    ]
    assert total <= SITE_LIMIT, (
        f"网站共 {total / 2**20:.1f} MB，超过 {SITE_LIMIT / 2**20:.0f} MB；"
        f"最大的文件：{biggest}"
    )
    mathjax = sum(s for p, s in sizes.items() if "mathjax" in p.parts)
    assert mathjax < 4 * 1024 * 1024, f"MathJax 占 {mathjax} 字节"


def test_no_inline_script_is_registered_twice(html_build):
    """同一段内联脚本出现两次会让浏览器报“已声明”的错误。

    sphinx-thebe 会重复注册 ``const THEBE_JS_URL``；
    ``dlbook_build.html_fixes.dedupe_inline_scripts`` 去掉第二段。
    """
    _, html_dir = html_build
    for page in _html_pages(html_dir):
        text = page.read_text(encoding="utf-8")
        consts = re.findall(r"\bconst\s+([A-Za-z_]\w*)\s*=", text)
        dup = {c for c in consts if consts.count(c) > 1}
        assert not dup, (page.relative_to(html_dir), dup)


def test_search_index_holds_chinese_terms(html_build):
    _, html_dir = html_build
    text = (html_dir / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(text[text.index("(") + 1 : text.rindex(")")])
    terms = set(index["terms"]) | set(index.get("titleterms", {}))
    expected = {"数据", "训练", "前言"}
    pages = set(toc_files())
    if any(p.startswith("book/convnets") for p in pages):
        expected |= {"卷积", "池化"}
    if any(p.startswith("book/backprop") for p in pages):
        expected |= {"反向", "传播", "梯度"}
    if any(p.startswith("book/saving") for p in pages):
        expected |= {"检查点", "权重"}
    missing = expected - terms
    assert not missing, f"搜索索引缺少这些中文词：{missing}"


def test_site_language_is_chinese(html_build):
    _, html_dir = html_build
    intro = (html_dir / "book" / "intro.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN"' in intro or '<html lang="zh_CN"' in intro


def test_figures_have_alt_text(html_build):
    _, html_dir = html_build
    for page in _html_pages(html_dir):
        for img in re.findall(r"<img\b[^>]*>", page.read_text("utf-8")):
            alt = re.search(r'\balt="([^"]*)"', img)
            assert alt and alt.group(1).strip(), (page.name, img[:120])


def _launch_links(html: str) -> dict[str, str]:
    """页面“启动”菜单中的按钮：{文字: 网址}。"""
    menu = re.search(
        r'<div class="dropdown dropdown-launch-buttons">.*?</ul>',
        html,
        re.S,
    )
    if menu is None:
        return {}
    return {
        text.strip(): url.replace("&amp;", "&")
        for url, text in re.findall(
            r'<a href="([^"]+)"[^>]*>.*?<span class="btn__text-container">'
            r"([^<]+)</span>",
            menu.group(0),
            re.S,
        )
    }


@READS_NOTEBOOKS
def test_every_executable_page_has_binder_and_colab(html_build, tmp_path):
    """每个含代码的页面都能在 Binder 与 Colab 中打开，也能下载 .ipynb。

    带 jupytext 文件头的纯文字页面（如术语表）也是笔记本，同样有按钮，
    按钮也必须有效。

    Colab 按钮指向 _config.yml 所设分支上的同名笔记本；这里用构建出的
    笔记本跑一遍导出（与发布工作流相同），确认按钮指向的文件确实会存在。
    """
    from dlbook_build.colab import (
        COLAB_URL,
        SETUP_TAG,
        configured_branch,
        export_notebooks,
    )

    _, html_dir = html_build
    repo = "https://github.com/dlbook-zh/lesson12"
    out = tmp_path / "colab"
    export_notebooks(ROOT / "_build" / "jupyter_execute", out, repo, "main")
    branch = configured_branch(ROOT / "_config.yml")
    prefix = f"{COLAB_URL}/dlbook-zh/lesson12/blob/{branch}/"
    checked = 0
    for page in toc_files():
        source = (ROOT / f"{page}.md").read_text(encoding="utf-8")
        html = (html_dir / f"{page}.html").read_text(encoding="utf-8")
        links = _launch_links(html)
        if "```{code-cell}" not in source and not links:
            continue  # 没有代码、也不是笔记本的页面（如参考文献）
        assert links.get("Binder", "").startswith(
            "https://mybinder.org/v2/gh/dlbook-zh/lesson12/main?"
        ), (page, links)
        assert links["Binder"].endswith(f"{page}.md"), links
        assert links.get("Colab") == f"{prefix}{page}.ipynb", (page, links)
        notebook = json.loads(
            (out / f"{page}.ipynb").read_text(encoding="utf-8")
        )
        assert SETUP_TAG in notebook["cells"][0]["metadata"]["tags"], page
        # 下载按钮指向的 .ipynb 存在，并且带着执行结果。
        assert f'_sources/{page}.ipynb"' in html, page
        download = json.loads(
            (html_dir / "_sources" / f"{page}.ipynb").read_text("utf-8")
        )
        code = [c for c in download["cells"] if c["cell_type"] == "code"]
        assert all(c.get("execution_count") for c in code), page
        checked += 1
    assert checked >= 20, checked
    assert "book.pdf" in (html_dir / "book" / "intro.html").read_text("utf-8")


@READS_NOTEBOOKS
def test_reader_notebooks_have_no_myst_left(html_build, tmp_path):
    """下载的 .ipynb、jupyter_execute 与命令行导出的笔记本都读起来和网页
    一样：没有 MyST 角色、指令围栏与 (label)= 行；代码与数值都已展开。"""
    from dlbook_build import notebooks

    _, html_dir = html_build
    exported = notebooks.export(ROOT / "_build", tmp_path / "plain")
    downloads = sorted((html_dir / "_sources").rglob("*.ipynb"))
    assert len(exported) >= 20 and len(downloads) >= 20
    problems = []
    for path in [*exported, *downloads]:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if not nb["metadata"].get(notebooks.MARK):
            problems.append(f"{path}: 没有转换")
        problems += [f"{path}: {p}" for p in notebooks.leftover_myst(nb)]
    assert not problems, "\n".join(problems[:30])
    # 一页实例：被讲解的代码与正文的数字都在笔记本里
    page = json.loads(
        (html_dir / "_sources/book/convnets/pooling.ipynb").read_text("utf-8")
    )
    text = "\n".join(
        "".join(c["source"]) for c in page["cells"]
        if c["cell_type"] == "markdown"
    )  # fmt: skip
    assert "```python\ndef " in text and "\\tag{" in text
    assert "<details>" in text and "（pooling layer）" in text
