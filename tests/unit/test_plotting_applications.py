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


def test_show_label_issues_titles_given_predicted_and_probs():
    X = np.zeros((3, 4, 4))
    X[2, 1, 1] = 1
    given = np.array([0, 1, 2])
    probs = np.array([[0.9, 0.1, 0.0], [0.5, 0.5, 0.0], [0.7, 0.05, 0.25]])
    fig = P.show_label_issues(X, given, probs, [2, 1], ncols=2, highlight=[1])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["标 2→测 0\n0.25 / 0.70", "★标 1→测 0\n0.50 / 0.50"]
    # 突出的那张标题是红色，其余不是
    colors = [ax.title.get_color() for ax in fig.axes]
    assert colors[1] == "tab:red" and colors[0] != "tab:red"
    # 画的是所选的图片，顺序不变
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), X[2])


def test_show_label_issues_rejects_empty_and_mismatched():
    import pytest

    X, y, p = np.zeros((2, 4, 4)), np.array([0, 1]), np.eye(2)
    with pytest.raises(ValueError, match="idx 为空"):
        P.show_label_issues(X, y, p, [])
    with pytest.raises(ValueError, match="样本数"):
        P.show_label_issues(X, y[:1], p, [0])
