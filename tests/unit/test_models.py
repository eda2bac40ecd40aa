"""模型构建函数：输出形状、手算参数量、层的行为、短训练与保存读回。"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook import models as M


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)


@settings(max_examples=15, deadline=None)
@given(
    k=st.integers(1, 5),
    c_in=st.integers(1, 4),
    c_out=st.integers(1, 6),
    bias=st.booleans(),
)
def test_conv2d_params_matches_keras(k, c_in, c_out, bias):
    import keras

    layer = keras.layers.Conv2D(c_out, k, use_bias=bias)
    layer.build((None, 8, 8, c_in))
    assert layer.count_params() == M.conv2d_params(k, c_in, c_out, bias)


def test_dense_and_batchnorm_params_match_keras():
    import keras

    dense = keras.layers.Dense(7)
    dense.build((None, 13))
    assert dense.count_params() == M.dense_params(13, 7) == 13 * 7 + 7
    bn = keras.layers.BatchNormalization()
    bn.build((None, 4, 4, 6))
    trainable, frozen = M.batchnorm_params(6)
    assert sum(int(np.prod(w.shape)) for w in bn.trainable_weights) == 12
    assert bn.count_params() == trainable + frozen == 24


def test_classic_cnn_shape_and_params():
    model = M.build_classic_cnn()
    # 手算：3·3·1·32+32、3·3·32·64+64、(5·5·64)·10+10
    assert model.count_params() == 320 + 18496 + 16010 == 34826
    assert model.output_shape == (None, 10)
    X = np.zeros((3, 28, 28, 1), np.uint8)
    probs = model.predict(X, verbose=0)
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


def test_chapter_cnn_shape_and_params():
    model = M.build_cnn()
    # 手算：卷积不带偏置；批量归一化每通道 2 个可训练 + 2 个不可训练
    # 两层 5×5，卷积后先池化：28→24→12→8→4，展平 4·4·64 = 1024 维
    trainable = 5 * 5 * 1 * 32 + 64 + 5 * 5 * 32 * 64 + 128 + 1024 * 10 + 10
    frozen = 2 * 32 + 2 * 64
    n_trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert n_trainable == trainable == 62442
    assert model.count_params() == trainable + frozen == 62634
    assert model.output_shape == (None, 10)
    assert model.get_layer("block1_conv").output.shape[1:] == (24, 24, 32)
    # 批量归一化与 ReLU 作用在池化之后的特征图上
    assert model.get_layer("block1_bn").output.shape[1:] == (12, 12, 32)
    assert model.get_layer("block1_relu").output.shape[1:] == (12, 12, 32)
    assert model.get_layer("block2_conv").output.shape[1:] == (8, 8, 64)
    assert model.get_layer("block2_relu").output.shape[1:] == (4, 4, 64)
    assert model.get_layer("flatten").output.shape[1:] == (1024,)


def test_maxpool_commutes_with_monotone_functions():
    import keras

    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3))
    assert M.pool_commutes(keras.layers.ReLU(), x) == 0.0
    bn = keras.layers.BatchNormalization()
    bn.build((None, 8, 8, 3))
    bn.moving_mean.assign([0.2, -0.1, 0.3])
    bn.moving_variance.assign([2.0, 0.5, 1.0])
    bn.gamma.assign([1.5, 0.5, 2.0])

    def bn_inference(t):
        return bn(t, training=False)

    assert M.pool_commutes(bn_inference, x) < 1e-6
    # γ < 0 把“取最大”变成“取最小”，次序不能再交换
    bn.gamma.assign([1.5, 0.5, -1.0])
    assert M.pool_commutes(bn_inference, x) > 0.1
    # 不单调的函数也不行
    assert M.pool_commutes(keras.ops.sin, x) > 0.1
    # 平均池化靠线性：仿射的批量归一化不论 γ 正负都能交换，ReLU 不能
    assert M.pool_commutes(bn_inference, x, pooling="average") < 1e-5
    relu = keras.layers.ReLU()
    assert M.pool_commutes(relu, x, pooling="average") > 0.1
    with pytest.raises(ValueError, match="'median'"):
        M.pool_commutes(relu, x, pooling="median")


def test_chapter_cnn_other_sizes():
    model = M.build_cnn(
        input_shape=(32, 32, 3), num_classes=4, width=8, shift=0
    )
    assert model.output_shape == (None, 4)
    # 两层 5×5：32→28→14→10→5；5·5·16 = 400 维
    assert model.get_layer("flatten").output.shape[1:] == (400,)
    same = M.build_cnn(kernel_sizes=(3, 3), shift=0)
    # 28→26→13→11→5（池化向下取整）
    assert same.get_layer("flatten").output.shape[1:] == (5 * 5 * 64,)
    assert same.get_layer("block1_conv").kernel.shape == (3, 3, 1, 32)
    assert "augment" not in [layer.name for layer in model.layers]


def test_augmentation_and_dropout_inactive_at_inference():
    model = M.build_cnn()
    X = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1))
    X = X.astype("float32")
    np.testing.assert_array_equal(
        model.predict(X, verbose=0), model.predict(X, verbose=0)
    )
    train1 = model(X, training=True).numpy()
    train2 = model(X, training=True).numpy()
    assert not np.allclose(train1, train2)  # 训练模式下随机


def test_dropout_scaling():
    import keras

    rate = 0.25
    ones = np.ones((1, 40_000), "float32")
    out = keras.layers.Dropout(rate, seed=3)(ones, training=True).numpy()
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 1 / (1 - rate))
    assert abs(np.mean(out == 0) - rate) < 0.01
    assert abs(out.mean() - 1) < 0.02
    same = keras.layers.Dropout(rate)(ones, training=False).numpy()
    np.testing.assert_array_equal(same, ones)


def test_cosine_schedule_shape():
    sched = M.cosine_schedule(1e-2, total_steps=100, warmup_fraction=0.2)
    lr = np.array([float(sched(step)) for step in [0, 10, 20, 60, 100]])
    np.testing.assert_allclose(lr[[0, 2, 4]], [1e-3, 1e-2, 0], atol=1e-7)
    assert lr[0] < lr[1] < lr[2] and lr[2] > lr[3] > lr[4]
    with pytest.raises(ValueError):
        M.cosine_schedule(1e-3, total_steps=1)


@pytest.fixture(scope="module")
def small_split():
    from dlbook.data import load_mnist

    (X_train, y_train), (X_test, y_test) = load_mnist(
        n_train=1000, n_test=300
    )
    return X_train[..., None], y_train, X_test[..., None], y_test


@pytest.mark.slow
def test_short_training_beats_chance(small_split, tmp_path):
    import keras

    X_train, y_train, X_test, y_test = small_split
    model, history, seconds = M.train_cnn(X_train, y_train, epochs=4)
    assert len(history["loss"]) == 4
    assert history["loss"][-1] < history["loss"][0]
    assert seconds > 0
    y_hat = M.predict_labels(model, X_test)
    acc = np.mean(y_hat == y_test)
    assert acc > 0.5, f"4 轮训练后测试准确率只有 {acc:.2%}"

    # 保存为 .keras 再读回，预测不变（缩放与增强层随模型保存）
    path = tmp_path / "cnn.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(
        restored.predict(X_test, verbose=0),
        model.predict(X_test, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.slow
def test_classic_training_beats_chance(small_split):
    X_train, y_train, X_test, y_test = small_split
    model, history, _ = M.train_classic(X_train[:600], y_train[:600])
    assert len(history["loss"]) == M.CLASSIC_EPOCHS
    acc = np.mean(M.predict_labels(model, X_test) == y_test)
    assert acc > 0.5, f"经典网络的测试准确率只有 {acc:.2%}"


def test_ablation_switches_change_the_architecture():
    # 去掉批量归一化：没有 BN 层，卷积改为带偏置（偏置不再被 BN 抵消）
    plain = M.build_cnn(batchnorm=False)
    names = [layer.name for layer in plain.layers]
    assert not any(n.endswith("_bn") for n in names)
    assert plain.get_layer("block1_conv").use_bias
    assert plain.count_params() == (
        M.conv2d_params(5, 1, 32)
        + M.conv2d_params(5, 32, 64)
        + M.dense_params(1024, 10)
    )
    # 常见顺序：BN 与 ReLU 作用在池化之前的 24×24 特征图上，参数不变
    std = M.build_cnn(pool_first=False)
    assert std.get_layer("block1_bn").output.shape[1:] == (24, 24, 32)
    assert std.get_layer("block1_pool").output.shape[1:] == (12, 12, 32)
    assert std.count_params() == M.build_cnn().count_params()
    # 经典布局 + 增强：多一层随机平移，参数不变，推断时原样通过
    aug = M.build_classic_cnn(shift=0.1)
    plain_classic = M.build_classic_cnn()
    kinds = [type(layer).__name__ for layer in aug.layers]
    assert "RandomTranslation" in kinds
    assert "RandomTranslation" not in [
        type(layer).__name__ for layer in plain_classic.layers
    ]
    assert aug.count_params() == plain_classic.count_params()
    plain_classic.set_weights(aug.get_weights())
    X = np.random.default_rng(1).integers(0, 256, (3, 28, 28, 1))
    np.testing.assert_allclose(
        aug.predict(X, verbose=0), plain_classic.predict(X, verbose=0)
    )
    with pytest.raises(ValueError, match="shift"):
        M.build_classic_cnn(shift=0.7)
    with pytest.raises(ValueError, match="kernel_sizes"):
        M.build_cnn(kernel_sizes=(5, 5, 5))


def test_training_in_bn_mode_does_not_commute_with_pooling():
    # 训练时批量归一化用当前批次的统计量：先池化时统计量取自池化后的值，
    # 两种次序因此给出不同的结果（推断时、γ > 0 才可交换）
    import keras

    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3))
    bn = keras.layers.BatchNormalization()
    bn.build((None, 8, 8, 3))
    assert M.pool_commutes(lambda t: bn(t, training=True), x) > 0.1
    assert M.pool_commutes(lambda t: bn(t, training=False), x) < 1e-6


@pytest.mark.slow
def test_train_cnn_schedule_switch(small_split):
    import keras

    X_train, y_train, _, _ = small_split
    model, _, _ = M.train_cnn(
        X_train[:256], y_train[:256], epochs=1, schedule=False, lr=2e-3
    )
    lr = model.optimizer.learning_rate
    assert not isinstance(lr, keras.optimizers.schedules.LearningRateSchedule)
    assert np.isclose(float(lr), 2e-3)
    model, _, _ = M.train_cnn(
        X_train[:256], y_train[:256], epochs=1, build=M.build_classic_cnn
    )
    assert model.name == "classic_cnn"
    assert isinstance(
        model.optimizer._learning_rate,
        keras.optimizers.schedules.LearningRateSchedule,
    )
    with pytest.raises(ValueError, match="epochs"):
        M.train_cnn(X_train, y_train, epochs=0)


@settings(max_examples=60, deadline=None)
@given(
    n01=st.integers(0, 40),
    n10=st.integers(0, 40),
    n11=st.integers(0, 20),
    n00=st.integers(0, 5),
)
def test_mcnemar_matches_scipy_binomtest(n01, n10, n11, n00):
    from scipy.stats import binomtest

    a = np.array([1] * n01 + [0] * n10 + [1] * n11 + [0] * n00, bool)
    b = np.array([0] * n01 + [1] * n10 + [1] * n11 + [0] * n00, bool)
    perm = np.random.default_rng(n01 + 7 * n10).permutation(len(a))
    out = M.mcnemar(a[perm], b[perm])
    assert (out["n01"], out["n10"]) == (n01, n10)
    # 两者都对或都错的样本不影响检验
    if n01 + n10 == 0:
        assert out["p"] == 1.0
    else:
        want = binomtest(n01, n01 + n10, 0.5).pvalue
        assert np.isclose(out["p"], want, rtol=1e-9, atol=1e-12)


def test_mcnemar_rejects_unpaired_input():
    with pytest.raises(ValueError, match="同一批样本"):
        M.mcnemar(np.ones(5, bool), np.ones(4, bool))
    with pytest.raises(ValueError, match="布尔"):
        M.mcnemar(np.ones(5), np.ones(5))
    # 明显的差别给出小的 p 值，没有差别给出 1
    a = np.array([True] * 30 + [False] * 2)
    b = np.array([False] * 30 + [True] * 2)
    assert M.mcnemar(a, b)["p"] < 1e-6
    assert M.mcnemar(a, a)["p"] == 1.0


def test_summarize_runs():
    rows = [{"key": "a", "name": "甲"}, {"key": "b", "name": "乙"}]
    recs = [
        {"key": "a", "acc": 0.9, "seconds": 1.0},
        {"key": "a", "acc": 0.8, "seconds": 3.0},
        {"key": "b", "acc": 0.5, "seconds": 2.0},
    ]
    table = M.summarize_runs(recs, rows)
    assert list(table.index) == ["甲", "乙"]
    assert np.isclose(table.loc["甲", "准确率均值"], 0.85)
    assert np.isclose(table.loc["甲", "标准差"], np.std([0.9, 0.8], ddof=1))
    assert table.loc["甲", "最低"] == 0.8 and table.loc["乙", "标准差"] == 0
    with pytest.raises(FileNotFoundError, match="--write"):
        M.baseline_results("/nonexistent/cnn.json")


@pytest.mark.slow
def test_step_seconds_is_positive_and_leaves_shapes(small_split):
    X_train, y_train, _, _ = small_split
    model = M.compile_model(M.build_classic_cnn())
    seconds = M.step_seconds(model, X_train, y_train, batch_size=32, steps=3)
    assert 0 < seconds < 60
    assert model.output_shape == (None, 10)


def test_calibration_hand_example_and_limits():
    # 两个样本：置信度 0.9 判对、0.6 判错，各在自己的箱子里
    probs = np.array([[0.9, 0.1], [0.4, 0.6]])
    out = M.calibration(probs, np.array([0, 0]), n_bins=10)
    assert out["count"].sum() == 2
    assert np.isclose(out["ece"], (abs(1 - 0.9) + abs(0 - 0.6)) / 2)
    # 校准良好：置信度为 p 的样本恰以概率 p 判对，ECE 接近 0
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1.0, 20_000)
    y_hat_right = rng.random(20_000) < p
    probs = np.stack([p, 1 - p], axis=1)
    y = np.where(y_hat_right, 0, 1)
    assert M.calibration(probs, y)["ece"] < 0.02
    # 过度自信：说 0.99 却只对一半，ECE 约 0.49
    probs = np.tile([0.99, 0.01], (1000, 1))
    y = np.arange(1000) % 2
    assert abs(M.calibration(probs, y)["ece"] - 0.49) < 1e-9
    with pytest.raises(ValueError, match="样本数"):
        M.calibration(np.ones(3), np.ones(3))


def test_predict_tta_shifts_and_averages():
    class Sum:
        """假模型：“概率”是左上角与右下角像素，便于看出平移的方向。"""

        def predict(self, X, batch_size=None, verbose=0):
            return np.stack([X[:, 0, 0, 0], X[:, -1, -1, 0]], axis=1)

    X = np.zeros((1, 4, 4, 1))
    X[0, 1, 1, 0] = 1.0  # 一个亮点
    # 不平移：两个角都是 0
    np.testing.assert_array_equal(M.predict_tta(Sum(), X, [(0, 0)]), [[0, 0]])
    # 向上、向左各移一格，亮点到了左上角
    np.testing.assert_array_equal(
        M.predict_tta(Sum(), X, [(-1, -1)]), [[1, 0]]
    )
    # 平均：一半的版本亮点在左上角
    out = M.predict_tta(Sum(), X, [(-1, -1), (0, 0)])
    np.testing.assert_array_equal(out, [[0.5, 0]])
    # 移出边界的像素丢掉，空出来的补 0，而不是卷回另一边
    X2 = np.zeros((1, 4, 4, 1))
    X2[0, 3, 3, 0] = 1.0
    np.testing.assert_array_equal(
        M.predict_tta(Sum(), X2, [(1, 1)]), [[0, 0]]
    )
