"""dlbook_build.html_fixes：重复脚本、无障碍修正与网站瘦身。"""

from types import SimpleNamespace as NS

from dlbook_build import html_fixes


def test_dedupe_drops_only_repeated_inline_scripts():
    """内容相同的第二段内联脚本被去掉；外部脚本与不同的内联脚本保留。"""

    def inline(body):
        return NS(filename="", attributes={"body": body})

    a, b = inline("const THEBE_JS_URL = 1"), inline("const X = 2")
    ext1 = NS(filename="_static/a.js", attributes={})
    ext2 = NS(filename="_static/a.js", attributes={"defer": "defer"})
    context = {
        "script_files": [a, ext1, inline(a.attributes["body"]), b, ext2]
    }
    html_fixes.dedupe_inline_scripts(None, "p", "page.html", context, None)
    assert context["script_files"] == [a, ext1, b, ext2]


def test_trim_static_removes_maps_and_other_locales(tmp_path):
    static = tmp_path / "_static"
    (static / "scripts").mkdir(parents=True)
    (static / "scripts" / "a.js").write_text("x")
    (static / "scripts" / "a.js.map").write_text("{}")
    for lang in ("zh_CN", "de", "fr"):
        (static / "locales" / lang).mkdir(parents=True)
    fonts = static / "fonts"
    fonts.mkdir()
    for name in ("icons.woff2", "icons.ttf", "only.ttf"):
        (fonts / name).write_text("x")
    app = NS(outdir=str(tmp_path), builder=NS(format="html"))
    html_fixes.trim_static(app, None)
    # 有 woff2 的 ttf 删去；没有 woff2 可替代的 ttf 保留。
    assert sorted(p.name for p in static.rglob("*")) == [
        "a.js",
        "fonts",
        "icons.woff2",
        "locales",
        "only.ttf",
        "scripts",
        "zh_CN",
    ]
    # 构建失败或不是 HTML 时不动文件。
    (static / "b.css.map").write_text("{}")
    html_fixes.trim_static(app, RuntimeError("构建失败"))
    html_fixes.trim_static(
        NS(outdir=str(tmp_path), builder=NS(format="latex")), None
    )
    assert (static / "b.css.map").exists()


def test_citation_roles_are_removed_and_a_changed_markup_warns(caplog):
    body = (
        '<div role="list" class="citation-list">'
        '<div class="citation" role="doc-biblioentry">x</div></div>'
    )
    context = {"body": body}
    html_fixes.fix_citation_roles(None, "p", "page.html", context, None)
    assert 'role="list"' not in context["body"]
    assert "doc-biblioentry" not in context["body"]
    changed = {"body": '<section class="citation-list">x</section>'}
    warnings = []
    original = html_fixes.logger.warning
    html_fixes.logger.warning = lambda msg, *a: warnings.append(msg % a)
    try:
        html_fixes.fix_citation_roles(None, "p", "page.html", changed, None)
    finally:
        html_fixes.logger.warning = original
    assert warnings and "docutils 变了" in warnings[0]


def test_sidebar_toggles_named_once_and_rebuild_does_not_warn(tmp_path):
    bare = html_fixes._BARE_SUMMARY + "</span></summary>"
    (tmp_path / "a.html").write_text(f"<nav>{bare}</nav>", encoding="utf-8")
    (tmp_path / "b.html").write_text("<p>没有侧栏</p>", encoding="utf-8")
    app = NS(outdir=str(tmp_path), builder=NS(format="html"))
    warnings = []
    original = html_fixes.logger.warning
    html_fixes.logger.warning = lambda msg, *a: warnings.append(msg % a)
    try:
        html_fixes.name_sidebar_toggles(app, None)
        text = (tmp_path / "a.html").read_text(encoding="utf-8")
        assert 'aria-label="展开或折叠本章各节"' in text
        # 增量构建没有重写页面：已经改好的页面不算“主题变了”。
        html_fixes.name_sidebar_toggles(app, None)
        assert not warnings
        # 主题真的换了标记：警告。
        (tmp_path / "a.html").write_text(
            '<nav><summary class="toctree-toggle">x</summary></nav>', "utf-8"
        )
        html_fixes.name_sidebar_toggles(app, None)
    finally:
        html_fixes.logger.warning = original
    assert len(warnings) == 1 and "主题变了" in warnings[0]


def test_font_cache_without_matplotlibs_own_fonts_is_rebuilt(monkeypatch):
    """别的虚拟环境留下的字体缓存缺了 STIX：构建前重建，内核里不再警告。"""
    from matplotlib import font_manager

    import dlbook_build

    stale = font_manager.FontManager.__new__(font_manager.FontManager)
    stale.ttflist = [
        f for f in font_manager.fontManager.ttflist if f.name != "STIXGeneral"
    ]
    monkeypatch.setattr(font_manager, "fontManager", stale)
    monkeypatch.setattr(
        font_manager,
        "_load_fontmanager",
        lambda try_read_cache: "重建的缓存" if not try_read_cache else stale,
    )
    dlbook_build._warm_font_cache(None, None)
    assert font_manager.fontManager == "重建的缓存"
