"""逐步动画：卷积核滑动、转置卷积“盖章”、池化窗口与 BP 计算图。

每个动画都从真实的计算结果生成：先调用 :mod:`dlbook.conv`、
:mod:`dlbook.pooling` 或 :mod:`dlbook.mlp` 算出整个输出，第 k 帧高亮的
窗口和写进输出格子的数字都取自这份结果。函数返回 :class:`Animation`，
其中 ``frames`` 是每一帧的数据（窗口坐标、数值），``scene`` 是画面上的
全部图元；测试逐帧核对两者与计算结果一致。

同一份图元有两种画法：

* 网页（HTML）：一张内联 SVG，每帧只是几个可见/隐藏的图元组，配一段
  约 2 KB 的脚本提供“播放、暂停、上一步、下一步”按钮。不请求任何外部
  资源；读者设置了“减少动态效果”（prefers-reduced-motion）时不自动播放。
* PDF：Matplotlib 把若干帧画成一排排的分步小图（PNG）。

对象同时提供 ``_repr_html_`` 与 ``_repr_png_``；myst-nb 为 HTML 构建
优先选 text/html，为 LaTeX 构建优先选 image/png，所以网页里是播放器，
PDF 里是分步图。
"""

import html
import io
import json
import math
import re
import zlib

import numpy as np

from dlbook.conv import conv2d, conv_transpose2d, padding_amounts
from dlbook.plotting import use_chinese_font

#: 一个格子的边长（SVG 像素）。
CELL = 24
#: 网页正文字号（CSS 像素）。动画放大显示，直到画面上最小的字不小于它
#: （仍不超过正文栏宽，见 :meth:`Animation.to_html`）。
BODY_PX = 16

# 图元样式：填充色、边框色、线宽、虚线、不透明度；文字的颜色与字号
_BOX = {
    "in": ("#cfe2f3", "#555555", 1, False, 1.0),
    "pad": ("#ffffff", "#999999", 1, True, 1.0),
    "win": ("#1f4e79", "#1f4e79", 2.5, False, 0.35),
    "out": ("#d9ead3", "#555555", 1, False, 1.0),
    "hi": ("#93c47d", "#274e13", 2.5, False, 1.0),
    "ker": ("#fce5cd", "#555555", 1, False, 1.0),
    "kerhi": ("none", "#b45f06", 3, False, 1.0),
    "src": ("none", "#b45f06", 3, False, 1.0),
    "node": ("#eaf2fb", "#2e6da4", 1.2, False, 1.0),
    "nodehi": ("#fff2cc", "#b45f06", 2.5, False, 1.0),
    "param": ("#eafaf1", "#1e8449", 1.2, False, 1.0),
    "loss": ("#fdebd0", "#b9770e", 1.2, False, 1.0),
    "bg": ("#ffffff", "none", 0, False, 1.0),
}
_TEXT = {
    "t": ("#222222", 11.5, "normal"),
    "tin": ("#333333", 11.5, "normal"),
    "tw": ("#7f3f00", 10, "bold"),
    "tout": ("#1b3d0b", 11.5, "bold"),
    "tout2": ("#1b3d0b", 8.5, "bold"),
    "title": ("#222222", 12, "bold"),
    "lab": ("#222222", 15, "normal"),
    "fwd": ("#222222", 14.5, "normal"),
    "bwd": ("#c0392b", 14.5, "normal"),
}
_LINE = {
    "a": ("#bbbbbb", 1.2, False),
    "af": ("#333333", 2.2, False),
    "ab": ("#c0392b", 2.2, True),
}


def _fmt(v, digits=2, fixed=False):
    """整数写成整数，其余保留 digits 位小数（去掉末尾的 0）。

    fixed 为 True 时一律保留 digits 位小数，便于数字列对齐。
    """
    v = float(v)
    if fixed:
        s = f"{v:.{digits}f}"
        s = s[1:] if s.startswith("-") and float(s) == 0 else s
    elif abs(v - round(v)) < 1e-9:
        s = str(int(round(v)))
    else:
        s = f"{v:.{digits}f}".rstrip("0").rstrip(".")
        s = "0" if s == "-0" else s
    return s.replace("-", "−")  # 排版用的减号 U+2212


def _outcls(s):
    """输出格子里的数字：长的用小一号的字，免得超出格子。"""
    return "tout" if len(s) < 4 else "tout2"


class Scene:
    """画面：一组底图图元，加上每帧出现的图元。

    图元是字典，``k`` 为 None 表示底图（始终可见）。``key`` 为 None 的
    帧图元只在第 k 帧可见；给出 ``key`` 的图元从第 k 帧起一直可见，直到
    后面某帧画出同一 ``key`` 的图元把它替换掉（用于逐步写满的输出）。
    ``tag`` 供测试读取：例如 ("win", 行, 列) 或 ("out", 行, 列)。

    反复出现的一组图元（例如卷积核覆盖的窗口）可先用 :meth:`symbol`
    定义一次，再用 :meth:`use` 平移摆放；SVG 里写成一次 ``<use>``，
    省去每帧重复的几十个元素。
    """

    def __init__(self, width, height):
        self.width, self.height = width, height
        self.prims = []
        self.symbols = {}

    def _add(self, prim, k, key, tag):
        prim.update(k=k, key=key, tag=tag)
        self.prims.append(prim)
        return prim

    def rect(self, x, y, w, h, cls, k=None, key=None, tag=None):
        prim = dict(kind="rect", x=x, y=y, w=w, h=h, cls=cls)
        return self._add(prim, k, key, tag)

    def text(self, x, y, s, cls, k=None, key=None, tag=None, anchor="m"):
        prim = dict(kind="text", x=x, y=y, s=s, cls=cls, anchor=anchor)
        return self._add(prim, k, key, tag)

    def line(self, x1, y1, x2, y2, cls, k=None, key=None, tag=None):
        prim = dict(kind="line", x=x1, y=y1, x2=x2, y2=y2, cls=cls)
        return self._add(prim, k, key, tag)

    def symbol(self, name, build):
        """定义一组可复用的图元：build(scene) 在原点附近画出它们。"""
        sub = Scene(0, 0)
        build(sub)
        self.symbols[name] = sub.prims

    def use(self, name, x, y, k=None, key=None, cell=(0, 0)):
        """在 (x, y) 处摆放符号 name；其图元的 tag 行列加上 cell。"""
        prim = dict(kind="use", name=name, x=x, y=y, cell=cell)
        return self._add(prim, k, key, None)

    def _expand(self, p):
        if p["kind"] != "use":
            return [p]
        out = []
        for q in self.symbols[p["name"]]:
            q = dict(q, k=p["k"], key=p["key"])
            for a, b in (("x", "x"), ("y", "y"), ("x2", "x"), ("y2", "y")):
                if a in q:
                    q[a] = q[a] + p[b]
            if q["tag"] is not None:
                # tag 的最后两项是行、列：平移到摆放处
                *head, r, c = q["tag"]
                q["tag"] = (*head, r + p["cell"][0], c + p["cell"][1])
            out.append(q)
        return out

    def visible_raw(self, k):
        """第 k 帧可见的图元（符号尚未展开），按绘制顺序。"""
        latest = {}
        for p in self.prims:
            if p["key"] is not None and p["k"] <= k:
                latest[p["key"]] = p["k"]
        out = []
        for p in self.prims:
            if p["k"] is None:
                out.append(p)
            elif p["key"] is None:
                if p["k"] == k:
                    out.append(p)
            elif p["k"] <= k and latest[p["key"]] == p["k"]:
                out.append(p)
        return out

    def visible(self, k):
        """第 k 帧画面上可见的全部图元（符号已展开）。"""
        return [q for p in self.visible_raw(k) for q in self._expand(p)]

    def tagged(self, k, name):
        """第 k 帧可见、tag 以 name 开头的图元。"""
        return [
            p
            for p in self.visible(k)
            if p["tag"] is not None and p["tag"][0] == name
        ]


