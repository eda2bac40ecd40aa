"""dlbook.saving：保存、查找、清理与加载检查点，以及坏输入时的清楚错误。"""

import hashlib
import os

import numpy as np
import pytest

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook.saving import (
    CheckpointError,
    atomic_save,
    check_checkpoint_file,
    checkpoint_epoch,
    latest_checkpoint,
    list_checkpoints,
    load_model_safely,
    load_weights_safely,
    max_abs_diff,
    prune_checkpoints,
    remove_stale_temporaries,
    walk_h5,
)
from dlbook.models import create_model
from dlbook.data import load_flat_mnist


@pytest.fixture(scope="module")
def data():
    (X, y), (X_test, y_test) = load_flat_mnist(n_train=256, n_test=64)
    return X, y, X_test


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """训练过一轮的模型，及其 .weights.h5 与 .keras 文件。"""
    import keras

    X, y, _ = data
    keras.utils.set_random_seed(1)
    model = create_model()
    model.fit(X, y, batch_size=64, epochs=1, verbose=0)
    d = tmp_path_factory.mktemp("trained")
    weights = atomic_save(model, d / "cp-0001.weights.h5")
    whole = atomic_save(model, d / "model.keras")
    return model, weights, whole


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def predict(model, X):
    return model.predict(X, verbose=0)


def test_data_and_model_match_the_lesson(data):
    X, y, X_test = data
    assert X.shape == (256, 784) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    model = create_model()
    assert model.count_params() == 407_050  # 与讲义的 summary 相同
    assert predict(model, X_test[:3]).shape == (3, 10)


def test_weights_roundtrip_restores_predictions_and_optimizer(trained, data):
    model, weights, _ = trained
    X_test = data[2]
    fresh = create_model()
    assert max_abs_diff(predict(fresh, X_test), predict(model, X_test)) > 0
    load_weights_safely(fresh, weights)
    np.testing.assert_allclose(
        predict(fresh, X_test), predict(model, X_test), rtol=0, atol=0
    )
    # 优化器状态（Adam 的步数与动量）也一并恢复了。
    assert int(fresh.optimizer.iterations) == int(model.optimizer.iterations)
    assert (
        max_abs_diff(
            [v.numpy() for v in fresh.optimizer.variables],
            [v.numpy() for v in model.optimizer.variables],
        )
        == 0
    )


def test_weights_file_holds_layers_and_optimizer(trained):
    _, weights, _ = trained
    names = dict(walk_h5(weights))
    assert names["layers/dense/vars/0"].startswith("(784, 512)")
    assert any(n.startswith("optimizer/vars/") for n in names)


def test_whole_model_roundtrip_and_identical_continued_training(
    trained, data
):
    from dlbook.resumable import reseed_dropout

    model, _, whole = trained
    X, y, X_test = data
    restored = load_model_safely(whole)
    np.testing.assert_allclose(
        predict(restored, X_test), predict(model, X_test), rtol=0, atol=0
    )
    # 继续训练一轮：优化器状态相同、随机数相同，结果就逐位相同。
    clone = load_model_safely(whole)
    for m in (restored, clone):
        reseed_dropout(m, seed=0, epoch=1)
        m.fit(X, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    assert max_abs_diff(restored.get_weights(), clone.get_weights()) == 0


def test_checkpoint_epoch_parses_numbers():
    assert checkpoint_epoch("d/cp-0005.weights.h5") == 5
    assert checkpoint_epoch("epoch-0012.keras") == 12
    assert checkpoint_epoch("cp.weights.h5") is None


def test_latest_checkpoint_orders_by_epoch_and_skips_temporaries(tmp_path):
    for name in ["cp-9.weights.h5", "cp-10.weights.h5", "cp-2.weights.h5"]:
        (tmp_path / name).write_bytes(b"x")
    # 未完成的临时文件的编号更大，但不能被当作检查点。
    (tmp_path / ".cp-11.weights.h5.tmp-ab.weights.h5").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert latest_checkpoint(tmp_path).endswith("cp-10.weights.h5")
    assert [os.path.basename(p) for p in list_checkpoints(tmp_path)] == [
        "cp-2.weights.h5",
        "cp-9.weights.h5",
        "cp-10.weights.h5",
    ]
    assert latest_checkpoint(tmp_path, ".keras", missing_ok=True) is None


def test_latest_checkpoint_errors_name_the_directory(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope.*不存在"):
        latest_checkpoint(missing)
    assert latest_checkpoint(missing, missing_ok=True) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="empty.*没有.*是空的"):
        latest_checkpoint(empty)
    (empty / "model.keras").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match=r"model\.keras"):
        latest_checkpoint(empty, ".weights.h5")
    with pytest.raises(NotADirectoryError, match="model.keras"):
        latest_checkpoint(empty / "model.keras")


