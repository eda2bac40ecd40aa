"""在 Sphinx 读取页面之前，用几个内核并行执行要读的页面，结果写进执行缓存。

Jupyter Book 1.x 的命令行不能让 Sphinx 并行读取（``jobs`` 固定为 1），
于是 myst-nb 一页接一页地执行笔记本：每页先花约 5 秒启动内核、导入
TensorFlow，再执行。本模块在 ``env-before-read-docs`` 时把这一轮要读的
页面中、执行缓存里还没有的那些，用 ``dlbook_execution_workers`` 个线程
（默认为 CPU 核数，至多 2）各自启动内核并行执行，成功的按 myst-nb 的方式
存进 jupyter-cache。随后 myst-nb 读到这些页面时直接命中缓存。

与 myst-nb 的做法逐项相同：笔记本用 myst-nb 的读取器从 ``.md`` 得到，
在临时目录中执行（``execution_in_temp``），时限与 ``execution_timeout``
相同，存入缓存时的 ``uri`` 与 ``execution_seconds`` 也相同。执行失败的页面
不存入缓存：myst-nb 随后照常执行它，并按原来的方式报告错误。
"""

import os
import time
from contextlib import nullcontext
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

from sphinx.util import logging

logger = logging.getLogger(__name__)


def default_workers() -> int:
    """并行执行的内核数：CPU 核数，至多 2（再多时各页抢 CPU，并不更快）。"""
    return max(1, min(2, os.cpu_count() or 1))


def _read_notebook(env, docname):
    """用 myst-nb 的读取器把页面读成笔记本；不是笔记本的页面返回 None。"""
    from myst_nb.core.read import create_nb_reader

    path = env.doc2path(docname)
    text = Path(path).read_text(encoding="utf-8")
    reader = create_nb_reader(
        str(path), env.myst_config, env.mystnb_config, text
    )
    if reader is None:
        return None
    notebook = reader.read(text)
    if not any(c.cell_type == "code" for c in notebook.cells):
        return None
    return path, notebook


def _execute(path, notebook, nb_config):
    from jupyter_cache.executors.utils import single_nb_execution

    # 与 myst-nb 相同：execution_in_temp 时在临时目录，否则在页面所在目录。
    temp = nb_config.execution_in_temp
    with (
        TemporaryDirectory()
        if temp
        else nullcontext(Path(path).parent) as cwd
    ):
        return single_nb_execution(
            notebook,
            cwd=os.path.abspath(cwd),
            allow_errors=nb_config.execution_allow_errors,
            timeout=nb_config.execution_timeout,
            meta_override=True,
        )


def pending_notebooks(env, docnames):
    """``docnames`` 中要执行而缓存里还没有的：[(页面, 路径, 笔记本)]。"""
    from jupyter_cache import get_cache

    nb_config = env.mystnb_config
    if nb_config.execution_mode != "cache":
        return []
    cache = get_cache(nb_config.execution_cache_path)
    pending = []
    for docname in docnames:
        found = _read_notebook(env, docname)
        if found is None:
            continue
        path, notebook = found
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            pending.append((docname, path, notebook))
    return pending


def on_env_before_read_docs(app, env, docnames) -> None:
    """并行执行这一轮要读、缓存中还没有的页面，并把结果存进缓存。"""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    workers = app.config.dlbook_execution_workers or default_workers()
    if workers < 2 or not hasattr(env, "mystnb_config"):
        return
    pending = pending_notebooks(env, sorted(docnames))
    if len(pending) < 2:
        return
    nb_config = env.mystnb_config
    cache = get_cache(nb_config.execution_cache_path)
    logger.info(
        "dlbook_build：用 %d 个内核并行执行 %d 页", workers, len(pending)
    )
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            (
                docname,
                path,
                notebook,
                pool.submit(_execute, path, notebook, nb_config),
            )
            for docname, path, notebook in pending
        ]
        for docname, path, notebook, future in futures:
            result = future.result()
            if result.err is not None:
                # 不存入缓存：myst-nb 读到这一页时再执行，照常报告错误。
                logger.info(
                    "dlbook_build：%s 并行执行失败，交给 myst-nb", docname
                )
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(
                    notebook,
                    str(path),
                    data={"execution_seconds": result.time},
                ),
                check_validity=False,
                overwrite=True,
            )
            logger.info(
                "dlbook_build：%s 执行了 %.1f 秒", docname, result.time
            )
    logger.info(
        "dlbook_build：并行执行共用 %.1f 秒", time.perf_counter() - start
    )
