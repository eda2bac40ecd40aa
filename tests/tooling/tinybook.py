"""在临时目录里搭一本只有一页的小书，用来检验构建扩展的效果。"""

import json
import os
import textwrap

from helpers import book_env, run_jupyter_book

#: 每页开头的 jupytext 文件头：让 myst-nb 把页面当作笔记本。
FRONT_MATTER = """\
---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""

HEADER = FRONT_MATTER + "# 页面\n"

CELLS = """
```{code-cell} ipython3
import uuid

import helper
print(f"VALUE={helper.VALUE}")
print(f"NONCE={uuid.uuid4().hex}")
```

```{code-cell} ipython3
import time
print("前半", end="", flush=True)
time.sleep(0.5)
print("后半")
```
"""


def make_book(root, with_extension: bool) -> None:
    """写出 ``_config.yml``、``_toc.yml``、``page.md`` 与被监视的包。"""
    extensions = (
        "  extra_extensions: [dlbook_build]\n" if with_extension else ""
    )
    config = textwrap.dedent(
        """\
        title: 测试
        only_build_toc_files: true
        execute:
          execute_notebooks: cache
        sphinx:
        {ext}  config:
            nb_merge_streams: true
            dlbook_watch_paths: [pkg]
            dlbook_bundle_mathjax: false
        """
    ).format(ext=extensions)
    (root / "_config.yml").write_text(config, encoding="utf-8")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: page\n", encoding="utf-8"
    )
    (root / "page.md").write_text(HEADER + CELLS, encoding="utf-8")
    (root / "pkg").mkdir()
    (root / "pkg" / "helper.py").write_text("VALUE = 1\n", encoding="utf-8")


def build(root, **env) -> str:
    """构建小书，返回页面的 HTML。"""
    pythonpath = os.pathsep.join(
        p for p in [str(root / "pkg"), os.environ.get("PYTHONPATH")] if p
    )
    result = run_jupyter_book(
        ".", cwd=root, timeout=600, env=book_env(PYTHONPATH=pythonpath, **env)
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return (root / "_build" / "html" / "page.html").read_text("utf-8")


def executed_notebook(root) -> dict:
    path = root / "_build" / "jupyter_execute" / "page.ipynb"
    return json.loads(path.read_text(encoding="utf-8"))


def code_outputs(root) -> list:
    """每个代码单元的 (执行序号, 输出个数)。"""
    nb = executed_notebook(root)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return [(c.get("execution_count"), len(c["outputs"])) for c in code]


def nonce(html: str) -> str:
    """页面每次执行都不同的随机串：相同说明复用了缓存。"""
    import re

    return re.search(r"NONCE=([0-9a-f]{32})", html).group(1)
