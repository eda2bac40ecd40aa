"""pytest 的共用设置：整本书的构建（会话内一次）与 slow 标记。

- ``tests/unit``：dlbook 各模块的单元测试；
- ``tests/tooling``：构建扩展 dlbook_build 的测试；
- ``tests/book``：整本书的构建、PDF、浏览器与可复现性测试。

用到整本书构建（``html_build``、``pdf``）的测试自动标为 ``slow``，
于是 ``python -m pytest -m "not slow"`` 不构建书。
"""

import time

import pytest

from helpers import ROOT, run_jupyter_book

#: 用到这些 fixture 的测试要构建整本书。
BOOK_FIXTURES = {"html_build", "pdf"}


def pytest_collection_modifyitems(config, items):
    slow = pytest.mark.slow
    for item in items:
        if BOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(slow)
    # 可复现性测试放到最后：它们只是等待后台的重新执行，排在最后时，
    # 等待之前的 PDF、工具与单元测试都与重新执行同时进行。
    items.sort(
        key=lambda item: "reexecution" in getattr(item, "fixturenames", ())
    )
    # 记下本次要比对的页面：整本书一构建完就在后台重新执行它们。
    config.dlbook_reexecute = [
        item.callspec.params["page"]
        for item in items
        if "reexecution" in getattr(item, "fixturenames", ())
    ]


def pytest_runtest_setup(item):
    """可复现性测试排在最后：第一个开始时，其余测试都已跑完，空出一个核。"""
    if "reexecution" in getattr(item, "fixturenames", ()):
        from reexecution import signal_done

        signal_done()


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
    from reexecution import Reexecution, signal_done

    if result.returncode == 0 and pages:
        request.config.dlbook_reexecution = Reexecution(pages).start()
    else:
        signal_done()
    return result, ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def reexecution(request, html_build):
    """后台重新执行的结果（见 ``tests/reexecution.py``）。"""
    running = getattr(request.config, "dlbook_reexecution", None)
    assert running is not None, "整本书没有构建成功，无从比对"
    return running


def pytest_terminal_summary(terminalreporter, config):
    """报告整本书构建与后台重新执行的耗时（CI 的耗时账）。"""
    built = getattr(config, "dlbook_build_seconds", None)
    if built is not None:
        terminalreporter.write_line(f"[dlbook] 整本书构建 {built:.0f} 秒")
    running = getattr(config, "dlbook_reexecution", None)
    if running is not None:
        terminalreporter.write_line(f"[dlbook] {running.summary()}")
