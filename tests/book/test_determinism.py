"""两次执行打印相同的数字：把每页在新内核中重新执行一遍，与构建结果比对。

构建产物 ``_build/jupyter_execute/**/*.ipynb`` 是第一次执行的结果；这里用
nbclient 在临时目录中再执行一次，逐个单元比较文本输出。训练日志里的
耗时（如 ``12ms/step``、``耗时 3.2 秒``）本来就随机器负载变化，比较前
会被替换成占位符；其余数字必须逐字相同。

每页都在自己的新内核中执行，环境与构建时相同（:func:`helpers.book_env`）。
为了省时间，下一页的内核在本页执行时就已启动，并预先导入 dlbook 与
TensorFlow（每页的第一个单元本来就做这件事），于是约 5 秒的 TensorFlow
导入与上一页的执行重叠。
"""

import re
import tempfile
import threading

import nbformat
import pytest
from nbclient import NotebookClient

from dlbook_build import coalesce_streams
from helpers import ROOT, book_env, toc_files

#: 与耗时有关、允许不同的片段。
TIMING = re.compile(
    r"\d+(\.\d+)?\s*(ms|us|µs|s|秒)(/step|/epoch|/sample)?\b"
    r"|耗时[^\n]*|用时[^\n]*|Wall time[^\n]*|CPU times[^\n]*"
)
#: 临时目录与内存地址也会变。
VOLATILE = re.compile(r"/tmp/[^\s'\"]+|0x[0-9a-f]{6,}")


def _normalise(text: str) -> str:
    return VOLATILE.sub("<路径>", TIMING.sub("<耗时>", text))


def _text_outputs(outputs) -> list[str]:
    """文本输出；流输出先按 myst-nb 的方式合并（构建时 nb_merge_streams）。"""
    texts = []
    for out in coalesce_streams(outputs):
        if out.output_type == "stream":
            texts.append(out.text)
        elif "data" in out and "text/plain" in out["data"]:
            if "image/png" in out["data"]:
                continue  # 图像的文字描述含对象地址
            texts.append(out["data"]["text/plain"])
        elif out.output_type == "error":
            texts.append(f"{out.ename}: {out.evalue}")
    return [_normalise(t) for t in texts]


PAGES = [
    p
    for p in toc_files()
    if "{code-cell}" in (ROOT / f"{p}.md").read_text(encoding="utf-8")
]


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
            self.km.start_kernel(cwd=self.cwd.name, env=book_env())
            kc = self.km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=120)
            reply = kc.execute_interactive(PREWARM, timeout=120)
            kc.stop_channels()
            assert reply["content"]["status"] == "ok", reply["content"]
        except Exception as err:  # 在主线程中重新抛出
            self.error = err

    def ready(self):
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.km

    def close(self):
        if self.km.has_kernel:
            self.km.shutdown_kernel(now=True)
        self.cwd.cleanup()


@pytest.fixture(scope="module")
def kernels():
    """按页面顺序供应内核：取走一个时，下一个已在后台启动。"""
    pool = [WarmKernel()]

    def take():
        pool.append(WarmKernel())
        return pool[-2]

    yield take
    for k in pool:
        k.close()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_reexecution_prints_the_same_numbers(html_build, kernels, page):
    import jupytext

    result, _ = html_build
    assert result.returncode == 0, "构建失败，见 test_book"
    built = nbformat.read(
        ROOT / "_build" / "jupyter_execute" / f"{page}.ipynb", as_version=4
    )
    nb = jupytext.read(ROOT / f"{page}.md")
    warm = kernels()
    NotebookClient(
        nb, km=warm.ready(), timeout=600, kernel_name="python3"
    ).execute()
    warm.close()
    first = [c for c in built.cells if c.cell_type == "code"]
    second = [c for c in nb.cells if c.cell_type == "code"]
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert _text_outputs(a.outputs) == _text_outputs(b.outputs), a.source[
            :200
        ]
