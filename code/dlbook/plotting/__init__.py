"""全书的插图：共用的积木在这里，各部分的图在同名子模块中。

- :mod:`dlbook.plotting.saving`、:mod:`~dlbook.plotting.backprop`、
  :mod:`~dlbook.plotting.convnets`、:mod:`~dlbook.plotting.applications`：
  四部分各自的图；
- 本模块：中文字体（:func:`use_chinese_font`）、图片网格
  （:func:`image_grid`）、学习曲线一类的折线（:func:`plot_series`）与
  统一的收尾（:func:`finish`）。

中文字体取自依赖包 mplfonts 附带的 Noto Sans CJK SC，因此在没有安装
任何系统中文字体的机器上，图中的中文也不会变成方框。
"""

import contextlib
import os

import matplotlib
import numpy as np

#: 图中中文使用的字体族名。
CJK_FAMILY = "Noto Sans CJK SC"
_FONT_FILE = "NotoSansCJKsc-Regular.otf"

#: 可读性规则：图宽不超过 PAGE_WIDTH 英寸（网页正文栏宽，100 dpi 下
#: 800 px），图中文字不小于 FONT 磅（100 dpi 下 16.7 px，不小于正文的
#: 16 px）。更宽的图在网页上按比例缩小，字也跟着变小。
#: tests/unit/test_figure_text.py 对每一幅图检查这条规则。
PAGE_WIDTH, FONT = 8.0, 12
_READABLE = {
    "font.size": FONT,
    "axes.titlesize": FONT + 1,
    "axes.labelsize": FONT,
    "xtick.labelsize": FONT,
    "ytick.labelsize": FONT,
    "legend.fontsize": FONT,
    "legend.title_fontsize": FONT,
    "figure.titlesize": FONT + 2,
}


def cjk_font_path() -> str:
    """返回 mplfonts 附带的 Noto Sans CJK SC 字体文件路径。"""
    import mplfonts

    path = os.path.join(
        os.path.dirname(mplfonts.__file__), "fonts", _FONT_FILE
    )
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"找不到中文字体文件 {path}。请重新安装依赖："
            "pip install -r requirements.txt"
        )
    return path


