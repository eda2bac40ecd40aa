"""在后台把每页在新内核中重新执行一遍，供可复现性测试比对。

整本书构建完成后（``html_build``），若本次会话收集了
``tests/book/test_determinism.py`` 的测试，就在后台线程中重新执行这些页；
与此同时其余测试（浏览器、工具与单元测试，以及后台的 PDF 构建）照常
进行，可复现性测试排在会话的最后（见 ``conftest.py``），只需等待对应
页面的结果。

每页都在自己的新内核中执行，环境与构建时相同（:func:`helpers.book_env`）。
下一页的内核在本页执行时就已启动，并预先导入 dlbook 与 TensorFlow
（每页的第一个单元本来就做这件事），于是约 3 秒的导入与执行重叠。

两个线程各用一个内核同时执行（与构建相同，见 ``dlbook_build.parallel``），
按构建时记下的执行秒数从长到短领取页面：最长的几页最先开始，
最后剩下的都是短页，两个线程几乎同时结束。
"""

import tempfile
import threading
import time
from pathlib import Path

from helpers import ROOT, book_env

#: 预先在内核中执行的代码：与每页第一个单元的导入相同，导入 TensorFlow
#: 的方式也与 ``dlbook.setup`` 相同（导入期间暂停垃圾回收）。第一行降低
#: 内核（及页面启动的子进程）的优先级：重新执行只用前台测试剩下的 CPU，
#: 前台（浏览器、单元测试，一个接一个）与 PDF 构建不被它拖慢。优先级
#: 不影响输出；唯一比较快慢的单元（correlation 的计时）量的是进程的 CPU
#: 时间，别的进程抢走的时间不算在内。
PREWARM = (
    "__import__('os').nice(10)\n"
    "import dlbook\n"
    "from dlbook._subprocess import import_tensorflow_quickly\n"
    "import_tensorflow_quickly()\n"
    "del import_tensorflow_quickly\n"
    "import keras\n"
    "import tensorflow\n"
)


def built_seconds() -> dict[str, float]:
    """构建时每页的执行秒数（取自当前的执行缓存），键为页名（无后缀）。"""
    from jupyter_cache import get_cache

    caches = sorted(
        (ROOT / "_build" / ".jupyter_cache").glob("dlbook-*"),
        key=lambda d: d.stat().st_mtime_ns,
    )
    if not caches:
        return {}
    seconds = {}
    for record in get_cache(str(caches[-1])).list_cache_records():
        path = Path(record.uri)
        if path.is_relative_to(ROOT):
            page = str(path.relative_to(ROOT).with_suffix(""))
            seconds[page] = float(record.data.get("execution_seconds", 0))
    return seconds


class WarmKernel:
    """在后台线程中启动一个内核，并预先导入 dlbook 与 TensorFlow。"""

    def __init__(self):
        from jupyter_client.manager import KernelManager

        self.cwd = tempfile.TemporaryDirectory()
        self.km = KernelManager(kernel_name="python3")
        self.error = None
        self._thread = threading.Thread(target=self._start, daemon=True)
        self._thread.start()

    def _start(self):
        try:
            self._start_once()
        except Exception:
            # 偶尔两个内核同时挑中同一个空闲端口（ZMQ “address already in
            # use”）：换一组端口再试一次。
            try:
                if self.km.has_kernel:
                    self.km.shutdown_kernel(now=True)
                from jupyter_client.manager import KernelManager

                self.km = KernelManager(kernel_name="python3")
                self._start_once()
            except Exception as err:  # 在使用它的线程中重新抛出
                self.error = err

    def _start_once(self):
        self.km.start_kernel(cwd=self.cwd.name, env=book_env())
        kc = self.km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=300)
        reply = kc.execute_interactive(PREWARM, timeout=300)
        kc.stop_channels()
        assert reply["content"]["status"] == "ok", reply["content"]

    def ready(self):
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.km

    def close(self):
        if self.km.has_kernel:
            self.km.shutdown_kernel(now=True)
        self.cwd.cleanup()


class Reexecution:
    """重新执行若干页；``result(page)`` 等待并返回执行后的笔记本。"""

    def __init__(self, pages, workers=None):
        from dlbook_build.parallel import default_workers

        self.pages = list(pages)
        self.workers = workers or default_workers()
        self._done = {p: threading.Event() for p in self.pages}
        self._results = {}
        seconds = built_seconds()
        self._queue = sorted(
            self.pages, key=lambda p: seconds.get(p, 0.0), reverse=True
        )
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, daemon=True)
            for _ in range(self.workers)
        ]

    def start(self):
        self.started = time.monotonic()
        self.finished = None
        self.seconds = {}
        for thread in self._threads:
            thread.start()
        return self

    def summary(self) -> str:
        """一行耗时账：页数、各页执行秒数之和、从开始到全部完成的秒数。"""
        done = len(self.seconds)
        wall = (self.finished or time.monotonic()) - self.started
        return (
            f"重新执行 {done}/{len(self.pages)} 页，{self.workers} 个内核："
            f"各页合计 {sum(self.seconds.values()):.0f} 秒，"
            f"从开始到{'全部完成' if self.finished else '现在'} {wall:.0f} 秒"
        )

    def _next(self):
        with self._lock:
            return self._queue.pop(0) if self._queue else None

    def _run(self):
        import jupytext
        from nbclient import NotebookClient

        page = self._next()
        warm = WarmKernel() if page is not None else None
        while page is not None:
            following = self._next()
            upcoming = WarmKernel() if following is not None else None
            began = time.monotonic()
            try:
                nb = jupytext.read(ROOT / f"{page}.md")
                NotebookClient(
                    nb, km=warm.ready(), timeout=600, kernel_name="python3"
                ).execute()
                self._results[page] = nb
            except Exception as err:  # 交给对应的测试报告
                self._results[page] = err
            finally:
                warm.close()
                self.seconds[page] = time.monotonic() - began
                if len(self.seconds) == len(self.pages):
                    self.finished = time.monotonic()
                self._done[page].set()
            page, warm = following, upcoming

    def result(self, page, timeout=1800):
        """等待 ``page`` 执行完毕；返回笔记本，出错时抛出原来的异常。"""
        if not self._done[page].wait(timeout):
            raise TimeoutError(f"{page} 在 {timeout} 秒内没有执行完")
        value = self._results[page]
        if isinstance(value, Exception):
            raise value
        return value
