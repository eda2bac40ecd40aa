"""pytest 的共用设置：整本书的构建（会话内一次）与 slow 标记。

- ``tests/unit``：dlbook 各模块的单元测试；
- ``tests/tooling``：构建扩展 dlbook_build 的测试；
- ``tests/book``：整本书的构建、PDF、浏览器与可复现性测试。

用到整本书构建（``html_build``、``pdf``）的测试自动标为 ``slow``，
于是 ``python -m pytest -m "not slow"`` 不构建书。

HTML 构建之后，两件事在后台进行，与其余测试同时：每页在新内核中的
重新执行（可复现性测试等它，见 ``tests/reexecution.py``），以及 PDF
构建（PDF 测试等它）。PDF 构建会重写 ``_build/jupyter_execute`` 中的
笔记本，所以要等读这些笔记本的测试（标了 ``reads_executed_notebooks``）
都跑完才开始；可复现性测试也读它们，排在最后，先等 PDF 构建结束。
"""

import shutil
import time

import pytest

from helpers import ROOT, BackgroundBuild, run_jupyter_book

#: 用到这些 fixture 的测试要构建整本书。
BOOK_FIXTURES = {"html_build", "pdf_build"}


def pytest_collection_modifyitems(config, items):
    slow = pytest.mark.slow
    for item in items:
        if BOOK_FIXTURES & set(_fixtures(item)):
            item.add_marker(slow)
    # 顺序：先是不用整本书构建的测试（单元、工具……），再是用构建的，
    # 可复现性测试在最后。构建之后，后台的重新执行与 PDF 构建同前台的
    # 测试一起用满两个核；可复现性测试只是等重新执行做完，排在最后时，
    # 会话结尾两个内核仍在执行，不会只剩前台一条线在跑。
    items.sort(key=_phase)
    # 记下本次要比对的页面：整本书一构建完就在后台重新执行它们。
    config.dlbook_reexecute = [
        item.callspec.params["page"]
        for item in items
        if "reexecution" in _fixtures(item)
    ]


def _fixtures(item):
    return getattr(item, "fixturenames", ())


def _phase(item) -> int:
    fixtures = set(_fixtures(item))
    if "reexecution" in fixtures:
        return 2
    return 1 if BOOK_FIXTURES & fixtures else 0


def pytest_runtest_setup(item):
    """读构建出的笔记本的最后一个测试之后，在后台开始 PDF 构建。"""
    pdf = getattr(item.config, "dlbook_pdf", None)
    if pdf is not None and not pdf.started:
        if item.session.items.index(item) > item.config.dlbook_last_reader:
            _start_pdf(pdf)


def _start_pdf(pdf: BackgroundBuild) -> None:
    shutil.rmtree(ROOT / "_build" / "latex", ignore_errors=True)
    pdf.start()


@pytest.fixture(scope="session")
def html_build(request):
    """用与 README 相同的参数构建 HTML，返回 (结果, 输出目录)。

    ``--all`` 让 Sphinx 重新读取每一页（执行缓存仍然有效，不会重新执行
    未变的页面），于是警告一定在这次构建中重新出现，测试不会检查到
    之前某次构建留下的陈旧产物。
    """
    start = time.monotonic()
    result = run_jupyter_book(".", "--all", "-W", "-n", "--keep-going")
    request.config.dlbook_build_seconds = time.monotonic() - start
    pages = request.config.dlbook_reexecute
    from reexecution import Reexecution

    if result.returncode == 0 and pages:
        request.config.dlbook_reexecution = Reexecution(pages).start()
    items = request.session.items
    wants_pdf = any("pdf_build" in _fixtures(i) for i in items)
    if result.returncode == 0 and wants_pdf:
        # 读构建出的笔记本的最后一个测试之后，在后台构建 PDF。
        request.config.dlbook_last_reader = max(
            (
                n
                for n, i in enumerate(items)
                if i.get_closest_marker("reads_executed_notebooks")
            ),
            default=-1,
        )
        request.config.dlbook_pdf = BackgroundBuild(*PDF_ARGS)
    return result, ROOT / "_build" / "html"


#: PDF 构建的参数（与 README 相同）。
PDF_ARGS = (".", "--builder", "pdflatex", "-W", "-n", "--keep-going")


@pytest.fixture(scope="session")
def pdf_build(request, html_build):
    """PDF 构建的结果（CompletedProcess）：等后台构建结束；没有就现在构建。"""
    pdf = getattr(request.config, "dlbook_pdf", None)
    if pdf is None:
        pdf = request.config.dlbook_pdf = BackgroundBuild(*PDF_ARGS)
    if not pdf.started:
        _start_pdf(pdf)
    return pdf.wait()


@pytest.fixture(scope="session")
def reexecution(request, html_build):
    """后台重新执行的结果（见 ``tests/reexecution.py``）。"""
    running = getattr(request.config, "dlbook_reexecution", None)
    assert running is not None, "整本书没有构建成功，无从比对"
    pdf = getattr(request.config, "dlbook_pdf", None)
    if pdf is not None and pdf.started:
        pdf.wait()  # 它会重写要比对的笔记本
    return running


def pytest_terminal_summary(terminalreporter, config):
    """报告整本书构建、PDF 构建与后台重新执行的耗时（CI 的耗时账）。"""
    built = getattr(config, "dlbook_build_seconds", None)
    if built is not None:
        terminalreporter.write_line(f"[dlbook] 整本书构建 {built:.0f} 秒")
    pdf = getattr(config, "dlbook_pdf", None)
    if pdf is not None and pdf.seconds is not None:
        terminalreporter.write_line(f"[dlbook] PDF 构建 {pdf.seconds:.0f} 秒")
    running = getattr(config, "dlbook_reexecution", None)
    if running is not None:
        terminalreporter.write_line(f"[dlbook] {running.summary()}")
