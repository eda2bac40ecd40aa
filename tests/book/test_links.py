"""构建好的网站里，每个站内链接和锚点都能解析到实际的文件和位置。"""

import html.parser
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.links.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.links.append(attrs["href"])


@cache
def _parse(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    return collector


def test_internal_links_and_anchors_resolve(html_build):
    _, html_dir = html_build
    broken = []
    # _static 与 mathjax 里的 .html 是主题的模板片段，不是页面。
    pages = sorted(
        p
        for p in html_dir.rglob("*.html")
        if p.relative_to(html_dir).parts[0] not in ("_static", "mathjax")
    )
    assert pages
    for page in pages:
        for link in _parse(page).links:
            parsed = urlparse(link)
            if parsed.scheme or link.startswith("//"):
                continue  # 外部链接与 mailto: 之类不在这里检查
            target, anchor = urldefrag(link)
            target = unquote(target.split("?", 1)[0])
            path = (page.parent / target).resolve() if target else page
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                broken.append(f"{page.relative_to(html_dir)} -> {link}")
                continue
            if anchor and path.suffix == ".html":
                if unquote(anchor) not in _parse(path).ids:
                    broken.append(f"{page.relative_to(html_dir)} -> {link}")
    assert not broken, "\n".join(broken[:30])
