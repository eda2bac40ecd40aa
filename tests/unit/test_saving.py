"""dlbook.saving：保存、查找、清理与加载检查点，以及坏输入时的清楚错误。"""

import hashlib
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook.saving import (
    CheckpointError,
    atomic_save,
    check_checkpoint_file,
    checkpoint_epoch,
    data_fingerprint,
    keras_summary,
    latest_checkpoint,
    list_checkpoints,
    load_model_safely,
    load_weights_safely,
    max_abs_diff,
    prune_checkpoints,
    remove_stale_temporaries,
    sha256_of,
    verify_manifest,
    walk_h5,
    write_manifest,
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
    # 继续训练一轮：优化器状态相同、随机数相同，结果就逐位相同；
    # 对照组只拿回权重（优化器从零开始），结果必须不同。
    weights_only = create_model()
    weights_only.set_weights(model.get_weights())
    for m in (model, restored, weights_only):
        reseed_dropout(m, seed=0, epoch=1)
        m.fit(X, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    assert max_abs_diff(restored.get_weights(), model.get_weights()) == 0
    assert (
        max_abs_diff(weights_only.get_weights(), model.get_weights()) > 1e-4
    )


#: Keras 文档（ModelCheckpoint）中的文件名模板，补零的与不补零的。
TEMPLATES = [
    "cp-{epoch:04d}.weights.h5",
    "cp-{epoch}.weights.h5",
    "{epoch:02d}-{val_loss:.2f}.weights.h5",
    "{epoch:02d}-{val_loss:.2f}.keras",
    "model.{epoch:02d}-{val_loss:.2f}.keras",
    "cp-{epoch}-{val_loss:.4f}.weights.h5",
    "batch{batch:02d}epoch{epoch:02d}.keras",
    "epoch-{epoch:04d}.keras",
]


def fill(template, epoch, val_loss, batch=3):
    return template.format(epoch=epoch, val_loss=val_loss, batch=batch)


def test_checkpoint_epoch_follows_the_template():
    # 旧实现取“最后一段数字”，会把 05-0.43 读成 43。
    t = "{epoch:02d}-{val_loss:.2f}.weights.h5"
    assert checkpoint_epoch("d/05-0.43.weights.h5", t) == 5
    assert checkpoint_epoch("cp-0005.weights.h5", "cp-{epoch:04d}.weights.h5")
    assert checkpoint_epoch("best.weights.h5", t) is None
    assert checkpoint_epoch("05-0.43.keras", t) is None  # 后缀不同
    with pytest.raises(ValueError, match="epoch"):
        checkpoint_epoch("cp.weights.h5", "cp.weights.h5")
    with pytest.raises(ValueError, match="结尾"):
        checkpoint_epoch("cp-1.ckpt", "cp-{epoch}.ckpt")


@settings(max_examples=200, deadline=None)
@given(
    template=st.sampled_from(TEMPLATES),
    epoch=st.integers(1, 100_000),
    val_loss=st.floats(0, 1e4, allow_nan=False),
)
def test_checkpoint_epoch_roundtrips_keras_templates(
    template, epoch, val_loss
):
    name = fill(template, epoch, val_loss)
    assert checkpoint_epoch(name, template) == epoch
    assert checkpoint_epoch("dir/" + name, "other/" + template) == epoch


@settings(max_examples=30, deadline=None)
@given(
    template=st.sampled_from(TEMPLATES),
    epochs=st.lists(st.integers(1, 300), min_size=1, max_size=8, unique=True),
    losses=st.lists(
        st.floats(0, 99, allow_nan=False), min_size=8, max_size=8
    ),
    keep=st.integers(1, 4),
)
def test_latest_and_prune_follow_epochs_not_digits(
    tmp_path_factory, template, epochs, losses, keep
):
    d = tmp_path_factory.mktemp("ckpt")
    # 写入顺序与轮次无关，只是最大的轮次最后写（否则它不是“最新写入的”）
    order = [e for e in epochs if e != max(epochs)] + [max(epochs)]
    for i, epoch in enumerate(order):
        path = d / fill(template, epoch, losses[i])
        path.write_bytes(b"x")
        os.utime(path, ns=(10**9 * (i + 1), 10**9 * (i + 1)))
    (d / "best.weights.h5").write_bytes(b"x")  # 不符合模板：不能碰
    (d / "notes.txt").write_text("x")
    newest = fill(template, max(epochs), losses[len(epochs) - 1])
    assert os.path.basename(latest_checkpoint(d, template)) == newest
    listed = [
        checkpoint_epoch(p, template) for p in list_checkpoints(d, template)
    ]
    assert listed == sorted(epochs)
    result = prune_checkpoints(d, keep=keep, template=template)
    left = sorted(checkpoint_epoch(p, template) for p in result.kept)
    assert left == sorted(epochs)[-keep:]
    assert [checkpoint_epoch(p, template) for p in result.removed] == sorted(
        epochs
    )[: max(len(epochs) - keep, 0)]
    assert os.path.exists(d / newest)
    assert {os.path.basename(p) for p in result.skipped} == {
        "best.weights.h5",
        "notes.txt",
    }
    assert (d / "best.weights.h5").exists() and (d / "notes.txt").exists()


def test_keras_doc_template_scenario_from_the_review(tmp_path):
    """cp-01-0.90、cp-02-0.50、cp-03-0.70：最新的是第 3 轮，不是第 1 轮。"""
    t = "cp-{epoch:02d}-{val_loss:.2f}.weights.h5"
    for name in ["cp-01-0.90", "cp-02-0.50", "cp-03-0.70"]:
        (tmp_path / f"{name}.weights.h5").write_bytes(b"x")
    assert latest_checkpoint(tmp_path, t).endswith("cp-03-0.70.weights.h5")
    result = prune_checkpoints(tmp_path, keep=2, template=t)
    assert [os.path.basename(p) for p in result.removed] == [
        "cp-01-0.90.weights.h5"
    ]


def test_prune_never_deletes_the_most_recently_written(tmp_path):
    """从头重跑后新写的 cp-0001 比旧的 cp-0005 更新，不能被删。"""
    t = "cp-{epoch:04d}.weights.h5"
    for e in range(1, 6):
        (tmp_path / f"cp-{e:04d}.weights.h5").write_bytes(b"x")
        os.utime(tmp_path / f"cp-{e:04d}.weights.h5", ns=(e * 10**9,) * 2)
    os.utime(tmp_path / "cp-0001.weights.h5", ns=(99 * 10**9,) * 2)
    result = prune_checkpoints(tmp_path, keep=1, template=t)
    kept = sorted(os.path.basename(p) for p in result.kept)
    assert kept == ["cp-0001.weights.h5", "cp-0005.weights.h5"]


def test_latest_checkpoint_orders_by_epoch_and_skips_temporaries(tmp_path):
    t = "cp-{epoch}.weights.h5"
    for name in ["cp-9.weights.h5", "cp-10.weights.h5", "cp-2.weights.h5"]:
        (tmp_path / name).write_bytes(b"x")
    # 未完成的临时文件的编号更大，但不能被当作检查点。
    (tmp_path / ".cp-11.weights.h5.tmp-ab.weights.h5").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert latest_checkpoint(tmp_path, t).endswith("cp-10.weights.h5")
    assert [os.path.basename(p) for p in list_checkpoints(tmp_path, t)] == [
        "cp-2.weights.h5",
        "cp-9.weights.h5",
        "cp-10.weights.h5",
    ]
    assert (
        latest_checkpoint(tmp_path, "e{epoch}.keras", missing_ok=True) is None
    )


def test_latest_checkpoint_errors_name_the_directory(tmp_path):
    t = "cp-{epoch:04d}.weights.h5"
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope.*不存在"):
        latest_checkpoint(missing, t)
    assert latest_checkpoint(missing, t, missing_ok=True) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="empty.*没有.*是空的"):
        latest_checkpoint(empty, t)
    (empty / "model.keras").write_bytes(b"x")
    with pytest.raises(
        FileNotFoundError, match=r"model\.keras.*同一个文件名模板"
    ):
        latest_checkpoint(empty, t)
    with pytest.raises(NotADirectoryError, match="model.keras"):
        latest_checkpoint(empty / "model.keras", t)
    with pytest.raises(TypeError, match="模板"):
        latest_checkpoint(empty, None)


def test_prune_checks_keep(tmp_path):
    t = "cp-{epoch:04d}.weights.h5"
    (tmp_path / "cp-0001.weights.h5").write_bytes(b"x")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="keep"):
            prune_checkpoints(tmp_path, keep=bad, template=t)
    assert len(list_checkpoints(tmp_path, t)) == 1
    assert (
        prune_checkpoints(tmp_path / "..", keep=1, template=t).removed == []
    )


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_save_leaves_the_permissions_of_a_normal_save(
    trained, tmp_path, mask
):
    model = trained[0]
    old = os.umask(mask)
    try:
        model.save_weights(tmp_path / "plain.weights.h5")
        atomic_save(model, tmp_path / "atomic.weights.h5")
        model.save(tmp_path / "plain.keras")
        atomic_save(model, tmp_path / "atomic.keras")
    finally:
        os.umask(old)

    def mode(name):
        return os.stat(tmp_path / name).st_mode & 0o777

    assert mode("atomic.weights.h5") == mode("plain.weights.h5")
    assert mode("atomic.weights.h5") == 0o666 & ~mask
    assert mode("atomic.keras") == mode("plain.keras")
    # 覆盖已有文件时，与直接保存一样保持它原来的权限
    os.chmod(tmp_path / "atomic.keras", 0o640)
    atomic_save(model, tmp_path / "atomic.keras")
    assert mode("atomic.keras") == 0o640


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


