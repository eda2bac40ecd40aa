"""在真实浏览器（Debian 的 chromium，无头模式）里检查构建好的网站。

对目录中的每一页：加载时控制台没有错误；公式已由 MathJax 渲染；
每张图片都已加载且有替代文字；axe-core 没有 serious/critical 级的
无障碍问题。搜索页对中文词返回结果。一切非本机请求都被拦截，
证明网站不依赖第三方主机。每章首页的截图保存在 ``_build/screenshots``。

没有 chromium 时在读者机器上跳过；CI（CI=true）中必须运行。
"""

import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

from helpers import ROOT, skip_unless_tools, toc_files

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
skip_unless_tools(CHROMIUM, hint="apt-get install chromium 后即可运行")

SHOTS = ROOT / "_build" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(html_build):
    result, html_dir = html_build
    assert result.returncode == 0, "构建失败，见 test_book"
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _new_page(browser):
    """一个新页面：拦截所有非本机请求，并记录控制台错误与外部请求。"""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked, errors = [], []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith("data:") or host in ("127.0.0.1",):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.on("console", lambda m: m.type == "error" and errors.append(m.text))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.blocked, pg.errors = blocked, errors
    return context, pg


@pytest.fixture
def page(browser):
    context, pg = _new_page(browser)
    yield pg
    context.close()


def _wait_for_mathjax(pg):
    """等 MathJax 排版完毕；没有公式的页面不加载 MathJax，直接返回。"""
    if pg.locator("script[src*='tex-chtml']").count() == 0:
        return
    pg.wait_for_function(
        "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
        timeout=30000,
    )
    pg.evaluate("() => MathJax.startup.promise")


PAGES = toc_files()


@pytest.fixture(scope="module", params=PAGES)
def loaded(request, site, browser):
    """加载好（公式已排版）的一页，供本页的两项检查共用：每页只加载一次。

    pytest 按参数把用到它的测试排在一起：先 ``test_page_in_browser``，
    再 ``test_accessibility_axe``，然后才加载下一页。
    """
    docname = request.param
    context, pg = _new_page(browser)
    pg.goto(f"{site}/{docname}.html", wait_until="load")
    _wait_for_mathjax(pg)
    yield docname, pg
    context.close()


@pytest.mark.slow
def test_page_in_browser(loaded):
    docname, page = loaded
    source = (ROOT / f"{docname}.md").read_text(encoding="utf-8")
    if "$" in source or "{math}" in source:
        assert page.locator("mjx-container").count() > 0, "公式没有渲染"
    # 正文中不应残留未渲染的 TeX 定界符（代码块除外）。
    leftover = page.evaluate(
        r"""() => {
          const clone = document.querySelector('main').cloneNode(true);
          clone.querySelectorAll('pre, code, mjx-container, script')
               .forEach(e => e.remove());
          const t = clone.innerText;
          // 残留的 \( \[ $ 或 ^{ 说明某个公式没有被解析成数学。
          return (t.match(/\\\(|\\\[|\$|\^\{/g) || []).length;
        }"""
    )
    assert leftover == 0, "页面中残留未渲染的公式定界符"
    images = page.evaluate(
        """() => Array.from(document.images).map(i => ({
             src: i.getAttribute('src'), w: i.naturalWidth,
             alt: (i.getAttribute('alt') || '').trim()}))"""
    )
    for img in images:
        assert img["w"] > 0, f"图片没有加载：{img['src']}"
        assert img["alt"], f"图片没有替代文字：{img['src']}"
    assert not page.errors, page.errors
    assert not page.blocked, f"页面请求了外部主机：{page.blocked[:5]}"
    if docname.endswith("index") or docname == PAGES[0]:
        SHOTS.mkdir(parents=True, exist_ok=True)
        name = docname.replace("/", "-")
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


