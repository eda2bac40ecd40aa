"""“卷积网络的应用”的图：画出的数据就是传入的数据，标签是中文。"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import dlbook  # noqa: E402, F401
from dlbook.plotting import applications as P  # noqa: E402


def test_plot_schedule_draws_every_step():
    fig = P.plot_schedule(
        lambda s: 0.1 * s, total_steps=20, steps_per_epoch=5
    )
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(x, np.arange(21))
    np.testing.assert_allclose(y, 0.1 * np.arange(21))
    assert len(ax.lines) == 1 + 3  # 每轮边界一条竖线（第 5、10、15 步）
    assert ax.get_xlabel() == "训练步数"


def test_plot_reliability_plots_used_bins_and_ece():
    cal = {
        "count": np.array([0, 3, 5]),
        "confidence": np.array([0.0, 0.5, 0.9]),
        "accuracy": np.array([0.0, 0.4, 1.0]),
        "ece": 0.0875,
    }
    fig = P.plot_reliability(cal, "普通预测")
    ax = fig.axes[0]
    x, y = ax.lines[1].get_data()
    np.testing.assert_allclose(x, [0.5, 0.9])  # 空箱不画
    np.testing.assert_allclose(y, [0.4, 1.0])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert (
        "普通预测（ECE = 0.087）" in labels
        or "普通预测（ECE = 0.088）" in labels
    )


def test_plot_dropout_masks_shows_kept_pixels():
    a = np.ones((4, 4, 3))
    a[0, 0, 1] = 0
    b = np.zeros((4, 4, 3))
    fig = P.plot_dropout_masks([a, b], ["甲", "乙"], n_channels=3)
    assert len(fig.axes) == 6
    img = fig.axes[1].images[0].get_array()
    assert not img[0, 0] and img[1, 1]  # 0 画成“丢弃”
    assert fig.axes[3].get_ylabel() == "乙"