def partly_matching_model():
    """与 create_model 只差输出层（5 类）：第一层对得上，Keras 会先载入它。"""
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(5),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def state(model):
    return [v.numpy() for v in model.weights] + [
        v.numpy() for v in model.optimizer.variables
    ]


def test_keras_alone_changes_a_partly_matching_model(trained):
    """对照：不回滚时，Keras 已经改动了第一层和优化器步数。"""
    _, weights, _ = trained
    other = partly_matching_model()
    other.optimizer.build(other.trainable_variables)
    before = state(other)
    with pytest.raises(ValueError, match="could not be loaded"):
        other.load_weights(weights)
    assert max_abs_diff(other.get_weights()[0], before[0]) > 0
    assert int(other.optimizer.iterations) > 0


@pytest.mark.parametrize("build_first", [True, False])
def test_wrong_architecture_is_refused_and_model_untouched(
    trained, build_first
):
    _, weights, _ = trained
    other = partly_matching_model()
    if build_first:
        other.optimizer.build(other.trainable_variables)
    before = [np.array(w) for w in other.get_weights()]
    with pytest.raises(CheckpointError, match="不匹配.*create_model") as info:
        load_weights_safely(other, weights)
    message = str(info.value)
    assert "cp-0001.weights.h5" in message
    # Keras 的形状那一句被保留下来，数组的打印则没有
    assert (
        "variable.shape=(512, 5), Received: value.shape=(512, 10)" in message
    )
    assert "[[" not in message and len(message.splitlines()) == 1
    assert max_abs_diff(other.get_weights(), before) == 0
    assert int(other.optimizer.iterations) == 0
    assert all(np.all(v.numpy() == 0) for v in other.optimizer.variables[2:])


