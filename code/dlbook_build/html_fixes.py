"""修正主题、sphinx-thebe 与 docutils 生成的 HTML 中的问题。

1. 重复的内联脚本（:func:`dedupe_inline_scripts`）：sphinx-thebe 在一次
   构建中两次注册同一段 ``const THEBE_JS_URL = ...``，浏览器执行第二段时
   报 “Identifier has already been declared”。
2. axe-core 判为严重的无障碍问题：参考文献列表的 ARIA 角色
   （:func:`fix_citation_roles`）与侧栏折叠按钮的名称
   （:func:`name_sidebar_toggles`）。后两处是对生成的 HTML 做精确的字符串
   替换；若上游改了标记，替换会悄悄落空，所以每次都数一数：页面里有要修的
   结构却一处也没替换时，发出一条警告（构建用 ``-W``，于是构建失败）。
3. 网站的分量（:func:`trim_static`）：主题随网站复制了 3 MB 多的 source
   map（只供开发者工具调试主题的 JavaScript/CSS）与 46 种语言的界面翻译
   （构建时已用过，页面不加载）；删去它们。
"""

import shutil

from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

#: docutils 0.21 写出的参考文献列表开头。
_CITATION_LIST = '<div role="list" class="citation-list">'
#: 侧栏中可折叠章节的 <summary> 只有一个图标，读屏软件读不出名称。
_BARE_SUMMARY = '<summary><span class="toctree-toggle" role="presentation">'
_NAMED_SUMMARY = (
    '<summary aria-label="展开或折叠本章各节">'
    '<span class="toctree-toggle" role="presentation">'
)


def dedupe_inline_scripts(app, pagename, templatename, context, doctree):
    """去掉内容完全相同的第二段内联脚本（有 ``src`` 的脚本不动）。"""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        body = None
        if not getattr(script, "filename", None):
            body = getattr(script, "attributes", {}).get("body")
        if body is not None and body in seen:
            continue
        if body is not None:
            seen.add(body)
        unique.append(script)
    context["script_files"] = unique


def fix_citation_roles(app, pagename, templatename, context, doctree):
    """去掉参考文献列表的 ``role="list"`` 与废弃的 ``doc-biblioentry``。

    docutils 把参考文献写成 ``<div role="list">``，其子元素却不是列表项，
    axe-core 判为 critical：读屏软件会把它当作一个空列表。
    """
    body = context.get("body")
    if not body or "citation-list" not in body:
        return
    if _CITATION_LIST not in body:
        logger.warning(
            "页面 %s 有参考文献列表，但标记已不是 %r：docutils 变了，"
            "请更新 dlbook_build/html_fixes.py。",
            pagename,
            _CITATION_LIST,
        )
        return
    body = body.replace(_CITATION_LIST, '<div class="citation-list">')
    context["body"] = body.replace(' role="doc-biblioentry"', "")


def name_sidebar_toggles(app, exception) -> None:
    """给侧栏折叠按钮加上可读的名称（axe-core 规则 summary-name）。"""
    if exception is not None or app.builder.format != "html":
        return
    toggles = named = 0
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        toggles += "toctree-toggle" in text
        if _BARE_SUMMARY in text:
            text = text.replace(_BARE_SUMMARY, _NAMED_SUMMARY)
            page.write_text(text, encoding="utf-8")
        # 这一次改的，或上一次构建已经改好、这次没有重写的页面
        named += _NAMED_SUMMARY in text
    if toggles and not named:
        logger.warning(
            "侧栏有折叠按钮，但没有一处匹配 %r：主题变了，"
            "请更新 dlbook_build/html_fixes.py。",
            _BARE_SUMMARY,
        )


#: 网站语言；``_static/locales`` 中只保留它。
SITE_LOCALE = "zh_CN"


def trim_static(app, exception) -> None:
    """删去页面不加载的文件：source map、其他语言的界面翻译，以及
    有同名 ``.woff2`` 的 ``.ttf`` 字体。

    主题的 ``@font-face`` 先列 woff2、再列 ttf；凡是支持 woff2 的浏览器
    （2016 年以来的所有主流浏览器）都不会再去取 ttf。
    """
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    for path in static.rglob("*.map"):
        path.unlink()
    for path in static.rglob("*.ttf"):
        if path.with_suffix(".woff2").is_file():
            path.unlink()
    locales = static / "locales"
    if locales.is_dir():
        for lang in locales.iterdir():
            if lang.name != SITE_LOCALE:
                shutil.rmtree(lang, ignore_errors=True)
