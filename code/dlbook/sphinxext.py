"""本书构建用的 Sphinx 扩展。

它做这几件事：

1. **不留陈旧输出。** jupyter-cache 只按页面自己的代码单元计算哈希，
   修改 ``code/dlbook`` 后，缓存的页面仍会显示旧结果。本扩展对被监视的
   目录（默认 ``code/dlbook``）计算内容哈希，把执行缓存放进以该哈希命名
   的子目录，并在哈希变化时让 Sphinx 重新读取所有页面，于是每页都会
   重新执行。旧哈希的缓存目录随即删除。
2. **干净的单元格输出。** 在内核启动前设置环境变量，关闭 TensorFlow、
   absl 与 oneDNN 的日志（内核进程继承构建进程的环境）；并替换 myst-nb
   合并流输出的函数，使一行字不被拆开、下载的 .ipynb 不重复输出。
3. **自带 MathJax。** 从依赖包 ``django-static-mathjax``（即可导入的
   ``mathjax`` 包）复制 MathJax 3 到网站根目录，页面不向第三方主机请求
   脚本或字体。
4. **可访问的网页。** 修正主题与 docutils 输出中被 axe-core 判为严重的
   问题（参考文献的 ARIA 角色、侧栏折叠按钮的名称、低对比度的颜色），
   去掉重复的内联脚本，并默认使用亮色主题。
5. **缓存命中时也写出带输出的笔记本。** myst-nb 从执行缓存取出输出时，
   把它们合并进一份副本，写到 ``_build/jupyter_execute`` 的却是没有输出的
   原件；于是只改了文字、没改代码的页面，下载的 .ipynb 和导出的 Colab
   笔记本都没有输出。本扩展把缓存的输出写回原件。
6. **Colab 启动按钮。** 主题的 Colab 按钮指向仓库里与页面同名的文件，
   而本书页面是 MyST 文本，Colab 打不开。本扩展在“启动”菜单中加入
   指向 Colab 版笔记本的按钮；笔记本所在的分支由 ``_config.yml`` 的
   ``dlbook_colab_branch`` 决定（默认 ``notebooks``，
   见 :mod:`dlbook.colab`）。
"""

import copy
import hashlib
import os
import shutil
from pathlib import Path

#: 构建时强制设置的环境变量。
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "KERAS_BACKEND": "tensorflow",
    "PYTHONHASHSEED": "0",
}


def tree_hash(paths) -> str:
    """计算若干目录（或文件）中全部 ``.py`` 文件内容的 SHA-256 哈希。

    文件按相对路径排序，路径本身也计入哈希，因此改名、增删文件同样
    会改变结果。``__pycache__`` 被忽略。
    """
    digest = hashlib.sha256()
    for root in sorted(Path(p) for p in paths):
        if root.is_file():
            files = [root]
        elif root.is_dir():
            files = sorted(
                f for f in root.rglob("*.py") if "__pycache__" not in f.parts
            )
        else:
            raise FileNotFoundError(
                f"dlbook_watch_paths 中的路径 {root} 不存在；"
                "请在 _config.yml 的 sphinx.config 中改正它。"
            )
        for f in files:
            rel = f.relative_to(root.parent).as_posix()
            digest.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def _watch_paths(app) -> list[Path]:
    return [
        Path(app.confdir, p).resolve() for p in app.config.dlbook_watch_paths
    ]


def _on_config_inited(app, config) -> None:
    os.environ.update(QUIET_ENV)
    code_hash = tree_hash(_watch_paths(app))
    app.dlbook_code_hash = code_hash

    # 执行缓存放进以代码哈希命名的子目录；HTML 与 PDF 构建共用它。
    base = config.nb_execution_cache_path or os.path.join(
        os.path.dirname(os.path.abspath(app.outdir)), ".jupyter_cache"
    )
    base = Path(base)
    current = base / f"dlbook-{code_hash[:16]}"
    if base.is_dir():
        for old in base.glob("dlbook-*"):
            if old != current:
                shutil.rmtree(old, ignore_errors=True)
    config.nb_execution_cache_path = str(current)

    if app.config.dlbook_bundle_mathjax:
        _use_local_mathjax(config)
    # 主题默认用亮色：Matplotlib 的白底插图在暗色页面上很刺眼。不设置时
    # pydata-sphinx-theme 会在浏览器控制台报错 “Got invalid theme mode”。
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "light")
    config.html_context = context


def _use_local_mathjax(config) -> None:
    """把 MathJax 3 作为额外文件复制到网站根目录，并指向它。"""
    try:
        import mathjax
    except ImportError as err:
        raise RuntimeError(
            "找不到本地 MathJax（PyPI 包 django-static-mathjax）。"
            "请运行 pip install -r requirements.txt 后重新构建。"
        ) from err
    static = Path(mathjax.__file__).parent / "static"
    if not (static / "mathjax" / "es5" / "tex-chtml.js").exists():
        raise RuntimeError(
            f"{static} 中没有 mathjax/es5/tex-chtml.js；"
            "请重新安装 django-static-mathjax。"
        )
    if str(static) not in config.html_extra_path:
        config.html_extra_path = [*config.html_extra_path, str(static)]
    # 相对路径会被 Sphinx 加上 _static/ 前缀，因此先退回网站根目录。
    config.mathjax_path = "../mathjax/es5/tex-chtml.js"


