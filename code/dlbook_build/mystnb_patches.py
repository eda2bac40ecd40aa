"""myst-nb 1.4.0 的两处缺陷的补丁，各带版本与私有名称的守卫。

1. 流输出的合并（:func:`coalesce_streams`）。myst-nb 的合并函数
   （``myst_nb/core/utils.py``）先去掉每块末尾的空白再补换行，一行字
   可能在网页上被拆成两行；它还就地改动第一个输出对象，写出的 .ipynb
   把同一段话保存两遍。
2. 缓存命中时写出无输出的笔记本（:func:`_patch_cached_client`）。
   ``myst_nb/sphinx_.py`` 把解析器手里的原件写进 ``jupyter_execute``，
   而缓存的输出只合并进了客户端的副本。

两个补丁都依赖 myst-nb 的私有名称。若版本或这些名称变了，构建立即停止
并说出是哪一个（:class:`UpstreamChanged`），而不是悄悄失效；请检查上游
是否已修好，修好了就删去对应的补丁。``tests/tooling`` 中不加载本扩展的
对照组会在上游修好时失败，提醒这一点。
"""

import copy

#: 本补丁针对并检验过的 myst-nb 版本。
MYST_NB_VERSIONS = ("1.4.0",)


class UpstreamChanged(RuntimeError):
    """补丁所依赖的上游代码变了：补丁可能已无效或不再需要。"""


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise UpstreamChanged(
            f"dlbook_build 的 myst-nb 补丁依赖 {what}，但已安装的 myst-nb "
            "不再如此。请查看 code/dlbook_build/mystnb_patches.py 的说明："
            "若上游已修好这个缺陷，删去对应补丁；否则按新代码改写它。"
        )


def check_upstream() -> None:
    """核对 myst-nb 的版本与补丁用到的私有名称，不符则抛出异常。"""
    import myst_nb
    from myst_nb.core import render, utils
    from myst_nb.core.execute import base, cache

    _require(
        myst_nb.__version__ in MYST_NB_VERSIONS,
        f"myst-nb 版本 {' / '.join(MYST_NB_VERSIONS)}"
        f"（已安装 {myst_nb.__version__}）",
    )
    current = render.coalesce_streams
    _require(
        current is utils.coalesce_streams or current is coalesce_streams,
        "myst_nb.core.render 模块级的名称 coalesce_streams",
    )
    _require(
        callable(getattr(cache.NotebookClientCache, "start_client", None)),
        "myst_nb.core.execute.cache.NotebookClientCache.start_client",
    )
    _require(
        "_notebook" in base.NotebookClientBase.__init__.__code__.co_names,
        "NotebookClientBase 的私有属性 _notebook",
    )


def coalesce_streams(outputs: list) -> list:
    """合并同名的流输出，不改动传入的输出对象，也不在块之间插入换行。

    内核把一次 ``print`` 的文字分几块发出是常事。这里先把各块原样拼接，
    再交给 myst-nb 的函数处理退格、回车与 stdout/stderr 的顺序。
    """
    from myst_nb.core.utils import coalesce_streams as myst_coalesce

    joined, first = [], {}
    for out in copy.deepcopy(list(outputs)):
        if out["output_type"] == "stream":
            if out["name"] in first:
                first[out["name"]]["text"] += out["text"]
                continue
            first[out["name"]] = out
        joined.append(out)
    return myst_coalesce(joined)


def _patch_cached_client() -> None:
    """缓存命中时，把客户端副本中的输出复制回解析器持有的原件。"""
    from myst_nb.core.execute.cache import NotebookClientCache

    if getattr(NotebookClientCache.start_client, "_dlbook", False):
        return
    original = NotebookClientCache.start_client

    def start_client(self):
        source = self._notebook
        original(self)
        merged = self._notebook
        if merged is source:
            return
        _require(
            len(merged.cells) == len(source.cells),
            "缓存合并后的笔记本与原件单元数相同",
        )
        for cell, done in zip(source.cells, merged.cells, strict=True):
            if cell.cell_type == "code" and done.cell_type == "code":
                cell.outputs = done.outputs
                cell.execution_count = done.get("execution_count")
        self._notebook = source

    start_client._dlbook = True
    NotebookClientCache.start_client = start_client


def install() -> None:
    """核对上游，然后装上两个补丁（可重复调用）。"""
    from myst_nb.core import render

    check_upstream()
    render.coalesce_streams = coalesce_streams
    _patch_cached_client()
