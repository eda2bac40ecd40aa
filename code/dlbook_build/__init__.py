"""本书构建用的 Sphinx 扩展（不是教材内容，也不进执行缓存的哈希）。

各模块各管一件事：

- :mod:`~dlbook_build.execution_cache`：执行缓存的键包含 ``code/dlbook``
  的代码、``DLBOOK_*`` 环境变量与 Python/TensorFlow/Keras/NumPy/
  Matplotlib 的版本，任何一样变了，页面就重新执行，不留陈旧输出；
- :mod:`~dlbook_build.mystnb_patches`：myst-nb 1.4.0 两处缺陷的补丁，
  上游改变时构建立即停止并说明原因；
- :mod:`~dlbook_build.parallel`：读取页面之前，用两个内核并行执行它们；
- :mod:`~dlbook_build.mathjax`：随网站发布 MathJax 3 的必要部分；
- :mod:`~dlbook_build.html_fixes`：重复的内联脚本与无障碍修正；
- :mod:`~dlbook_build.notebooks`：把读者带走的笔记本（下载的 ``.ipynb``、
  Colab 版）中的 MyST 语法换成普通 Markdown，读起来和网页一样；
- :mod:`~dlbook_build.colab`：“启动”菜单中的 Colab 按钮与 Colab 版
  笔记本的导出。

另外，构建进程在启动内核前设好 :data:`dlbook.QUIET_ENV` 中的环境变量
（内核进程继承它们），关闭 TensorFlow 的日志并固定 ``PYTHONHASHSEED``。
"""

import os
from pathlib import Path

from . import (
    colab,
    execution_cache,
    html_fixes,
    mathjax,
    mystnb_patches,
    notebooks,
    parallel,
)

# 供测试与旧代码使用的名字。
tree_hash = execution_cache.tree_hash
coalesce_streams = mystnb_patches.coalesce_streams


def _quiet_environment(app, config) -> None:
    from dlbook import QUIET_ENV

    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def _warm_font_cache(app, config) -> None:
    """在启动内核之前备好 Matplotlib 的字体缓存。

    新机器上第一次导入 Matplotlib 时，它一边建缓存一边往 stderr 打印
    “building the font cache”；缓存若是别的虚拟环境留下、缺了 Matplotlib
    自带的字体，画数学符号时又会打印 “findfont: ... not found”。这些若出现
    在页面的单元格里，构建就会失败（stderr 视为警告），两个内核同时建缓存
    还会互相干扰。这里在构建进程中先导入一次；缓存里缺自带字体时重建它。
    """
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    if not {"DejaVu Sans", "STIXGeneral"} <= names:
        font_manager.fontManager = font_manager._load_fontmanager(
            try_read_cache=False
        )


def _add_static(app) -> None:
    """注册本包自带的样式表。"""
    static = str(Path(__file__).parent / "_static")
    if static not in app.config.html_static_path:
        app.config.html_static_path.append(static)
    app.add_css_file("dlbook.css")


def setup(app):
    """注册配置项与事件处理函数（Sphinx 扩展的入口）。"""
    mystnb_patches.install()
    app.add_config_value("dlbook_watch_paths", ["code/dlbook"], "env")
    app.add_config_value("dlbook_bundle_mathjax", True, "html")
    app.add_config_value("dlbook_colab_branch", colab.DEFAULT_BRANCH, "html")
    # 并行执行页面的内核数；None 表示 CPU 核数（至多 2），1 表示不并行。
    app.add_config_value("dlbook_execution_workers", None, "")
    # 优先级数值较小者先运行：要在 myst-nb 读取配置之前改好缓存路径。
    app.connect("config-inited", _quiet_environment, priority=300)
    app.connect("config-inited", _warm_font_cache, priority=300)
    app.connect(
        "config-inited", execution_cache.on_config_inited, priority=400
    )
    app.connect("config-inited", mathjax.on_config_inited, priority=400)
    app.connect("env-get-outdated", execution_cache.on_env_get_outdated)
    app.connect("env-before-read-docs", parallel.on_env_before_read_docs)
    app.connect("html-page-context", colab.add_colab_button, priority=600)
    app.connect("html-page-context", html_fixes.fix_citation_roles)
    app.connect(
        "html-page-context", html_fixes.dedupe_inline_scripts, priority=900
    )
    app.connect("builder-inited", _add_static)
    app.connect("build-finished", html_fixes.name_sidebar_toggles)
    app.connect("build-finished", html_fixes.trim_static)
    app.connect("build-finished", mathjax.on_build_finished)
    app.connect("build-finished", notebooks.on_build_finished)
    return {
        "version": "0.2",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