def _on_env_get_outdated(app, env, added, changed, removed) -> list[str]:
    """代码哈希与上次读取时不同：让所有页面重新读取（并重新执行）。"""
    if getattr(env, "dlbook_code_hash", None) == app.dlbook_code_hash:
        return []
    env.dlbook_code_hash = app.dlbook_code_hash
    return sorted(env.found_docs - set(added) - set(changed))


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """去掉重复的内联脚本。

    sphinx-thebe 在一次构建中可能两次注册同一段
    ``const THEBE_JS_URL = ...``，浏览器执行第二段时报
    “Identifier has already been declared”。
    """
    seen, unique = set(), []
    for script in context.get("script_files", []):
        attrs = getattr(script, "attributes", {})
        key = getattr(script, "filename", None) or ("body", attrs.get("body"))
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    context["script_files"] = unique


def _fix_citation_roles(app, pagename, templatename, context, doctree):
    """修正 docutils 参考文献列表的 ARIA 角色。

    docutils 把参考文献写成 ``<div role="list">``，其子元素却是链接和
    ``role="doc-biblioentry"``（已废弃）的 div，axe-core 判为 critical：
    读屏软件会把它当作一个空列表。去掉这两个角色，让它作为普通区块朗读。
    """
    body = context.get("body")
    if body and "citation-list" in body:
        body = body.replace(
            '<div role="list" class="citation-list">',
            '<div class="citation-list">',
        )
        context["body"] = body.replace(' role="doc-biblioentry"', "")


#: 侧栏中可折叠章节的 <summary> 只有一个图标，读屏软件读不出名称。
_BARE_SUMMARY = '<summary><span class="toctree-toggle" role="presentation">'
_NAMED_SUMMARY = (
    '<summary aria-label="展开或折叠本章各节">'
    '<span class="toctree-toggle" role="presentation">'
)


def _name_sidebar_toggles(app, exception) -> None:
    """给侧栏折叠按钮加上可读的名称（axe-core 规则 summary-name）。"""
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if _BARE_SUMMARY in text:
            page.write_text(
                text.replace(_BARE_SUMMARY, _NAMED_SUMMARY), encoding="utf-8"
            )


def _add_colab_button(app, pagename, templatename, context, doctree):
    """在主题的“启动”菜单（Binder 所在处）加入 Colab 按钮。

    须在主题生成菜单（优先级 501）之后运行；主题只给笔记本页面（有
    kernelspec 的页面）生成菜单，没有菜单的页面不加。
    """
    from .colab import colab_url

    repo_url = app.config.html_theme_options.get("repository_url")
    branch = app.config.dlbook_colab_branch
    if not repo_url or not branch:
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        buttons = group["buttons"]
        if any(b.get("text") == "Colab" for b in buttons):
            return
        buttons.append(
            {
                "type": "link",
                "text": "Colab",
                "tooltip": "在 Google Colab 中运行本页",
                "icon": "_static/images/logo_colab.png",
                "url": colab_url(repo_url, pagename, branch),
            }
        )


def _add_static(app) -> None:
    """注册本包自带的样式表。"""
    static = str(Path(__file__).parent / "_static")
    if static not in app.config.html_static_path:
        app.config.html_static_path.append(static)
    app.add_css_file("dlbook.css")


def coalesce_streams(outputs: list) -> list:
    """合并同名的流输出，不改动传入的输出对象，也不在块之间插入换行。

    内核把一次 ``print`` 的文字分几块发出是常事（例如 ``print(a, b)``
    恰好跨过刷新间隔）。myst-nb 自带的合并函数先去掉每块末尾的空白再补
    换行，于是一行字可能在网页上被拆成两行；它还把文字追加到第一个输出
    对象上，使写出的 .ipynb 把同一段话保存两遍。这里先把各块原样拼接，
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
    """让缓存命中时的笔记本对象带上输出（见模块说明第 5 条）。

    myst-nb 的解析器持有原始笔记本对象，执行完后把它写成
    ``jupyter_execute/<页面>.ipynb``；真正执行时 nbclient 就地写入输出，
    缓存命中时却只有客户端手里的合并副本有输出。这里把副本中代码单元的
    输出与执行序号复制回原件，并让客户端继续使用原件。myst-nb 改为写出
    客户端的笔记本之后，即可删去本函数：届时 ``tests/test_sphinxext.py``
    中不加载本扩展的对照组会失败，提醒这一点。
    """
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
        if len(merged.cells) != len(source.cells):
            return  # 结构不同（不应发生）：保持 myst-nb 的原样
        for cell, done in zip(source.cells, merged.cells, strict=True):
            if cell.cell_type == "code" and done.cell_type == "code":
                cell.outputs = done.outputs
                cell.execution_count = done.get("execution_count")
        self._notebook = source

    start_client._dlbook = True
    NotebookClientCache.start_client = start_client


def setup(app):
    from myst_nb.core import render

    from .colab import DEFAULT_BRANCH

    render.coalesce_streams = coalesce_streams
    _patch_cached_client()
    app.add_config_value("dlbook_watch_paths", ["code/dlbook"], "env")
    app.add_config_value("dlbook_bundle_mathjax", True, "html")
    app.add_config_value("dlbook_colab_branch", DEFAULT_BRANCH, "html")
    # 优先级数值较小者先运行：要在 myst-nb 读取配置之前改好缓存路径。
    app.connect("config-inited", _on_config_inited, priority=400)
    app.connect("env-get-outdated", _on_env_get_outdated)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _add_colab_button, priority=600)
    app.connect("html-page-context", _fix_citation_roles)
    app.connect("builder-inited", _add_static)
    app.connect("build-finished", _name_sidebar_toggles)
    return {
        "version": "0.1",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
