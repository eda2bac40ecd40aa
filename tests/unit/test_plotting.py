"""dlbook.plotting：中文字体真的被使用，没有缺字形的方框。"""

import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from dlbook import plotting  # noqa: E402


def test_cjk_font_is_registered_and_resolves():
    family = plotting.use_chinese_font()
    prop = font_manager.FontProperties(family=["sans-serif"])
    path = font_manager.findfont(prop, fallback_to_default=False)
    assert path == plotting.cjk_font_path()
    assert family == "Noto Sans CJK SC"


def test_chinese_text_renders_without_missing_glyphs():
    plotting.use_chinese_font()
    fig, ax = plt.subplots()
    ax.set_title("卷积核与反向传播：检查点")
    with warnings.catch_warnings():
        # 缺字形时 Matplotlib 会发出 "Glyph ... missing from font" 警告。
        warnings.simplefilter("error")
        fig.canvas.draw()
    plt.close(fig)


def test_show_digits_grid_and_labels():
    X = np.zeros((12, 28, 28), dtype=np.uint8)
    y = np.arange(12) % 10
    fig = plotting.show_digits(X, y, n=12, ncols=5, title="标题")
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 12 and len(fig.axes) == 15
    assert images[3].get_title() == "3"
    fig = plotting.show_digits(X, y, n=2, pred=y[::-1])
    assert fig.axes[0].get_title() == "真 0 / 预测 1"
    plt.close("all")


@pytest.mark.parametrize("n", [0, 13])
def test_show_digits_rejects_bad_n(n):
    X = np.zeros((12, 28, 28))
    with pytest.raises(ValueError, match=f"收到 {n}"):
        plotting.show_digits(X, np.zeros(12), n=n)


def test_show_digits_rejects_flat_images():
    with pytest.raises(ValueError, match=r"\(样本数, 高, 宽\)"):
        plotting.show_digits(np.zeros((5, 784)), np.zeros(5))