def test_keras_summary_without_shape_line():
    assert keras_summary(ValueError("boom\n\nmore")) == "boom。"
    assert keras_summary(KeyError()) == "KeyError。"


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


def test_plot_update_norms_draws_the_arrays():
    from dlbook.plotting.saving import plot_update_norms

    norms = {"完整恢复": [0.2, 0.1, 0.1], "只恢复权重": [0.6, 0.4, 0.3]}
    fig = plot_update_norms(norms)
    lines = fig.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines] == list(norms.values())
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="长度"):
        plot_update_norms({"a": [1.0], "b": [1.0, 2.0]})
    with pytest.raises(ValueError, match="1 到 4"):
        plot_update_norms({})


# ---- 溯源清单 ----------------------------------------------------------


def test_manifest_roundtrip_records_versions(trained, data, tmp_path):
    import shutil

    import keras

    _, weights, whole = trained
    path = shutil.copy(whole, tmp_path / "model.keras")
    target = write_manifest(
        path, data=data[:2], config={"epochs": 1}, code_version="abc123"
    )
    assert target.endswith("model.keras.manifest.json")
    manifest = verify_manifest(path)
    assert manifest["keras_version"] == keras.__version__
    assert manifest["sha256"] == sha256_of(path)
    assert manifest["data_sha256"] == data_fingerprint(data[:2])
    assert manifest["training_config"] == {"epochs": 1}
    assert manifest["code_version"] == "abc123"
    # 权重文件也能写清单（没有 metadata.json，版本取当前 Keras）
    w = shutil.copy(weights, tmp_path / "w.weights.h5")
    write_manifest(w)
    assert verify_manifest(w)["file"] == "w.weights.h5"


