"""dlbook_build.parallel：页面先被并行执行并存入缓存，myst-nb 直接命中。"""

import pytest
from tinybook import HEADER, make_book

from dlbook_build import parallel
from helpers import book_env, run_jupyter_book

PAGE = (
    HEADER
    + """
```{code-cell} ipython3
import os
import helper
# 与 myst-nb 相同的工作目录：本书没有设 run_in_temp，于是在页面所在目录
print(f"PAGE={os.path.exists('two.md')}-{helper.VALUE}")
```
"""
)


def test_default_workers_is_at_most_two(monkeypatch):
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 16)
    assert parallel.default_workers() == 2
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 1)
    assert parallel.default_workers() == 1


@pytest.mark.slow
def test_pages_are_executed_in_parallel_then_read_from_the_cache(tmp_path):
    make_book(tmp_path, with_extension=True)
    for name in ("two", "three"):
        (tmp_path / f"{name}.md").write_text(PAGE, encoding="utf-8")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: page\nchapters:\n"
        "  - file: two\n  - file: three\n",
        encoding="utf-8",
    )
    env = book_env(PYTHONPATH=str(tmp_path / "pkg"))
    result = run_jupyter_book(".", "-v", cwd=tmp_path, timeout=600, env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "用 2 个内核并行执行 3 页" in log
    # myst-nb 没有再执行任何一页：三页都直接取自缓存。
    assert log.count("Using cached notebook") == 3, log[-3000:]
    assert "Executing notebook" not in log
    for name in ("two", "three"):
        html = (tmp_path / "_build" / "html" / f"{name}.html").read_text()
        assert "PAGE=True-1" in html
