"""全书共用的绘图工具：中文字体与常用图形。

中文字体取自依赖包 mplfonts 附带的 Noto Sans CJK SC，因此在没有安装
任何系统中文字体的机器上，图中的中文也不会变成方框。
"""

import os

import matplotlib
import numpy as np

#: 图中中文使用的字体族名。
CJK_FAMILY = "Noto Sans CJK SC"
_FONT_FILE = "NotoSansCJKsc-Regular.otf"


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
    return CJK_FAMILY


def show_digits(X, y, n: int = 20, ncols: int = 10, title=None, pred=None):
    """把若干张数字图片排成网格，每张标出标签（和预测）。

    Args:
        X: 图片，形状 (样本数, 高, 宽)。
        y: 标签，形状 (样本数,)。
        n: 显示的张数，不超过样本数。
        ncols: 每行张数。
        title: 整张图的标题。
        pred: 可选的预测标签，形状 (样本数,)；给出时标题写作
            “真 a / 预测 b”。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"X 的形状应为 (样本数, 高, 宽)，收到 {X.shape}。")
    if not 1 <= n <= len(X):
        raise ValueError(f"n 应在 1 到 {len(X)} 之间，收到 {n}。")
    use_chinese_font()
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.1 * ncols, 1.3 * nrows), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(X[i], cmap="gray_r")
        label = f"{y[i]}" if pred is None else f"真 {y[i]} / 预测 {pred[i]}"
        ax.set_title(label, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