@settings(max_examples=10, deadline=None)
@given(position=st.floats(0, 1, exclude_max=True), byte=st.integers(1, 255))
def test_manifest_refuses_any_changed_byte(
    trained, tmp_path_factory, position, byte
):
    import shutil

    d = tmp_path_factory.mktemp("tamper")
    path = shutil.copy(trained[1], d / "cp.weights.h5")
    write_manifest(path)
    raw = bytearray(open(path, "rb").read())
    i = int(position * len(raw))
    raw[i] ^= byte  # 改动一个字节，长度不变
    open(path, "wb").write(bytes(raw))
    with pytest.raises((CheckpointError,), match="sha256|HDF5"):
        verify_manifest(path)


def test_manifest_names_the_field(trained, tmp_path):
    import json
    import shutil
    import zipfile

    path = shutil.copy(trained[2], tmp_path / "model.keras")
    write_manifest(path)
    # 截断：大小不符
    raw = open(path, "rb").read()
    open(path, "wb").write(raw + b"\0" * 10)
    with pytest.raises(CheckpointError, match="字段 size"):
        verify_manifest(path)
    open(path, "wb").write(raw)
    verify_manifest(path)
    # 改写 .keras 里记下的 Keras 版本，并让清单的大小与哈希也“对上”
    forged = tmp_path / "forged.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(forged, "w") as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "metadata.json":
                meta = json.loads(content)
                meta["keras_version"] = "2.0.0"
                content = json.dumps(meta).encode()
            dst.writestr(item, content)
    manifest = json.load(open(str(path) + ".manifest.json"))
    manifest.update(
        file="forged.keras",
        size=os.path.getsize(forged),
        sha256=sha256_of(forged),
    )
    with open(str(forged) + ".manifest.json", "w") as f:
        json.dump(manifest, f)
    with pytest.raises(CheckpointError, match="字段 keras_version.*2.0.0"):
        verify_manifest(forged)
    # 改了名字：清单记的是另一个文件
    renamed = shutil.copy(path, tmp_path / "other.keras")
    shutil.copy(str(path) + ".manifest.json", str(renamed) + ".manifest.json")
    with pytest.raises(CheckpointError, match="字段 file"):
        verify_manifest(renamed)


def test_manifest_missing_or_broken(trained, tmp_path):
    import shutil

    path = shutil.copy(trained[1], tmp_path / "cp.weights.h5")
    with pytest.raises(FileNotFoundError, match="溯源清单"):
        verify_manifest(path)
    (tmp_path / "cp.weights.h5.manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="不是合法的 JSON"):
        verify_manifest(path)


def test_data_fingerprint_sees_shape_and_dtype():
    a = np.arange(6, dtype="int32")
    assert data_fingerprint(a) == data_fingerprint(a.copy())
    assert data_fingerprint(a) != data_fingerprint(a.reshape(2, 3))
    assert data_fingerprint(a) != data_fingerprint(a.astype("float32"))
    assert data_fingerprint((a, a)) != data_fingerprint(a)