def test_prune_keeps_the_newest(tmp_path):
    for e in range(1, 6):
        (tmp_path / f"cp-{e:04d}.weights.h5").write_bytes(b"x")
    (tmp_path / "best.weights.h5").write_bytes(b"x")  # 没有编号：不删
    removed = prune_checkpoints(tmp_path, keep=2)
    assert [checkpoint_epoch(p) for p in removed] == [1, 2, 3]
    assert [checkpoint_epoch(p) for p in list_checkpoints(tmp_path)] == [
        None,
        4,
        5,
    ]
    with pytest.raises(ValueError, match="keep"):
        prune_checkpoints(tmp_path, keep=0)
    assert len(list_checkpoints(tmp_path)) == 3


def test_atomic_save_failure_keeps_previous_checkpoint(trained, tmp_path):
    model, weights, _ = trained
    target = tmp_path / "cp.weights.h5"
    atomic_save(model, target)
    before = digest(target)

    def crash(tmp):
        assert os.path.exists(tmp)  # 新文件已写完，只差改名
        raise KeyboardInterrupt("保存途中被打断")

    with pytest.raises(KeyboardInterrupt):
        atomic_save(create_model(), target, before_replace=crash)
    assert digest(target) == before  # 旧检查点一字节未变
    assert os.listdir(tmp_path) == ["cp.weights.h5"]  # 临时文件已清理


def test_atomic_save_rejects_unknown_suffix(trained, tmp_path):
    model = trained[0]
    with pytest.raises(ValueError, match=r"my_checkpoint.*\.weights\.h5"):
        atomic_save(model, tmp_path / "my_checkpoint")
    assert os.listdir(tmp_path) == []


def test_remove_stale_temporaries(tmp_path):
    (tmp_path / ".cp.keras.tmp-1.keras").write_bytes(b"x")
    (tmp_path / "cp.keras").write_bytes(b"x")
    removed = remove_stale_temporaries(tmp_path)
    assert [os.path.basename(p) for p in removed] == [".cp.keras.tmp-1.keras"]
    assert os.listdir(tmp_path) == ["cp.keras"]


def corrupt_files(weights, whole, d):
    """各种坏文件：{名字: 路径}。"""
    raw_w, raw_k = open(weights, "rb").read(), open(whole, "rb").read()
    rng = np.random.default_rng(0)
    files = {
        "truncated.weights.h5": raw_w[: len(raw_w) // 2],
        "random.weights.h5": rng.bytes(4096),
        "empty.weights.h5": b"",
        "truncated.keras": raw_k[: len(raw_k) // 2],
        "random.keras": rng.bytes(4096),
        "flipped.keras": raw_k[:-200] + bytes(200),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    return {name: d / name for name in files}


@pytest.mark.parametrize(
    "name, pattern",
    [
        ("truncated.weights.h5", "不完整的 HDF5"),
        ("random.weights.h5", "不是 HDF5"),
        ("empty.weights.h5", "是空的"),
        ("truncated.keras", "不是完整的 zip"),
        ("random.keras", r"不是 \.keras"),
        ("flipped.keras", "不是完整的 zip|损坏或缺失"),
    ],
)
def test_bad_files_get_clear_errors_and_nothing_changes(
    trained, data, tmp_path, name, pattern
):
    model, weights, whole = trained
    path = corrupt_files(weights, whole, tmp_path)[name]
    before = digest(path)
    fresh = create_model()
    expected = predict(fresh, data[2])
    with pytest.raises(CheckpointError, match=pattern) as info:
        if name.endswith(".keras"):
            load_model_safely(path)
        else:
            load_weights_safely(fresh, path)
    message = str(info.value)
    assert name in message and "请" in message  # 指名文件、说明怎么办
    assert digest(path) == before
    np.testing.assert_array_equal(predict(fresh, data[2]), expected)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.weights.h5.*不存在"):
        load_weights_safely(create_model(), tmp_path / "gone.weights.h5")
    with pytest.raises(FileNotFoundError, match="gone.keras"):
        load_model_safely(tmp_path / "gone.keras")
    with pytest.raises(CheckpointError, match="是一个目录.*TFSMLayer"):
        check_checkpoint_file(tmp_path)


def test_wrong_architecture_is_refused_and_model_untouched(trained, data):
    import keras

    _, weights, _ = trained
    other = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    other.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in other.get_weights()]
    with pytest.raises(CheckpointError, match="不匹配.*create_model") as info:
        load_weights_safely(other, weights)
    assert "cp-0001.weights.h5" in str(info.value)
    assert max_abs_diff(other.get_weights(), before) == 0


def test_formats_are_not_confused(trained):
    _, weights, whole = trained
    with pytest.raises(CheckpointError, match="load_model_safely"):
        load_weights_safely(create_model(), whole)
    with pytest.raises(
        CheckpointError, match="只含权重.*load_weights_safely"
    ):
        load_model_safely(weights)


def test_lambda_layer_refused_by_safe_mode(tmp_path):
    import keras

    model = keras.Sequential(
        [keras.Input(shape=(3,)), keras.layers.Lambda(lambda x: x * 2)]
    )
    path = atomic_save(model, tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        load_model_safely(path)
    unsafe = load_model_safely(path, safe_mode=False)
    np.testing.assert_allclose(predict(unsafe, np.ones((1, 3))), 2.0)