# ---------------------------------------------------------------------------
# 网页：SVG 加一小段播放脚本
# ---------------------------------------------------------------------------

_CSS = """
.dlb-anim{margin:1em 0;max-width:100%}
.dlb-anim svg{display:block;width:100%;height:auto;max-width:%MAXW%px}
.dlb-anim .ctl{display:flex;flex-wrap:wrap;gap:.4em;align-items:center;
margin:.4em 0}
.dlb-anim button{font:inherit;font-size:.9em;padding:.15em .7em;
border:1px solid #555;border-radius:4px;background:#f4f4f4;color:#111;
cursor:pointer}
.dlb-anim button:focus-visible{outline:2px solid #1f4e79}
.dlb-anim .cap{margin:.2em 0;font-size:.95em;color:#222;text-align:left}
"""

_JS = """(function(f){
var g=[].slice.call(f.querySelectorAll('[data-k]')),n=+f.dataset.n,
cap=JSON.parse(f.querySelector('.caps').textContent),
c=f.querySelector('.cap'),num=f.querySelector('.num'),cur=0,t=null;
function show(k){cur=(k%n+n)%n;var last={};
g.forEach(function(e){var q=+e.dataset.k,y=e.dataset.key;
if(y!=null&&q<=cur)last[y]=q;});
g.forEach(function(e){var q=+e.dataset.k,y=e.dataset.key,v=y==null?
q===cur:(q<=cur&&last[y]===q);e.style.display=v?'':'none';});
c.innerHTML=cap[cur];num.textContent=(cur+1)+' / '+n;}
function stop(){if(t){clearInterval(t);t=null;}f.dataset.playing='0';}
function play(once){stop();if(cur===n-1)show(0);f.dataset.playing='1';
t=setInterval(function(){if(cur===n-1){stop();return;}show(cur+1);},
+f.dataset.ms);}
f.querySelector('.play').onclick=function(){play();};
f.querySelector('.pause').onclick=stop;
f.querySelector('.next').onclick=function(){stop();show(cur+1);};
f.querySelector('.prev').onclick=function(){stop();show(cur-1);};
show(0);f.dataset.ready='1';
var calm=window.matchMedia&&
matchMedia('(prefers-reduced-motion: reduce)').matches;
if(!calm&&'IntersectionObserver' in window){
var o=new IntersectionObserver(function(es){if(es[0].isIntersecting){
o.disconnect();play();}},{threshold:0.6});o.observe(f);}
})(document.currentScript.parentNode);"""


def _inline(cls):
    """符号内的图元用行内样式：&lt;use&gt; 的副本不一定匹配外部选择器。"""
    if cls in _BOX:
        fill, edge, lw, dash, alpha = _BOX[cls]
        return (
            f"fill:{fill};stroke:{edge};stroke-width:{lw}"
            + (";stroke-dasharray:3 2" if dash else "")
            + (f";fill-opacity:{alpha}" if alpha < 1 else "")
        )
    color, size, weight = _TEXT[cls]
    return (
        f"fill:{color};font-size:{size}px;font-weight:{weight};"
        "dominant-baseline:central;text-anchor:middle"
    )


def _svg_prim(p, inline=False):
    """把一个图元写成 SVG 元素；inline 时用行内样式代替 class。"""
    if p["kind"] == "use":
        return (
            f'<use href="#{{uid}}-s-{p["name"]}" x="{p["x"]:g}" '
            f'y="{p["y"]:g}"/>'
        )
    look = f'style="{_inline(p["cls"])}"' if inline else f'class="{p["cls"]}"'
    if p["kind"] == "rect":
        return (
            f'<rect x="{p["x"]:g}" y="{p["y"]:g}" width="{p["w"]:g}" '
            f'height="{p["h"]:g}" {look}/>'
        )
    if p["kind"] == "line":
        return (
            f'<line x1="{p["x"]:g}" y1="{p["y"]:g}" x2="{p["x2"]:g}" '
            f'y2="{p["y2"]:g}" class="{p["cls"]}" '
            f'marker-end="url(#{{uid}}-{p["cls"]})"/>'
        )
    anchor = {"m": "middle", "s": "start", "e": "end"}[p["anchor"]]
    if anchor != "middle":
        # 行内样式优先于 class 规则里的 text-anchor:middle
        look = (
            f'style="{_inline(p["cls"]) if inline else ""}'
            f';text-anchor:{anchor}"'
            + ("" if inline else f' class="{p["cls"]}"')
        )
    return (
        f'<text x="{p["x"]:g}" y="{p["y"]:g}" {look}>'
        f"{_svg_markup(p['s'])}</text>"
    )


_SUP = re.compile(r"([\^_])\{([^}]*)\}")


def _svg_markup(s):
    """把 ``z^{[1]}`` 这样的上下标写成 SVG 的 tspan。"""
    out, pos = [], 0
    for m in _SUP.finditer(s):
        out.append(html.escape(s[pos : m.start()]))
        dy = "-0.45em" if m.group(1) == "^" else "0.3em"
        back = "0.45em" if m.group(1) == "^" else "-0.3em"
        out.append(
            f'<tspan dy="{dy}" font-size="70%">{html.escape(m.group(2))}'
            f'</tspan><tspan dy="{back}">\u200b</tspan>'
        )
        pos = m.end()
    out.append(html.escape(s[pos:]))
    return "".join(out)


def _svg_styles(uid):
    rules = []
    for cls, (fill, edge, lw, dash, alpha) in _BOX.items():
        rules.append(
            f"#{uid} .{cls}{{fill:{fill};stroke:{edge};stroke-width:{lw};"
            + ("stroke-dasharray:3 2;" if dash else "")
            + (f"fill-opacity:{alpha};" if alpha < 1 else "")
            + "}"
        )
    for cls, (color, size, weight) in _TEXT.items():
        rules.append(
            f"#{uid} .{cls}{{fill:{color};font-size:{size}px;"
            f"font-weight:{weight};dominant-baseline:central;"
            "text-anchor:middle}"
        )
    for cls, (color, lw, dash) in _LINE.items():
        rules.append(
            f"#{uid} .{cls}{{stroke:{color};stroke-width:{lw};"
            + ("stroke-dasharray:5 3;" if dash else "")
            + "}"
        )
    return "".join(rules)


