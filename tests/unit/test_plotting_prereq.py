"""dlbook.plotting.prereq：图里画的正是传入的数，坏输入给出中文错误。"""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from dlbook.plotting import prereq  # noqa: E402


def test_softmax_bars_show_the_values_and_highlight_the_label():
    z = np.array([1.0, -2.0, 3.0, 0.5])
    p = np.exp(z) / np.exp(z).sum()
    fig = prereq.plot_softmax(z, p, label=2)
    ax1, ax2 = fig.axes
    heights1 = [b.get_height() for b in ax1.patches]
    heights2 = [b.get_height() for b in ax2.patches]
    np.testing.assert_allclose(heights1, z)
    np.testing.assert_allclose(heights2, p)
    colors = {tuple(b.get_facecolor()) for b in ax2.patches}
    assert len(colors) == 2  # 真实类别一种颜色，其余一种
    label_color = ax2.patches[2].get_facecolor()
    assert all(
        b.get_facecolor() != label_color
        for i, b in enumerate(ax2.patches)
        if i != 2
    )
    plt.close(fig)


def test_softmax_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="一一对应"):
        prereq.plot_softmax(np.zeros(3), np.zeros(4), label=0)
    with pytest.raises(ValueError, match="不在 0 到 2"):
        prereq.plot_softmax(np.zeros(3), np.ones(3) / 3, label=5)


def test_val_losses_one_line_per_run():
    curves = {"A": {"val_loss": [1.0, 0.5]}, "B": {"val_loss": [2.0, 1.5]}}
    fig = prereq.plot_val_losses(curves)
    lines = fig.axes[0].get_lines()
    assert [tuple(line.get_ydata()) for line in lines] == [
        (1.0, 0.5),
        (2.0, 1.5),
    ]
    plt.close(fig)


def test_overfitting_marks_the_best_validation_epoch():
    h = {"loss": [1.0, 0.5, 0.2, 0.1], "val_loss": [1.2, 0.9, 1.0, 1.3]}
    fig = prereq.plot_overfitting({"小训练集": h, "对照": h})
    assert len(fig.axes) == 4  # 两列，每列上下两个坐标系
    for ax in fig.axes:
        vlines = [
            line
            for line in ax.get_lines()
            if len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2
        ]
        assert vlines and vlines[0].get_xdata()[0] == 2  # 第 2 轮最低
    top, bottom = fig.axes[0], fig.axes[2]
    assert top.get_yscale() == "log"
    assert list(bottom.get_lines()[0].get_ydata()) == h["val_loss"]
    assert any("第 2 轮" in t.get_text() for t in bottom.texts)
    plt.close(fig)


def test_curves_missing_keys_are_reported_in_chinese():
    with pytest.raises(ValueError, match="缺少"):
        prereq.plot_overfitting({"A": {"loss": [1.0]}})
    with pytest.raises(ValueError, match="为空"):
        prereq.plot_val_losses({})
