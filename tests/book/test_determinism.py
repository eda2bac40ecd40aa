"""两次执行打印相同的数字：把每页在新内核中重新执行一遍，与构建结果比对。

构建产物 ``_build/jupyter_execute/**/*.ipynb`` 是第一次执行的结果；这里用
nbclient 在临时目录中再执行一次，逐个单元比较文本输出。训练日志里的
耗时（如 ``12ms/step``、``耗时 3.2 秒``）本来就随机器负载变化，比较前
会被替换成占位符；其余数字必须逐字相同。

重新执行在整本书构建完成后就在后台开始（见 ``tests/reexecution.py``），
与浏览器、PDF 测试同时进行；这里只等待并比对结果。
"""

import re

import nbformat
import pytest

from dlbook_build import coalesce_streams
from helpers import ROOT, toc_files

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


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_reexecution_prints_the_same_numbers(html_build, reexecution, page):
    result, _ = html_build
    assert result.returncode == 0, "构建失败，见 test_book"
    built = nbformat.read(
        ROOT / "_build" / "jupyter_execute" / f"{page}.ipynb", as_version=4
    )
    nb = reexecution.result(page)
    first = [c for c in built.cells if c.cell_type == "code"]
    second = [c for c in nb.cells if c.cell_type == "code"]
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert _text_outputs(a.outputs) == _text_outputs(b.outputs), a.source[
            :200
        ]