class Animation:
    """一段逐步动画：帧数据 ``frames``、画面 ``scene`` 与每帧说明。

    Attributes:
        frames: 每帧的数据字典（窗口坐标、数值等），由各构造函数说明。
        scene: :class:`Scene`。
        captions: 每帧的说明文字（网页里显示在按钮下方）。
        short: 每帧的简短说明（PDF 分步图的小标题）。
        alt: 替代文字，描述整段动画。
    """

    def __init__(self, name, scene, frames, captions, short, alt, ms=700):
        #: PDF 分步图画哪几帧（None：均匀选取）、排几列
        self.panels, self.panel_cols = None, 2
        if not (len(frames) == len(captions) == len(short)):
            raise ValueError("帧数据、说明与简短说明的数量必须相同。")
        self.name, self.scene, self.frames = name, scene, frames
        self.captions, self.short, self.alt, self.ms = (
            captions,
            short,
            alt,
            ms,
        )

    def __len__(self):
        return len(self.frames)

    def __repr__(self):
        return f"<动画 {self.name}：{len(self)} 帧>"

    def svg(self, uid="dlb"):
        """整段动画的 SVG 文本（第 0 帧可见，其余帧隐藏）。"""
        sc = self.scene
        parts = [
            f'<svg id="{uid}" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {sc.width:g} {sc.height:g}" role="img" '
            f'aria-labelledby="{uid}-t" '
            "font-family=\"'Noto Sans CJK SC','Source Han Sans SC',"
            "'PingFang SC','Microsoft YaHei',sans-serif\">",
            f'<title id="{uid}-t">{html.escape(self.alt)}</title>',
            f"<style>{_svg_styles(uid)}</style><defs>",
        ]
        for cls, (color, _, _) in _LINE.items():
            parts.append(
                f'<marker id="{uid}-{cls}" viewBox="0 0 10 10" refX="9" '
                'refY="5" markerWidth="7" markerHeight="7" '
                f'orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" '
                f'fill="{color}"/></marker>'
            )
        for name, prims in sc.symbols.items():
            body = "".join(_svg_prim(p, inline=True) for p in prims)
            parts.append(f'<g id="{uid}-s-{name}">{body}</g>')
        parts.append("</defs>")
        parts.append(
            f'<rect x="0" y="0" width="{sc.width:g}" '
            f'height="{sc.height:g}" class="bg"/>'
        )
        shown = {id(p) for p in sc.visible_raw(0)}
        # 同一帧、同一 key 的图元放进同一个组
        groups, order = {}, []
        for p in sc.prims:
            gid = None if p["k"] is None else (p["k"], p["key"])
            if gid not in groups:
                groups[gid] = []
                order.append(gid)
            groups[gid].append(p)
        for gid in order:
            body = "".join(_svg_prim(p) for p in groups[gid])
            body = body.replace("{uid}", uid)
            if gid is None:
                parts.append(body)
                continue
            k, key = gid
            attrs = f' data-k="{k}"'
            if key is not None:
                attrs += f' data-key="{html.escape(str(key))}"'
            if id(groups[gid][0]) not in shown:
                attrs += ' style="display:none"'
            parts.append(f"<g{attrs}>{body}</g>")
        parts.append("</svg>")
        return "".join(parts)

    def text_sizes(self):
        """画面上用到的各种文字的字号（SVG 像素），{样式: 字号}。"""
        prims = list(self.scene.prims)
        for sym in self.scene.symbols.values():
            prims += sym
        return {
            p["cls"]: _TEXT[p["cls"]][1] for p in prims if p["kind"] == "text"
        }

    def max_width(self):
        """网页中 SVG 的最大显示宽度（CSS 像素）：至少放大 1.25 倍，
        并放大到最小的字不小于正文（:data:`BODY_PX`）；实际宽度还受
        正文栏宽限制（``width: 100%``）。"""
        smallest = min(self.text_sizes().values(), default=BODY_PX)
        return self.scene.width * max(1.25, BODY_PX / smallest)

    def to_html(self, uid=None):
        """带播放按钮的 HTML 片段：内联 SVG、样式与脚本，无外部请求。"""
        uid = uid or f"dlb-{self.name}"
        caps = [
            _html_markup(f"第 {i + 1} 步：{c}")
            for i, c in enumerate(self.captions)
        ]
        data = json.dumps(caps, ensure_ascii=False).replace("</", "<\\/")
        css = _CSS.replace("%MAXW%", str(math.ceil(self.max_width())))
        return (
            f'<figure class="dlb-anim" data-n="{len(self)}" '
            f'data-ms="{self.ms}" data-playing="0">'
            f"<style>{css}</style>"
            f"{self.svg(uid)}"
            '<div class="ctl" role="group" aria-label="动画控制">'
            '<button type="button" class="prev" aria-label="上一步">'
            "◀ 上一步</button>"
            '<button type="button" class="play" aria-label="播放">'
            "▶ 播放</button>"
            '<button type="button" class="pause" aria-label="暂停">'
            "❚❚ 暂停</button>"
            '<button type="button" class="next" aria-label="下一步">'
            "下一步 ▶</button>"
            f'<span class="num">1 / {len(self)}</span></div>'
            f'<p class="cap" aria-live="polite">{caps[0]}</p>'
            f'<script type="application/json" class="caps">{data}</script>'
            f"<script>{_JS}</script></figure>"
        )

    def _repr_html_(self):
        return self.to_html()

    # -----------------------------------------------------------------------
    # PDF：分步小图
    # -----------------------------------------------------------------------

    def panel_steps(self, max_panels=4):
        """PDF 中画出的帧：不超过 max_panels 帧，总含最后一帧（完整结果）。

        只画两帧时取中间一帧和最后一帧，其余情况在首尾之间均匀选取。
        """
        if self.panels is not None:
            return list(self.panels)
        n = len(self)
        if n <= max_panels:
            return list(range(n))
        if max_panels == 2:
            return [(n - 1) // 2, n - 1]
        picks = (
            round(i * (n - 1) / (max_panels - 1)) for i in range(max_panels)
        )
        return sorted(set(picks))

    def _layout(self, steps, ncols, width, scene_width=None, max_panels=4):
        """分步图的帧号、行列数、比例（英寸/像素）与总高度（英寸）。

        scene_width 给出时按它（而不是本画面的宽度）换算比例，几段动画
        拼在一起时格子大小因此一致。
        """
        steps = self.panel_steps(max_panels) if steps is None else list(steps)
        ncols = min(len(steps), ncols or self.panel_cols)
        nrows = -(-len(steps) // ncols)
        scale = (
            width / max(ncols, 2) / ((scene_width or self.scene.width) + 10)
        )
        if ncols == 1 and self.panel_cols == 1:
            scale = width / (self.scene.width + 10)
        height = (self.scene.height + 36) * scale * nrows
        return steps, ncols, nrows, scale, height

    def _draw_panels(self, fig, steps, ncols, nrows, scale):
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, k in zip(axes.flat, steps, strict=False):
            _draw_mpl(ax, self.scene.visible(k), self.scene, scale)
            ax.set_title(
                _mathtext(f"第 {k + 1}/{len(self)} 步：{self.short[k]}"),
                fontsize=max(7.0, 12 * scale * 72),
                pad=2,
            )
        fig.subplots_adjust(
            left=0.01, right=0.99, bottom=0.01, top=0.95, wspace=0.05
        )

    def panel_figure(self, steps=None, ncols=None, width=6.5):
        """把若干帧画成分步小图（Matplotlib Figure），供 PDF 使用。

        Args:
            steps: 要画的帧号；None 时用 :meth:`panel_steps`。
            ncols: 每行几幅；None 时用构造时给定的列数。
            width: 整张图的宽度（英寸）。
        """
        import matplotlib.pyplot as plt

        use_chinese_font()
        steps, ncols, nrows, scale, height = self._layout(steps, ncols, width)
        fig = plt.figure(figsize=(width, height))
        self._draw_panels(fig, steps, ncols, nrows, scale)
        return fig

    def _repr_png_(self):
        return _png(self.panel_figure())


class AnimationGroup:
    """几段动画放在同一个图里：网页中依次排列，PDF 中上下拼成一张图。

    myst-nb 的 figure 选项只能包住一个输出，所以同一个代码单元里的几段
    动画要先合成一个对象再显示。
    """

    def __init__(self, anims):
        self.anims = list(anims)
        if not self.anims or not all(
            isinstance(a, Animation) for a in self.anims
        ):
            raise ValueError("AnimationGroup 需要至少一个 Animation。")

    def __len__(self):
        return len(self.anims)

    def __repr__(self):
        return (
            f"<{len(self)} 段动画："
            + "、".join(a.name for a in self.anims)
            + ">"
        )

    def _repr_html_(self):
        return "".join(a.to_html() for a in self.anims)

    def panel_figure(self, width=6.5):
        """每段动画的分步图占一行，拼成一张 Figure。"""
        import matplotlib.pyplot as plt

        use_chinese_font()
        widest = max(a.scene.width for a in self.anims)
        per = 2 if len(self.anims) > 2 else 4  # 几段拼在一起时每段少画几帧
        lays = [a._layout(None, None, width, widest, per) for a in self.anims]
        heights = [lay[-1] for lay in lays]
        fig = plt.figure(figsize=(width, sum(heights)))
        subs = fig.subfigures(
            len(lays), 1, height_ratios=heights, squeeze=False
        )[:, 0]
        for a, sub, lay in zip(self.anims, subs, lays, strict=True):
            a._draw_panels(sub, *lay[:4])
        return fig

    def _repr_png_(self):
        return _png(self.panel_figure())


def group(*anims):
    """把几段动画合成一个可显示的对象，见 :class:`AnimationGroup`。"""
    return AnimationGroup(anims)


def _png(fig, dpi=150, colors=48):
    """Figure → PNG 字节。示意图只有几种平涂颜色，量化成调色板图像后
    体积约为原来的四分之一（这份 PNG 也随执行过的笔记本进入网站）。"""
    import matplotlib.pyplot as plt
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    img = img.quantize(colors=colors, dither=Image.Dither.NONE)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


_MATH_TABLE = {
    "ŷ": r"\hat{y}",
    "ℓ": r"\ell ",
    "δ": r"\delta ",
    "∂": r"\partial ",
    "⊙": r"\odot ",
    "σ": r"\sigma ",
    "⊤": r"\top ",
    "′": "'",
}
# 不含中文与空白的一段；其中有上下标记号的才转成 mathtext
_TOKEN = re.compile(r"[^\s\u2e80-\u9fff\uff00-\uffef]+")


def _mathtext(s):
    """把上下标记号转成 Matplotlib 的 mathtext（中文保持原样）。"""

    def conv(m):
        t = m.group(0)
        if not (_SUP.search(t) or any(a in t for a in _MATH_TABLE)):
            return t
        for a, b in _MATH_TABLE.items():
            t = t.replace(a, b)
        return f"${t}$"

    return _TOKEN.sub(conv, s)


def _html_markup(s):
    """说明文字里的上下标写成 HTML 的 sup/sub。"""
    out, pos = [], 0
    for m in _SUP.finditer(s):
        out.append(html.escape(s[pos : m.start()]))
        tag = "sup" if m.group(1) == "^" else "sub"
        out.append(f"<{tag}>{html.escape(m.group(2))}</{tag}>")
        pos = m.end()
    out.append(html.escape(s[pos:]))
    return "".join(out)


def _draw_mpl(ax, prims, sc, scale):
    """用 Matplotlib 画出一组图元（坐标与 SVG 相同，y 轴向下）。"""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    pt = scale * 72  # 1 个 SVG 像素对应的磅数
    for p in prims:
        if p["kind"] == "rect":
            fill, edge, lw, dash, alpha = _BOX[p["cls"]]
            ax.add_patch(
                Rectangle(
                    (p["x"], p["y"]),
                    p["w"],
                    p["h"],
                    facecolor="none" if fill == "none" else fill,
                    edgecolor="none" if edge == "none" else edge,
                    lw=lw * pt,
                    ls="--" if dash else "-",
                    alpha=None,
                )
            )
            if alpha < 1:
                ax.patches[-1].set_facecolor((*_rgb(fill), alpha))
        elif p["kind"] == "line":
            color, lw, dash = _LINE[p["cls"]]
            ax.add_patch(
                FancyArrowPatch(
                    (p["x"], p["y"]),
                    (p["x2"], p["y2"]),
                    arrowstyle="-|>",
                    mutation_scale=9 * pt * 1.4,
                    color=color,
                    lw=lw * pt,
                    ls="--" if dash else "-",
                )
            )
        else:
            color, size, _ = _TEXT[p["cls"]]
            ha = {"m": "center", "s": "left", "e": "right"}[p["anchor"]]
            ax.text(
                p["x"],
                p["y"],
                _mathtext(p["s"]),
                ha=ha,
                va="center",
                color=color,
                fontsize=size * pt,
            )
    ax.set_xlim(0, sc.width)
    ax.set_ylim(sc.height, 0)
    ax.set_aspect("equal")


def _rgb(color):
    from matplotlib.colors import to_rgb

    return to_rgb(color)


# ---------------------------------------------------------------------------
# 画面的积木：带数字的网格
# ---------------------------------------------------------------------------


def _grid(sc, x0, y0, values, cls, tcls="tin", mask=None, k=None):
    """从 (x0, y0) 起画一个带数字的网格；mask 为 False 的格子画成填充。"""
    for (r, c), v in np.ndenumerate(values):
        real = True if mask is None else bool(mask[r, c])
        x, y = x0 + c * CELL, y0 + r * CELL
        sc.rect(x, y, CELL, CELL, cls if real else "pad", k=k)
        if v is not None:
            sc.text(x + CELL / 2, y + CELL / 2, _fmt(v), tcls, k=k)


def _check_2d(name, A):
    A = np.asarray(A, dtype=float)
    if A.ndim != 2:
        raise ValueError(
            f"{name} 应是二维数组 (高, 宽)，收到形状 {A.shape}。"
        )
    return A


# ---------------------------------------------------------------------------
# 单通道卷积：核在（填充后的）输入上滑动
# ---------------------------------------------------------------------------


def conv_animation(X, K, stride=1, padding="valid", dilation=1, title=None):
    """单通道卷积（互相关）逐位置计算的动画。

    先用 :func:`dlbook.conv.conv2d` 算出整个输出 Y；第 k 帧（按行优先
    的第 k 个输出位置 (i, j)）高亮核覆盖的输入格子，并把 Y[i, j] 写进
    输出格子。已算出的输出格子保持可见。

    Args:
        X: 输入，形状 (高, 宽)。
        K: 卷积核，形状 (核高, 核宽)。
        stride: 步长。
        padding: ``"valid"``、``"same"``、``"full"`` 或整数。
        dilation: 扩张率。
        title: 画面上方的标题；None 时自动生成。

    Returns:
        :class:`Animation`。``frames[k]`` 含 ``out``（输出位置 (i, j)）、
        ``window``（核覆盖的格子在填充后输入中的 (行, 列)，按核的行优先
        顺序）与 ``value``（conv2d 在该位置的输出）。另有属性
        ``padded``（填充后的输入）、``kernel`` 与 ``output``。
    """
    X, K = _check_2d("输入 X", X), _check_2d("卷积核 K", K)
    Y = conv2d(
        X[None, :, :, None],
        K[:, :, None, None],
        stride=stride,
        padding=padding,
        dilation=dilation,
    )[0, :, :, 0]
    (fh, fw), (H, W) = K.shape, X.shape
    (t, b) = padding_amounts(H, fh, stride, padding, dilation)
    (lf, rt) = padding_amounts(W, fw, stride, padding, dilation)
    Xp = np.pad(X, ((t, b), (lf, rt)))
    mask = np.pad(np.ones_like(X, dtype=bool), ((t, b), (lf, rt)))
    frames = []
    for (i, j), v in np.ndenumerate(Y):
        window = [
            (stride * i + dilation * x, stride * j + dilation * y)
            for x in range(fh)
            for y in range(fw)
        ]
        frames.append({"out": (i, j), "window": window, "value": float(v)})

    # 布局：标题一行；左边输入，中间卷积核，右边输出
    top = 40
    kx = Xp.shape[1] * CELL + 2 * CELL
    ox = kx + fw * CELL + 2 * CELL
    height = top + max(Xp.shape[0], Y.shape[0], fh) * CELL + 8
    sc = Scene(ox + Y.shape[1] * CELL + 8, height)
    if title is None:
        mode = padding if isinstance(padding, str) else f"p={padding}"
        title = (
            f"输入 {H}×{W}，核 {fh}×{fw}，{mode}，s={stride}"
            + (f"，d={dilation}" if dilation > 1 else "")
            + f" → 输出 {Y.shape[0]}×{Y.shape[1]}"
        )
    sc.text(4, 12, title, "title", anchor="s")
    _grid(sc, 0, top, Xp, "in", mask=mask)
    sc.text(kx + fw * CELL / 2, top - 9, "核", "t")
    _grid(sc, kx, top, K, "ker")
    sc.text(ox + Y.shape[1] * CELL / 2, top - 9, "输出", "t")
    _grid(sc, ox, top, np.full(Y.shape, None), "out")
    sc.rect(kx, top, fw * CELL, fh * CELL, "kerhi")

    def window(sub):
        # 核覆盖的格子（相隔 d 个格子）及格子右上角的核权重
        for (x, y), w in np.ndenumerate(K):
            r, c = dilation * x, dilation * y
            sub.rect(c * CELL, r * CELL, CELL, CELL, "win", tag=("win", r, c))
            sub.text(c * CELL + CELL - 5, r * CELL + 6, _fmt(w), "tw")

    sc.symbol("win", window)
    captions, short = [], []
    for k, fr in enumerate(frames):
        i, j = fr["out"]
        r0, c0 = stride * i, stride * j
        sc.use("win", c0 * CELL, top + r0 * CELL, k=k, cell=(r0, c0))
        x, y = ox + j * CELL, top + i * CELL
        sc.rect(x, y, CELL, CELL, "hi", k=k)
        sc.text(
            x + CELL / 2,
            y + CELL / 2,
            _fmt(fr["value"]),
            _outcls(_fmt(fr["value"])),
            k=k,
            key=f"o{i},{j}",
            tag=("out", i, j),
        )
        terms = [
            f"{_fmt(Xp[r, c])}×{_fmt(w)}"
            for (r, c), w in zip(fr["window"], K.ravel(), strict=True)
        ]
        captions.append(
            f"输出 ({i}, {j}) = "
            + " + ".join(terms)
            + f" = {_fmt(fr['value'])}"
        )
        short.append(f"输出 ({i}, {j}) = {_fmt(fr['value'])}")
    alt = (
        f"动画：{fh}×{fw} 的卷积核在 {H}×{W} 的输入上滑动"
        f"（{title}），每一步高亮核覆盖的输入格子，并把对应位置相乘再相加"
        "的结果写进输出格子，共 "
        f"{len(frames)} 步。"
    )
    anim = Animation(f"conv-{_slug(title)}", sc, frames, captions, short, alt)
    anim.padded, anim.kernel, anim.output = Xp, K, Y
    return anim


def _slug(s):
    """由标题得到稳定的短标识（两次构建相同，不受哈希随机化影响）。"""
    return f"{zlib.crc32(s.encode()):08x}"


# ---------------------------------------------------------------------------
# 多通道卷积：3 个输入通道 → 2 个输出通道
# ---------------------------------------------------------------------------


def multichannel_conv_animation(X, W, b=None, stride=1, padding="valid"):
    """多通道卷积逐位置计算的动画。

    输出通道 c 的位置 (i, j) = 各输入通道上“窗口 ⊙ 该通道的核”之和
    再加偏置 b[c]。数值取自 :func:`dlbook.conv.conv2d` 的输出。

    Args:
        X: 输入，形状 (高, 宽, 输入通道)。
        W: 卷积核，形状 (核高, 核宽, 输入通道, 输出通道)。
        b: 偏置，形状 (输出通道,)；None 表示 0。
        stride: 步长。
        padding: ``"valid"``、``"same"``、``"full"`` 或整数。

    Returns:
        :class:`Animation`。``frames[k]`` 含 ``out``（(i, j, c)）、
        ``window``（各通道相同的覆盖格子，填充后坐标）、``partial``（每个
        输入通道的部分和）与 ``value``（conv2d 的输出）。另有属性
        ``padded``（填充后的输入，形状 (高, 宽, 通道)）与 ``output``。
    """
    X, W = np.asarray(X, dtype=float), np.asarray(W, dtype=float)
    if X.ndim != 3 or W.ndim != 4 or X.shape[2] != W.shape[2]:
        raise ValueError(
            "X 应为 (高, 宽, 输入通道)，W 应为 (核高, 核宽, 输入通道, "
            f"输出通道)，且通道数相同；收到 {X.shape} 与 {W.shape}。"
        )
    fh, fw, c_in, c_out = W.shape
    b = np.zeros(c_out) if b is None else np.asarray(b, dtype=float)
    Y = conv2d(X[None], W, b, stride=stride, padding=padding)[0]
    (t, bt) = padding_amounts(X.shape[0], fh, stride, padding)
    (lf, rt) = padding_amounts(X.shape[1], fw, stride, padding)
    Xp = np.pad(X, ((t, bt), (lf, rt), (0, 0)))
    mask = np.pad(np.ones(X.shape[:2], dtype=bool), ((t, bt), (lf, rt)))
    Hp, Wp = Xp.shape[:2]
    Ho, Wo = Y.shape[:2]
    frames = []
    for c in range(c_out):
        for i in range(Ho):
            for j in range(Wo):
                r0, c0 = stride * i, stride * j
                window = [
                    (r0 + x, c0 + y) for x in range(fh) for y in range(fw)
                ]
                patch = Xp[r0 : r0 + fh, c0 : c0 + fw]
                partial = [
                    float((patch[:, :, ch] * W[:, :, ch, c]).sum())
                    for ch in range(c_in)
                ]
                frames.append(
                    {
                        "out": (i, j, c),
                        "window": window,
                        "partial": partial,
                        "value": float(Y[i, j, c]),
                    }
                )
                if not np.isclose(sum(partial) + b[c], Y[i, j, c]):
                    raise AssertionError("部分和与 conv2d 的输出不一致。")

    # 布局：输入通道竖排；每个输出通道一列核，与输入通道对齐；右侧为输出
    top, gap = 40, 22
    block = max(Hp, fh) * CELL + gap
    kx = Wp * CELL + 2 * CELL
    ox = kx + c_out * (fw + 1) * CELL + CELL
    height = top + c_in * block
    sc = Scene(ox + Wo * CELL + 70, height)
    title = (
        f"输入 {X.shape[0]}×{X.shape[1]}×{c_in}，{c_out} 组 {fh}×{fw}×{c_in}"
        f" 的核，s={stride}，p={t} → 输出 {Ho}×{Wo}×{c_out}"
    )
    sc.text(4, 12, title, "title", anchor="s")
    for ch in range(c_in):
        y0 = top + ch * block
        sc.text(Wp * CELL / 2, y0 - 9, f"输入通道 {ch}", "t")
        _grid(sc, 0, y0, Xp[:, :, ch], "in", mask=mask)
        for c in range(c_out):
            x0 = kx + c * (fw + 1) * CELL
            if ch == 0:
                sc.text(x0 + fw * CELL / 2, y0 - 9, f"核 {c}", "t")
            _grid(sc, x0, y0, W[:, :, ch, c], "ker")
    for c in range(c_out):
        x0 = kx + c * (fw + 1) * CELL
        sc.text(x0 + fw * CELL / 2, height - gap / 2, f"b={_fmt(b[c])}", "t")
        y0 = top + c * (Ho * CELL + gap)
        sc.text(ox + Wo * CELL / 2, y0 - 9, f"输出通道 {c}", "t")
        _grid(sc, ox, y0, np.full((Ho, Wo), None), "out")

    for ch in range(c_in):

        def window(sub, ch=ch):
            for x in range(fh):
                for y in range(fw):
                    sub.rect(
                        y * CELL,
                        x * CELL,
                        CELL,
                        CELL,
                        "win",
                        tag=("win", ch, x, y),
                    )

        sc.symbol(f"w{ch}", window)
    captions, short = [], []
    for k, fr in enumerate(frames):
        i, j, c = fr["out"]
        r0, c0 = stride * i, stride * j
        for ch in range(c_in):
            y0 = top + ch * block
            sc.use(f"w{ch}", c0 * CELL, y0 + r0 * CELL, k=k, cell=(r0, c0))
        x0 = kx + c * (fw + 1) * CELL
        sc.rect(
            x0 - 3,
            top - 3,
            fw * CELL + 6,
            (c_in - 1) * block + fh * CELL + 6,
            "kerhi",
            k=k,
        )
        x, y = ox + j * CELL, top + c * (Ho * CELL + gap) + i * CELL
        sc.rect(x, y, CELL, CELL, "hi", k=k)
        sc.text(
            x + CELL / 2,
            y + CELL / 2,
            _fmt(fr["value"]),
            _outcls(_fmt(fr["value"])),
            k=k,
            key=f"o{i},{j},{c}",
            tag=("out", i, j, c),
        )
        parts = " + ".join(
            f"{_fmt(p)}" if p >= 0 else f"({_fmt(p)})" for p in fr["partial"]
        )
        captions.append(
            f"输出通道 {c} 的 ({i}, {j})：三个输入通道的部分和 {parts}，"
            f"加偏置 {_fmt(b[c])}，得 {_fmt(fr['value'])}"
        )
        short.append(f"通道 {c} 的 ({i}, {j}) = {_fmt(fr['value'])}")
    alt = (
        f"动画：{c_in} 通道的输入与 {c_out} 组卷积核做卷积。每一步在全部 "
        f"{c_in} 个输入通道上高亮同一位置的窗口，框出当前输出通道的一组核，"
        "把各通道的部分和加上偏置写进该输出通道的格子，共 "
        f"{len(frames)} 步。"
    )
    anim = Animation(f"mc-{_slug(title)}", sc, frames, captions, short, alt)
    anim.panels = [0, len(frames) - 1]
    anim.padded, anim.output = Xp, Y
    return anim


# ---------------------------------------------------------------------------
# 转置卷积：每个输入像素把“自身值 × 核”盖到输出上
# ---------------------------------------------------------------------------


def conv_transpose_animation(X, K, stride=1):
    """转置卷积（valid，不裁剪）的“盖章”动画。

    第 k 帧取第 k 个输入像素 (i, j)（行优先），把 X[i, j]·K 加到输出中
    以 (s·i, s·j) 为左上角的 f×f 区域上，重叠处相加。第 k 帧显示的输出
    是 :func:`dlbook.conv.conv_transpose2d` 作用在“只保留前 k+1 个输入
    像素”的输入上的结果，最后一帧即完整的转置卷积。

    Args:
        X: 输入，形状 (高, 宽)。
        K: 卷积核，形状 (核高, 核宽)。
        stride: 步长 s（不超过核边长，否则输出中有从未盖到的格子）。

    Returns:
        :class:`Animation`。``frames[k]`` 含 ``src``（输入像素 (i, j)）、
        ``stamp``（盖到的输出格子 (行, 列)，按核的行优先顺序）、
        ``contrib``（X[i, j]·K）与 ``partial``（到这一帧为止的输出）。
        另有属性 ``kernel`` 与 ``output``（完整的转置卷积输出）。
    """
    X, K = _check_2d("输入 X", X), _check_2d("卷积核 K", K)
    (H, W), (fh, fw) = X.shape, K.shape
    if stride > min(fh, fw):
        raise ValueError(
            f"步长 {stride} 大于核边长 {K.shape}：输出中会有从未盖到的"
            "格子，盖章示意图不适用；请取 stride <= 核边长。"
        )

    def tconv(A):
        return conv_transpose2d(
            A[None, :, :, None], K[:, :, None, None], stride=stride
        )[0, :, :, 0]

    Y = tconv(X)
    frames, seen = [], np.zeros_like(X)
    for (i, j), v in np.ndenumerate(X):
        seen[i, j] = v
        r0, c0 = stride * i, stride * j
        stamp = [(r0 + x, c0 + y) for x in range(fh) for y in range(fw)]
        frames.append(
            {
                "src": (i, j),
                "stamp": stamp,
                "contrib": v * K,
                "partial": tconv(seen),
            }
        )

    top = 40
    kx = W * CELL + 2 * CELL
    ox = kx + fw * CELL + 2 * CELL
    sc = Scene(
        ox + Y.shape[1] * CELL + 8, top + max(Y.shape[0], H) * CELL + 8
    )
    title = (
        f"转置卷积：输入 {H}×{W}，核 {fh}×{fw}，s={stride}"
        f" → 输出 {Y.shape[0]}×{Y.shape[1]}"
    )
    sc.text(4, 12, title, "title", anchor="s")
    sc.text(W * CELL / 2, top - 9, "输入", "t")
    _grid(sc, 0, top, X, "in")
    sc.text(kx + fw * CELL / 2, top - 9, "核", "t")
    _grid(sc, kx, top, K, "ker")
    sc.text(ox + Y.shape[1] * CELL / 2, top - 9, "输出（重叠处相加）", "t")
    _grid(sc, ox, top, np.full(Y.shape, None), "out")

    def stamp_cells(sub):
        for x in range(fh):
            for y in range(fw):
                sub.rect(
                    y * CELL, x * CELL, CELL, CELL, "win", tag=("stamp", x, y)
                )

    sc.symbol("st", stamp_cells)
    captions, short = [], []
    prev = np.zeros_like(Y)
    for k, fr in enumerate(frames):
        i, j = fr["src"]
        r0, c0 = stride * i, stride * j
        sc.rect(j * CELL, top + i * CELL, CELL, CELL, "src", k=k)
        sc.use("st", ox + c0 * CELL, top + r0 * CELL, k=k, cell=(r0, c0))
        for (r, c), add in zip(
            fr["stamp"], fr["contrib"].ravel(), strict=True
        ):
            x, y = ox + c * CELL, top + r * CELL
            v = _fmt(fr["partial"][r, c])
            sc.text(
                x + CELL / 2,
                y + CELL / 2,
                v,
                _outcls(v),
                k=k,
                key=f"o{r},{c}",
                tag=("out", r, c),
            )
            sc.text(x + CELL - 5, y + 6, _fmt(add), "tw", k=k)
        overlap = int(((prev != 0) & (fr["partial"] != prev)).sum())
        prev = fr["partial"]
        captions.append(
            f"输入 ({i}, {j}) 的值 {_fmt(X[i, j])} 乘以核，盖到输出从 "
            f"({r0}, {c0}) 开始的 {fh}×{fw} 区域，与已有的值相加"
            + (f"（{overlap} 个格子与之前的盖章重叠）" if overlap else "")
        )
        short.append(f"盖第 ({i}, {j}) 个输入")
    alt = (
        f"动画：转置卷积的盖章过程。{H}×{W} 输入的每个像素依次把"
        f"“自身值乘以 {fh}×{fw} 卷积核”加到输出的一块区域上，相邻像素的"
        f"区域相隔 {stride} 格，重叠处相加，共 {len(frames)} 步。"
    )
    anim = Animation(f"tc-{_slug(title)}", sc, frames, captions, short, alt)
    anim.kernel, anim.output = K, Y
    return anim


# ---------------------------------------------------------------------------
# 池化：同一个窗口同时给出最大值与平均值
# ---------------------------------------------------------------------------


def pool_animation(X, pool_size=2, stride=None):
    """最大池化与平均池化（valid）逐窗口计算的动画。

    两种池化的输出都取自 :func:`dlbook.pooling.pool2d`；窗口内的最大值
    所在格子另加框线。

    Args:
        X: 输入，形状 (高, 宽)。
        pool_size: 池化窗口边长。
        stride: 步长；None 时等于 pool_size。

    Returns:
        :class:`Animation`。``frames[k]`` 含 ``out``（(i, j)）、
        ``window``（窗口覆盖的格子）、``argmax``（最大值所在格子）、
        ``max`` 与 ``avg``。另有属性 ``output_max`` 与 ``output_avg``。
    """
    from dlbook.pooling import pool2d

    X = _check_2d("输入 X", X)
    s = pool_size if stride is None else stride
    f = pool_size
    Ym = pool2d(X[None, :, :, None], f, s, mode="max")[0, :, :, 0]
    Ya = pool2d(X[None, :, :, None], f, s, mode="avg")[0, :, :, 0]
    frames = []
    for (i, j), vmax in np.ndenumerate(Ym):
        window = [(s * i + x, s * j + y) for x in range(f) for y in range(f)]
        vals = [X[r, c] for r, c in window]
        frames.append(
            {
                "out": (i, j),
                "window": window,
                "argmax": window[int(np.argmax(vals))],
                "max": float(vmax),
                "avg": float(Ya[i, j]),
            }
        )
    H, W = X.shape
    Ho, Wo = Ym.shape
    top = 40
    mx = W * CELL + 2 * CELL
    ax_ = mx + Wo * CELL + 2 * CELL
    sc = Scene(ax_ + Wo * CELL + 12, top + max(H, Ho) * CELL + 8)
    title = f"{f}×{f} 池化，步长 {s}：输入 {H}×{W} → 输出 {Ho}×{Wo}"
    sc.text(4, 12, title, "title", anchor="s")
    _grid(sc, 0, top, X, "in")
    sc.text(mx + Wo * CELL / 2, top - 9, "最大池化", "t")
    _grid(sc, mx, top, np.full((Ho, Wo), None), "out")
    sc.text(ax_ + Wo * CELL / 2, top - 9, "平均池化", "t")
    _grid(sc, ax_, top, np.full((Ho, Wo), None), "out")

    def window(sub):
        for x in range(f):
            for y in range(f):
                sub.rect(
                    y * CELL, x * CELL, CELL, CELL, "win", tag=("win", x, y)
                )

    sc.symbol("pw", window)
    captions, short = [], []
    for k, fr in enumerate(frames):
        i, j = fr["out"]
        sc.use(
            "pw", s * j * CELL, top + s * i * CELL, k=k, cell=(s * i, s * j)
        )
        r, c = fr["argmax"]
        sc.rect(
            c * CELL + 2,
            top + r * CELL + 2,
            CELL - 4,
            CELL - 4,
            "src",
            k=k,
            tag=("argmax", r, c),
        )
        for x0, name in ((mx, "max"), (ax_, "avg")):
            x, y = x0 + j * CELL, top + i * CELL
            sc.rect(x, y, CELL, CELL, "hi", k=k)
            v = _fmt(fr[name])
            sc.text(
                x + CELL / 2,
                y + CELL / 2,
                v,
                _outcls(v),
                k=k,
                key=f"{name}{i},{j}",
                tag=(name, i, j),
            )
        vals = "、".join(_fmt(X[r, c]) for r, c in fr["window"])
        captions.append(
            f"窗口 ({i}, {j}) 内的值为 {vals}：最大值 {_fmt(fr['max'])}，"
            f"平均值 {_fmt(fr['avg'])}"
        )
        short.append(f"最大 {_fmt(fr['max'])}，平均 {_fmt(fr['avg'])}")
    alt = (
        f"动画：{f}×{f} 的池化窗口以步长 {s} 扫过 {H}×{W} 的输入。每一步"
        "高亮窗口、框出其中的最大值，并把窗口的最大值和平均值分别写进两张"
        f"输出表，共 {len(frames)} 步。"
    )
    anim = Animation(f"pool-{_slug(title)}", sc, frames, captions, short, alt)
    anim.output_max, anim.output_avg = Ym, Ya
    return anim


# ---------------------------------------------------------------------------
# BP 计算图：前向的数值流过去，梯度流回来
# ---------------------------------------------------------------------------


def _vec(v, digits=4):
    return "(" + ", ".join(_fmt(x, digits, True) for x in np.ravel(v)) + ")"


def backprop_frames(example=None):
    """手算例子（2-3-2 网络）前向与反向每一步的数值。

    数值全部取自 :mod:`dlbook.mlp` 的 ``forward``、``loss_and_delta`` 与
    ``backward``，只有 ∂ℓ/∂a^[1] = W^[2]ᵀ δ^[2] 这一中间量（mlp 内部
    算了但不返回）在这里按同一公式写出。

    Args:
        example: :func:`dlbook.mlp.worked_example` 的返回值；None 时调用它。

    Returns:
        帧数据列表，每项含 ``phase``（"forward"/"backward"）、``node``、
        ``value``（向量，或参数梯度的 {"W": ..., "b": ...}）。
    """
    from dlbook import mlp

    ex = mlp.worked_example() if example is None else example
    X, y, params, acts = ex["x"], ex["y"], ex["params"], ex["activations"]
    if X.shape[0] != 1:
        raise ValueError(f"计算图动画只演示一个样本，收到 {X.shape[0]} 个。")
    A_L, cache = mlp.forward(X, params, acts)
    loss, Delta = mlp.loss_and_delta(
        A_L, cache[-1][1], y, "softmax_ce", acts[-1]
    )
    grads = mlp.backward(Delta, cache, params, acts)
    y_hat = Delta[0] + mlp.one_hot(y, Delta.shape[1])[0]
    d_a1 = (Delta @ params[1]["W"])[0]
    steps = [
        ("forward", "x", X[0]),
        ("forward", "z1", cache[0][1][0]),
        ("forward", "a1", cache[1][0][0]),
        ("forward", "z2", cache[1][1][0]),
        ("forward", "yh", y_hat),
        ("forward", "L", np.array([loss])),
        ("backward", "z2", Delta[0]),
        ("backward", "p2", grads[1]),
        ("backward", "a1", d_a1),
        ("backward", "z1", grads[0]["b"]),
        ("backward", "p1", grads[0]),
    ]
    return [{"phase": p, "node": n, "value": v} for p, n, v in steps]


# 计算图的布局（SVG 像素）：主干一行，参数在上方
_MAIN_Y, _PARAM_Y = 215, 110
_NODES = {
    "x": (45, _MAIN_Y, "x"),
    "z1": (160, _MAIN_Y, "z^{[1]}"),
    "a1": (270, _MAIN_Y, "a^{[1]}"),
    "z2": (380, _MAIN_Y, "z^{[2]}"),
    "yh": (490, _MAIN_Y, "ŷ"),
    "L": (600, _MAIN_Y, "ℓ"),
    "y": (680, _MAIN_Y, "y"),
    "p1": (160, _PARAM_Y, "W^{[1]}, b^{[1]}"),
    "p2": (380, _PARAM_Y, "W^{[2]}, b^{[2]}"),
}
# 前向的边：(起点, 终点, 箭头上的字)
_EDGES = [
    ("x", "z1", ""),
    ("p1", "z1", ""),
    ("z1", "a1", "σ"),
    ("a1", "z2", ""),
    ("p2", "z2", ""),
    ("z2", "yh", "softmax"),
    ("yh", "L", "−log"),
    ("y", "L", ""),
]
# 第 k 步前向高亮的边（按终点）与反向画出的边
_BACK = {
    "z2": ("L", "z2"),
    "p2": ("z2", "p2"),
    "a1": ("z2", "a1"),
    "z1": ("a1", "z1"),
    "p1": ("z1", "p1"),
}
_BP_TEXT = {
    ("forward", "x"): ("输入 x = a^{[0]}", "前向：输入 x"),
    ("forward", "z1"): ("z^{[1]} = W^{[1]}x + b^{[1]}", "前向：z^{[1]}"),
    ("forward", "a1"): ("a^{[1]} = σ(z^{[1]})", "前向：a^{[1]}"),
    ("forward", "z2"): (
        "z^{[2]} = W^{[2]}a^{[1]} + b^{[2]}",
        "前向：z^{[2]}",
    ),
    ("forward", "yh"): ("ŷ = softmax(z^{[2]})", "前向：ŷ"),
    ("forward", "L"): ("损失 ℓ = −log ŷ_{2}（真实类别是第 2 类）", "前向：ℓ"),
    ("backward", "z2"): (
        "δ^{[2]} = ∂ℓ/∂z^{[2]} = ŷ − y",
        "反向：δ^{[2]}",
    ),
    ("backward", "p2"): (
        "∂ℓ/∂W^{[2]} = δ^{[2]}a^{[1]⊤}，∂ℓ/∂b^{[2]} = δ^{[2]}",
        "反向：∂ℓ/∂W^{[2]}",
    ),
    ("backward", "a1"): (
        "∂ℓ/∂a^{[1]} = W^{[2]⊤}δ^{[2]}",
        "反向：∂ℓ/∂a^{[1]}",
    ),
    ("backward", "z1"): (
        "δ^{[1]} = ∂ℓ/∂a^{[1]} ⊙ σ′(z^{[1]})",
        "反向：δ^{[1]}",
    ),
    ("backward", "p1"): (
        "∂ℓ/∂W^{[1]} = δ^{[1]}x^{⊤}，∂ℓ/∂b^{[1]} = δ^{[1]}",
        "反向：∂ℓ/∂W^{[1]}",
    ),
}
_GRAD_NAME = {"z2": "δ^{[2]}", "a1": "∂ℓ/∂a^{[1]}", "z1": "δ^{[1]}"}


def _node_box(name):
    x, y, _ = _NODES[name]
    w = 96 if name.startswith("p") else 52
    return x - w / 2, y - 16, w, 32


def _edge_ends(a, b, dy=0, dx=0):
    """两节点方框边缘之间的线段端点。"""
    (xa, ya, _), (xb, yb, _) = _NODES[a], _NODES[b]
    if ya == yb:
        sgn = 1 if xb > xa else -1
        ha, hb = _node_box(a)[2] / 2, _node_box(b)[2] / 2
        return xa + sgn * (ha + 2), ya + dy, xb - sgn * (hb + 5), yb + dy
    sgn = 1 if yb > ya else -1
    return xa + dx, ya + sgn * 18, xb + dx, yb - sgn * 21


def backprop_animation(example=None):
    """BP 计算图动画：前向的数值依次流过各节点，然后梯度反向流回。

    Args:
        example: :func:`dlbook.mlp.worked_example` 的返回值；None 时调用它。

    Returns:
        :class:`Animation`，``frames`` 见 :func:`backprop_frames`。
    """
    frames = backprop_frames(example)
    sc = Scene(720, 384)
    for a, b, label in _EDGES:
        x1, y1, x2, y2 = _edge_ends(a, b)
        sc.line(x1, y1, x2, y2, "a")
        if label:
            sc.text((x1 + x2) / 2, y1 - 9, label, "fwd")
    for name, (x, y, label) in _NODES.items():
        cls = {"L": "loss", "y": "param", "p1": "param", "p2": "param"}
        sc.rect(*_node_box(name), cls.get(name, "node"))
        sc.text(x, y, label, "lab")
    captions, short = [], []
    for k, fr in enumerate(frames):
        node, v = fr["node"], fr["value"]
        x, y, label = _NODES[node]
        sc.rect(*_node_box(node), "nodehi", k=k)
        sc.text(x, y, label, "lab", k=k)
        long, brief = _BP_TEXT[(fr["phase"], node)]
        if fr["phase"] == "forward":
            for a, b, _ in _EDGES:
                if b == node:
                    sc.line(*_edge_ends(a, b), "af", k=k)
            for m, comp in enumerate(np.ravel(v)):
                sc.text(
                    x,
                    y + 33 + 18 * m,
                    _fmt(comp, 4, True),
                    "fwd",
                    k=k,
                    key=f"v{node}{m}",
                    tag=("value", node, m),
                )
            captions.append(f"前向：{long} = {_vec(v)}")
        else:
            a, b = _BACK[node]
            if node.startswith("p"):
                ends = _edge_ends(a, b, dx=14)
            else:
                ends = _edge_ends(a, b, dy=-26)
            sc.line(*ends, "ab", k=k, key=f"e{node}")
            if node.startswith("p"):
                _param_grad(sc, k, node, v)
                captions.append(f"反向：{long}；∂ℓ/∂b = {_vec(v['b'])}")
            else:
                sc.text(
                    x, y + 92, _GRAD_NAME[node], "bwd", k=k, key=f"gn{node}"
                )
                for m, comp in enumerate(np.ravel(v)):
                    sc.text(
                        x,
                        y + 112 + 18 * m,
                        _fmt(comp, 4, True),
                        "bwd",
                        k=k,
                        key=f"g{node}{m}",
                        tag=("grad", node, m),
                    )
                captions.append(f"反向：{long} = {_vec(v)}")
        short.append(brief)
    alt = (
        "动画：手算例子中 2-3-2 网络的计算图。前 6 步，输入 x 经 z[1]、a[1]、"
        "z[2]、ŷ 到损失 ℓ，各节点下方依次写出前向算得的数值；后 5 步，"
        "梯度从损失沿红色虚线反向流回，依次写出 δ[2]、∂ℓ/∂W[2]、∂ℓ/∂a[1]、"
        "δ[1] 与 ∂ℓ/∂W[1] 的数值。"
    )
    anim = Animation("bp-graph", sc, frames, captions, short, alt, ms=1500)
    # PDF：前向走完、反向走完各一幅，上下排列，字才不至于太小
    anim.panels, anim.panel_cols = [5, len(frames) - 1], 1
    return anim


#: 参数梯度矩阵的列宽（SVG 像素）：放得下 14.5 px 的“−0.0123”；两块
#: 矩阵各向外错开一点，免得中间相撞
_GRAD_COL, _GRAD_SHIFT = 66, {"p1": -24, "p2": 24}


def _param_grad(sc, k, node, g):
    """在参数节点上方写出 [∂ℓ/∂W | ∂ℓ/∂b]。"""
    x = _NODES[node][0]
    layer = node[1]
    W, b = np.asarray(g["W"]), np.asarray(g["b"])
    cols = W.shape[1] + 1
    x = x + _GRAD_SHIFT[node]
    x0 = x - cols * _GRAD_COL / 2
    sc.text(
        x,
        18,
        f"∂ℓ/∂W^{{[{layer}]}} | ∂ℓ/∂b^{{[{layer}]}}",
        "bwd",
        k=k,
        key=f"gn{node}",
    )
    for r in range(W.shape[0]):
        row = list(W[r]) + [b[r]]
        for c, v in enumerate(row):
            sc.text(
                x0 + _GRAD_COL * (c + 1) - 4 + (6 if c == cols - 1 else 0),
                40 + 18 * r,
                _fmt(v, 4, True),
                "bwd",
                k=k,
                key=f"g{node}{r},{c}",
                tag=("pgrad", node, r, c),
                anchor="e",
            )