@pytest.mark.slow
def test_accessibility_axe(loaded):
    """axe-core 检查：不允许 serious 或 critical 级的问题。"""
    import axe_playwright_python

    _, page = loaded
    axe_js = Path(axe_playwright_python.__file__).with_name("axe.min.js")
    page.add_script_tag(path=str(axe_js))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ['violations']});
          return r.violations.map(v => ({id: v.id, impact: v.impact,
            help: v.help, n: v.nodes.length,
            where: v.nodes.slice(0, 2).map(n => n.target.join(' '))}));
        }"""
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, bad


def _search_terms():
    pages = set(PAGES)
    terms = ["数据"]
    for prefix, term in [
        ("book/convnets", "卷积"),
        ("book/backprop", "反向传播"),
        ("book/saving", "检查点"),
    ]:
        if any(p.startswith(prefix) for p in pages):
            terms.append(term)
    return terms


@pytest.mark.slow
@pytest.mark.parametrize("term", _search_terms())
def test_search_finds_chinese_words(site, page, term):
    page.goto(f"{site}/search.html?q={quote(term)}", wait_until="load")
    page.wait_for_selector("#search-results li", timeout=30000)
    n = page.locator("#search-results li").count()
    assert n > 0, f"搜索“{term}”没有结果"
    assert not page.blocked, page.blocked[:5]


SOLUTION_PAGES = [
    p
    for p in PAGES
    if ":class: dropdown" in (ROOT / f"{p}.md").read_text(encoding="utf-8")
]


@pytest.mark.slow
@pytest.mark.parametrize("docname", SOLUTION_PAGES)
def test_solutions_are_hidden_until_clicked(site, page, docname):
    page.goto(f"{site}/{docname}.html", wait_until="load")
    box = page.locator("div.admonition.dropdown").first
    body = box.locator(":scope > :not(.admonition-title)").first
    button = box.locator("button.toggle-button")
    button.wait_for(state="attached", timeout=30000)
    assert not body.is_visible(), "参考答案没有默认折叠"
    box.locator(".admonition-title").click()
    body.wait_for(state="visible", timeout=5000)
    assert button.get_attribute("aria-expanded") == "true"


ANIM_PAGES = [
    p
    for p in PAGES
    if "dlbook.plotting.animation" in (ROOT / f"{p}.md").read_text("utf-8")
]

_SHOWN = """(f) => Array.from(f.querySelectorAll('g[data-k]'))
  .filter(g => !g.dataset.key && g.style.display !== 'none')
  .map(g => g.dataset.k)"""


@pytest.mark.slow
@pytest.mark.parametrize("docname", ANIM_PAGES)
def test_animations_step_play_and_pause(site, page, docname):
    """动画：单步、播放、暂停有效；读者要求减少动态效果时不自动播放。"""
    page.emulate_media(reduced_motion="reduce")
    page.goto(f"{site}/{docname}.html", wait_until="load")
    players = page.locator("figure.dlb-anim")
    assert players.count() > 0, "页面上没有动画播放器"
    for i in range(players.count()):
        f = players.nth(i)
        f.scroll_into_view_if_needed()
        num, n = f.locator(".num"), int(f.get_attribute("data-n"))
        ms = int(f.get_attribute("data-ms"))
        assert f.get_attribute("data-ready") == "1", "播放器脚本没有运行"
        assert f.locator("svg title").text_content().strip(), (
            "动画没有替代文字"
        )
        page.wait_for_timeout(2 * ms)
        assert num.inner_text() == f"1 / {n}", "减少动态效果时不应自动播放"
        f.locator(".next").click()
        assert num.inner_text() == f"2 / {n}"
        assert f.evaluate(_SHOWN) == ["1"], "单步后显示的不是第 2 帧"
        f.locator(".prev").click()
        f.locator(".play").click()
        page.wait_for_timeout(ms + 400)
        f.locator(".pause").click()
        shown = num.inner_text()
        assert shown != f"1 / {n}", "点了播放却没有前进"
        page.wait_for_timeout(ms + 400)
        assert num.inner_text() == shown, "暂停后仍在播放"
    assert not page.errors, page.errors
    assert not page.blocked, f"动画请求了外部主机：{page.blocked[:5]}"
