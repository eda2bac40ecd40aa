"""OrbaxCheckpoint：对得上才加载、逐位相同；对不上给出指名变量的错误。

orbax-checkpoint 在 requirements.txt 里，所以这里不跳过。
"""

import os

import numpy as np
import orbax.checkpoint  # noqa: F401  （缺了就该失败，而不是跳过）
import pytest

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook.orbax_checkpoint import (
    check_orbax_checkpoint,
    load_orbax_checkpoint,
    saved_variables,
    step_directories,
)
from dlbook.saving import CheckpointError


def _model(prefix="a", units=3, compile=True):
    import keras

    # 层名显式给出还不够：优化器（adam_1）和 Dropout 的随机数生成器
    # （seed_generator_1）也按进程内的计数编号，所以先清零计数
    keras.backend.clear_session()
    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(units, activation="relu", name=f"{prefix}1"),
            keras.layers.Dropout(0.5, name=f"{prefix}drop"),
            keras.layers.Dense(2, name=f"{prefix}2"),
        ],
        name=f"net_{prefix}",
    )
    if compile:
        model.compile(optimizer="adam", loss="mse")
    return model


def _data(n=32):
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(n, 4)).astype("float32"),
        rng.normal(size=(n, 2)).astype("float32"),
    )


def _state(model):
    return [np.asarray(v) for v in model.weights + model.optimizer.variables]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """训练 3 轮、max_to_keep=2 的检查点目录和训练好的模型。"""
    import keras

    directory = str(tmp_path_factory.mktemp("orbax") / "ckpt")
    keras.utils.set_random_seed(1)
    model = _model()
    x, y = _data()
    callback = keras.callbacks.OrbaxCheckpoint(directory, max_to_keep=2)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[callback])
    return directory, model, _state(model)


def test_steps_are_zero_based_epochs_and_max_to_keep_prunes(trained):
    directory, _, _ = trained
    assert step_directories(directory) == [1, 2]  # 第 0 轮的已被删掉


def test_round_trip_is_bitwise_including_optimizer_and_dropout_rng(trained):
    directory, model, saved = trained
    restored = _model()
    assert check_orbax_checkpoint(restored, directory) != []  # 优化器未建
    assert load_orbax_checkpoint(restored, directory) == 2
    for a, b in zip(saved, _state(restored), strict=True):
        np.testing.assert_array_equal(b, a)
    # Dropout 的随机数状态是不可训练变量，也存了、也恢复了
    seed = [v for v in model.non_trainable_variables if "seed" in v.path]
    assert seed and np.asarray(seed[0]).any()
    np.testing.assert_array_equal(
        np.asarray(restored.non_trainable_variables[0]), np.asarray(seed[0])
    )


@pytest.mark.slow
def test_continued_training_matches_only_with_optimizer_state(tmp_path):
    import keras

    keras.utils.set_random_seed(2)
    original = _model()
    x, y = _data()
    callback = keras.callbacks.OrbaxCheckpoint(str(tmp_path / "c"))
    original.fit(
        x, y, batch_size=8, epochs=2, verbose=0, callbacks=[callback]
    )
    full = _model()
    load_orbax_checkpoint(full, tmp_path / "c")
    weights_only = _model()  # 对照组：同样的权重和随机数状态，Adam 从头来
    weights_only.set_weights(original.get_weights())
    results = []
    for m in (original, full, weights_only):  # 不重设 Dropout 的随机数
        m.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        results.append(m.get_weights())
    for a, b in zip(results[0], results[1], strict=True):
        np.testing.assert_array_equal(b, a)
    assert any(
        not np.array_equal(a, c)
        for a, c in zip(results[0], results[2], strict=True)
    )


def test_keras_load_weights_silently_skips_other_paths(trained):
    # 本模块存在的理由：Keras 3.15 对路径对不上的变量不报错、不加载
    directory, _, _ = trained
    other = _model(prefix="b")
    other.optimizer.build(other.trainable_variables)
    before = [np.asarray(w).copy() for w in other.weights]
    other.load_weights(directory)
    for a, b in zip(before, other.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(b), a)


def test_mismatched_paths_are_refused_and_model_untouched(trained):
    directory, _, _ = trained
    other = _model(prefix="b")
    before = [np.asarray(w).copy() for w in other.weights]
    with pytest.raises(CheckpointError) as info:
        load_orbax_checkpoint(other, directory)
    message = str(info.value)
    assert "net_a/a1/kernel：模型里没有这个路径" in message
    assert "clear_session" in message and directory in message
    for a, b in zip(before, other.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(b), a)


def test_shape_mismatch_is_named(trained):
    directory, _, _ = trained
    wider = _model(units=5)
    problems = check_orbax_checkpoint(wider, directory)
    assert any(
        "net_a/a1/kernel：检查点里形状 (4, 3)，模型里 (4, 5)" in p
        for p in problems
    )
    with pytest.raises(CheckpointError, match="形状"):
        load_orbax_checkpoint(wider, directory)


def test_saved_variables_lists_groups_without_metrics(trained):
    directory, model, _ = trained
    saved = saved_variables(directory)
    assert set(saved) == {
        "trainable_variables",
        "non_trainable_variables",
        "optimizer_variables",
    }
    assert saved["trainable_variables"] == {
        v.path: tuple(v.shape) for v in model.trainable_variables
    }
    assert saved["optimizer_variables"]["adam/iteration"] == ()


def test_relative_directory_is_accepted_and_named_as_given(
    trained, monkeypatch
):
    directory, _, saved = trained
    monkeypatch.chdir(os.path.dirname(directory))
    restored = _model()
    assert load_orbax_checkpoint(restored, "ckpt") == 2
    for a, b in zip(saved, _state(restored), strict=True):
        np.testing.assert_array_equal(b, a)
    with pytest.raises(CheckpointError, match=r"Orbax 检查点 ckpt/2 与模型"):
        load_orbax_checkpoint(_model(prefix="b"), "ckpt")


@pytest.mark.slow
def test_relative_directory_fails_silently_or_at_the_next_save(
    tmp_path, monkeypatch
):
    # Orbax 只接受绝对路径。保存在后台进行，出错时：只保存一次的 fit
    # 照常结束（on_train_end 关闭 Checkpointer 时吞掉了异常），什么也
    # 没存下；保存两次的 fit 到下一次保存时才抛出
    import keras

    monkeypatch.chdir(tmp_path)
    x, y = _data(8)
    once = keras.callbacks.OrbaxCheckpoint("once")
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[once])
    assert step_directories("once") == []
    twice = keras.callbacks.OrbaxCheckpoint("twice")
    with pytest.raises(ValueError, match="should be absolute"):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[twice])


def test_missing_and_empty_directories(tmp_path):
    with pytest.raises(FileNotFoundError, match="找不到 Orbax 检查点目录"):
        load_orbax_checkpoint(_model(), tmp_path / "nope")
    os.makedirs(tmp_path / "empty" / "3.orbax-checkpoint-tmp-1")
    assert step_directories(tmp_path / "empty") == []
    with pytest.raises(CheckpointError, match="没有已完成的 Orbax 检查点"):
        load_orbax_checkpoint(_model(), tmp_path / "empty")