def use_chinese_font() -> str:
    """注册中文字体并设为 Matplotlib 的默认无衬线字体。

    同时把各处的默认字号设为不小于 :data:`FONT` 磅（见 :data:`PAGE_WIDTH`）。
    可重复调用。缺少的字形（如数学符号）自动回退到 DejaVu Sans。

    Returns:
        所用字体的族名。
    """
    from matplotlib import font_manager

    path = cjk_font_path()
    known = {f.fname for f in font_manager.fontManager.ttflist}
    if path not in known:
        font_manager.fontManager.addfont(path)
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = [CJK_FAMILY, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    matplotlib.rcParams["figure.dpi"] = 100
    matplotlib.rcParams.update(_READABLE)
    return CJK_FAMILY


@contextlib.contextmanager
def rc(params):
    """临时改几项 rcParams（如字号），退出时只恢复这几项。

    不用 ``matplotlib.rc_context``：它退出时恢复*全部* rcParams。若图是
    在它里面第一次创建的，Jupyter 的 inline 后端恰在此时启用，并打开
    交互模式（``interactive``）；退出时交互模式被一并“恢复”为关闭，此后
    本页的图都不再显示。也可用作装饰器：``@rc({...})``。
    """
    old = {key: matplotlib.rcParams[key] for key in params}
    matplotlib.rcParams.update(params)
    try:
        yield
    finally:
        matplotlib.rcParams.update(old)


def finish(fig, title=None):
    """给整张图加上标题（可选）并收紧排版；返回这张图。"""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _text_width(text, size=FONT):
    """估计一行文字在 size 磅下的宽度（英寸）：汉字 1 个字号宽，其余半个。"""
    from unicodedata import east_asian_width

    lines = str(text).split("\n") or [""]
    ems = max(
        sum(1.0 if east_asian_width(ch) in "WF" else 0.6 for ch in line)
        for line in lines
    )
    return ems * size / 72


def image_grid(
    images,
    titles=None,
    *,
    ncols=8,
    cmap="gray_r",
    size=1.1,
    title=None,
    **imshow,
):
    """把若干张图片排成网格，每张可带一个小标题；空出的格子不显示。

    每格至少与最长的小标题一样宽，整张图不超过正文宽度
    （:data:`PAGE_WIDTH`），小标题用 :data:`FONT` 磅。

    Args:
        images: 图片序列，每张形状 (高, 宽)（或 imshow 接受的形状）；
            ``None`` 表示空出这一格。
        titles: 可选，与 ``images`` 等长的小标题。
        ncols: 每行张数（图片少于它时取图片数）。
        cmap: 颜色映射，或与 ``images`` 等长的颜色映射列表；黑字白底的
            数字用 ``"gray_r"``。
        size: 每格的边长（英寸）。
        title: 整张图的标题。
        **imshow: 传给 ``imshow`` 的其他参数，如 ``vmin``、``vmax``。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    images = list(images)
    if not images:
        raise ValueError("images 为空：至少要有一张图片。")
    if titles is not None and len(titles) != len(images):
        raise ValueError(
            f"titles 有 {len(titles)} 个，图片有 {len(images)} 张，应相等。"
        )
    cmaps = [cmap] * len(images) if isinstance(cmap, str) else list(cmap)
    use_chinese_font()
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    if titles is not None:
        size = max(size, max(_text_width(t) for t in titles) + 0.1)
        lines = max(str(t).count("\n") + 1 for t in titles)
        extra = 0.1 + 0.23 * lines
    else:
        extra = 0.0
    size = min(size, PAGE_WIDTH / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols, (size + extra) * nrows),
        squeeze=False,
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images) and images[i] is not None:
            ax.imshow(images[i], cmap=cmaps[i], **imshow)
        if i < len(images) and titles is not None:
            ax.set_title(titles[i], fontsize=FONT, pad=3)
    return finish(fig, title)


def plot_series(
    ax, series, *, xlabel, ylabel, title=None, integer_x=True, styles=None
):
    """在一个坐标系里画若干条折线（如逐轮的损失），带图例与网格。

    Args:
        ax: Matplotlib 的坐标系。
        series: ``{图例: y 序列}`` 或 ``{图例: (x 序列, y 序列)}``；
            只给 y 时横轴从 1 数起（第 1 轮、第 2 轮……）。
        xlabel, ylabel: 坐标轴名称。
        title: 坐标系的标题。
        integer_x: 横轴刻度只取整数（轮次）。
        styles: 可选，与 ``series`` 等长的 ``ax.plot`` 参数字典列表
            （颜色、线型、标记……），覆盖默认的标记。
    """
    from matplotlib.ticker import MaxNLocator

    markers = "os^xdv"
    for k, (label, values) in enumerate(series.items()):
        x, y = values if isinstance(values, tuple) else (None, values)
        y = np.asarray(y, dtype=float)
        x = np.arange(1, len(y) + 1) if x is None else np.asarray(x)
        style = {"marker": markers[k % len(markers)], "ms": 4}
        style.update(styles[k] if styles else {})
        ax.plot(x, y, label=label, **style)
    if integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def show_digits(X, y, n: int = 20, ncols: int = 10, title=None, pred=None):
    """把若干张数字图片排成网格，每张标出标签（和预测）。

    Args:
        X: 图片，形状 (样本数, 高, 宽)。
        y: 标签，形状 (样本数,)。
        n: 显示的张数，不超过样本数。
        ncols: 每行张数。
        title: 整张图的标题。
        pred: 可选的预测标签，形状 (样本数,)；给出时标题分两行写作
            “真 a”“预测 b”。

    Returns:
        Matplotlib 的 Figure。
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"X 的形状应为 (样本数, 高, 宽)，收到 {X.shape}。")
    if not 1 <= n <= len(X):
        raise ValueError(f"n 应在 1 到 {len(X)} 之间，收到 {n}。")
    titles = [
        f"{y[i]}" if pred is None else f"真 {y[i]}\n预测 {pred[i]}"
        for i in range(n)
    ]
    return image_grid(X[:n], titles, ncols=ncols, size=1.1, title=title)
