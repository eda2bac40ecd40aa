"""在后台把每页在新内核中重新执行一遍，供可复现性测试比对。

整本书构建完成后（``html_build``），若本次会话收集了
``tests/book/test_determinism.py`` 的测试，就在后台线程中按目录顺序
重新执行每一页；与此同时浏览器与 PDF 测试照常进行。可复现性测试只需
等待对应页面的结果。

每页都在自己的新内核中执行，环境与构建时相同（:func:`helpers.book_env`）。
下一页的内核在本页执行时就已启动，并预先导入 dlbook 与 TensorFlow
（每页的第一个单元本来就做这件事），于是约 5 秒的导入与执行重叠。
"""

import tempfile
import threading

from helpers import ROOT, book_env

#: 预先在内核中执行的代码：与每页第一个单元的导入相同。
PREWARM = "import dlbook\nimport keras\nimport tensorflow\n"


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
    """按顺序重新执行若干页；``result(page)`` 等待并返回执行后的笔记本。"""

    def __init__(self, pages):
        self.pages = list(pages)
        self._done = {p: threading.Event() for p in self.pages}
        self._results = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        import jupytext
        from nbclient import NotebookClient

        warm = WarmKernel()
        for i, page in enumerate(self.pages):
            following = WarmKernel() if i + 1 < len(self.pages) else None
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
                self._done[page].set()
            warm = following

    def result(self, page, timeout=1800):
        """等待 ``page`` 执行完毕；返回笔记本，出错时抛出原来的异常。"""
        if not self._done[page].wait(timeout):
            raise TimeoutError(f"{page} 在 {timeout} 秒内没有执行完")
        value = self._results[page]
        if isinstance(value, Exception):
            raise value
        return value
