"""PDF 构建测试：XeLaTeX 排出中文 PDF，有“目录”，页面不是空白。

读者的机器上没有 xelatex 时跳过；CI（CI=true）中必须运行。
"""

import re
import subprocess

import pytest

from helpers import ROOT, skip_unless_tools

TOOLS = ("xelatex", "latexmk", "pdftotext", "pdftoppm")
MISSING = skip_unless_tools(
    *TOOLS, hint="安装 README 中列出的 TeX 软件包后即可运行"
)


@pytest.fixture(scope="module")
def pdf(pdf_build):
    """PDF 的路径。构建在 HTML 构建之后于后台进行（见 conftest）。"""
    assert not MISSING, f"CI 中缺少 {MISSING}：.ci/run 应当安装它们"
    path = ROOT / "_build" / "latex" / "book.pdf"
    log = pdf_build.stdout + pdf_build.stderr
    assert pdf_build.returncode == 0 and path.is_file(), log[-5000:]
    return path


def _text(pdf_path, *args):
    return subprocess.run(
        ["pdftotext", *args, str(pdf_path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_pdf_has_chinese_contents_and_body(pdf):
    text = _text(pdf)
    assert "目录" in text
    assert "前言" in text
    # 正文中的一整句中文（出现在前言第一段）。
    assert "这是一本可以执行的教科书" in text
    assert "Contents" not in text and "Chapter" not in text


def test_chapters_are_titled_in_chinese(pdf):
    text = _text(pdf, "-l", "5")  # 目录页
    chapters = re.findall(r"第\s*[一二三四五六七八九十]+\s*章", text)
    if any(p.startswith("book/") and p != "book/intro" for p in _toc()):
        assert chapters, text[:2000]


def _toc():
    from helpers import toc_files

    return toc_files()


def test_no_character_is_missing_from_the_pdf(pdf):
    """XeTeX 找不到字形时只在日志里记一笔，字就从 PDF 里漏掉了。

    包括 model.summary() 边框用的制表符（等宽字体 DejaVu Sans Mono 有），
    以及正文里 Latin Modern 没有的 δ、ℓ、≈、★ 等（``_config.yml`` 的
    LaTeX 导言把它们设成活动字符）。
    """
    log = (ROOT / "_build" / "latex" / "book.log").read_text(
        encoding="utf-8", errors="replace"
    )
    missing = re.findall(
        r"Missing character: There is no (.) .*font (\S+)", log
    )
    assert not missing, (
        f"PDF 漏印了 {sorted(set(missing))}（字符，字体）：在 _config.yml 的 "
        "latex_elements.preamble 里把它们设成活动字符，换成数学符号或 "
        "DejaVu Sans 的字形"
    )


def test_pages_are_not_blank(pdf, tmp_path):
    from PIL import Image

    subprocess.run(
        ["pdftoppm", "-r", "20", "-gray", str(pdf), str(tmp_path / "p")],
        check=True,
    )
    pages = sorted(tmp_path.glob("p*.pgm"))
    assert len(pages) >= 5
    # 最暗的像素仍接近白色（>= 200）的页面是空白页。
    blank = [p.name for p in pages if Image.open(p).getextrema()[0] >= 200]
    # Sphinx 的 book 类在章与章之间插入空白页（双面印刷），它们最多占一小半。
    assert len(blank) < len(pages) / 2, blank
