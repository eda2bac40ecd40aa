"""抢占：SIGTERM 之后做完当前一步、原子保存、以 0 退出；恢复后逐位相同。"""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook.preemption import (
    PREEMPTED_MARK,
    GracefulStop,
    atomic_save_sharded,
    latest_step,
    main,
    preemptible_train,
    run_and_preempt,
    step_checkpoint,
    terminate_with_grace,
)

#: 小配置：128 个样本、批量 32，每轮 4 步，共 2 轮 8 步。
ARGS = ("--epochs", 2, "--n-train", 128, "--batch-size", 32)


def test_graceful_stop_records_sigterm_and_restores_handler():
    old = signal.getsignal(signal.SIGTERM)
    with GracefulStop() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)  # 进程没有被终止
        assert stop.wait(5)
        assert stop.requested and stop.received == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is old


def test_graceful_stop_without_signals_changes_nothing():
    old = signal.getsignal(signal.SIGTERM)
    with GracefulStop(()) as stop:
        assert signal.getsignal(signal.SIGTERM) is old
        assert not stop.wait(0.01)


def test_latest_step_ignores_temporaries_and_other_files(tmp_path):
    assert latest_step(tmp_path / "missing") == (0, None)
    for name in (
        "step-000004.keras",
        "step-000012.keras",
        ".step-000016.keras.tmp-abc",
        "step-16.keras",
        "notes.txt",
    ):
        (tmp_path / name).write_text("")
    step, path = latest_step(tmp_path)
    assert step == 12 and path == step_checkpoint(tmp_path, 12)


def test_bad_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_train=100"):
        preemptible_train(tmp_path, 1, n_train=100, batch_size=32)
    assert not list(tmp_path.iterdir())


def _trained_model():
    import keras

    from dlbook.data import load_flat_mnist
    from dlbook.models import create_model

    (X, y), _ = load_flat_mnist(n_train=64, n_test=1)
    keras.utils.set_random_seed(0)
    model = create_model()
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    return model


def _fresh_model_with_optimizer():
    from dlbook.models import create_model

    model = create_model()
    model.optimizer.build(model.trainable_variables)
    return model


def test_sharded_save_round_trip_is_exact(tmp_path):
    model = _trained_model()
    final = tmp_path / "step-000002"
    index = atomic_save_sharded(model, final, max_shard_size=0.002)
    shards = sorted(p.name for p in final.glob("model_*.weights.h5"))
    assert len(shards) >= 2  # 优化器的 m、v 让它放不进一片
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    restored = _fresh_model_with_optimizer()
    restored.load_weights(index)
    for a, b in zip(model.weights, restored.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
    for a, b in zip(
        model.optimizer.variables, restored.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
    with pytest.raises(FileExistsError, match="已经存在"):
        atomic_save_sharded(model, final, max_shard_size=0.002)
    with pytest.raises(ValueError, match="max_shard_size"):
        atomic_save_sharded(model, tmp_path / "x", max_shard_size=0)


def test_shard_must_hold_the_largest_variable(tmp_path):
    model = _trained_model()
    with pytest.raises(ValueError, match="exceeds the maximum shard size"):
        atomic_save_sharded(model, tmp_path / "s", max_shard_size=0.0005)
    assert not (tmp_path / "s").exists()  # 目标目录从未出现


def test_crash_before_rename_leaves_no_partial_checkpoint(
    tmp_path, monkeypatch
):
    model = _trained_model()

    def crash(src, dst):
        raise KeyboardInterrupt("模拟：改名之前进程被打断")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_save_sharded(model, tmp_path / "step-000001", 0.002)
    names = [p.name for p in tmp_path.iterdir()]
    assert "step-000001" not in names
    assert len(names) == 1 and names[0].startswith(".step-000001.tmp-")


def _py(code):
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_grace_period_then_sigkill():
    """不理会 SIGTERM 的进程，宽限期一过就被 SIGKILL。"""
    proc = _py(
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True); time.sleep(60)\n"
    )
    assert proc.stdout.readline() == "ready\n"
    with pytest.raises(ValueError, match="宽限期"):
        terminate_with_grace(proc, grace=0)
    rc, took = terminate_with_grace(proc, grace=0.5)
    proc.stdout.close()
    assert rc == -9 and 0.5 <= took < 30


def test_process_that_handles_sigterm_exits_zero():
    proc = _py(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
        "print('ready', flush=True); time.sleep(60)\n"
    )
    assert proc.stdout.readline() == "ready\n"
    rc, took = terminate_with_grace(proc, grace=30)
    proc.stdout.close()
    assert rc == 0 and took < 30


def _weights(path):
    with np.load(path) as f:
        return [f[f"w{i}"] for i in range(len(f.files))]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """不中断地训练 2 轮 8 步的最终权重。

    在本进程里训练（子进程每次启动都要导入 TensorFlow）；与子进程一样
    启用确定性算子。下面的测试在子进程里训练、被 SIGTERM 打断，再与它
    逐位比较。
    """
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    d = tmp_path_factory.mktemp("reference")
    model, saved = preemptible_train(
        d, 2, n_train=128, batch_size=32, log=lambda s: None
    )
    assert saved is None and latest_step(d)[0] == 8
    return model.get_weights()


def _resume_in_this_process(ckpt, out, capsys):
    """用命令行入口在本进程里接着训练到底，返回它打印的内容。

    被打断的子进程只留下磁盘上的检查点，所以在哪个进程里恢复都一样；
    这样省去一次 TensorFlow 的导入。
    """
    capsys.readouterr()
    args = ("train", "--ckpt-dir", ckpt, *ARGS, "--out", out)
    assert main([str(a) for a in args]) == 0
    return capsys.readouterr().out


@pytest.mark.slow
def test_sigterm_then_resume_is_exact(reference, tmp_path, capsys):
    ckpt, out = tmp_path / "b", tmp_path / "b.npz"
    text, err, rc, took = run_and_preempt(
        "train", "--ckpt-dir", ckpt, *ARGS, "--pause-at", 6, "--out", out
    )
    assert rc == 0, err[-2000:]
    assert f"{PREEMPTED_MARK} 收到 SIGTERM：做完第 6 步" in text
    assert sorted(os.listdir(ckpt)) == ["step-000006.keras"]
    assert not out.exists()  # 被抢占时不写最终权重
    log = _resume_in_this_process(ckpt, out, capsys)
    assert "从 step-000006.keras 恢复：接着做第 2 轮的第 3 步" in log
    for a, b in zip(reference, _weights(out), strict=True):
        np.testing.assert_array_equal(b, a)


@pytest.mark.slow
def test_sigterm_at_an_arbitrary_moment_then_resume_is_exact(
    reference, tmp_path, capsys
):
    """不停在固定位置：训练一开始就发 SIGTERM，停在哪一步由时机决定。"""
    ckpt, out = tmp_path / "b", tmp_path / "b.npz"
    text, err, rc, _ = run_and_preempt(
        "train", "--ckpt-dir", ckpt, *ARGS, "--out", out, when="没有检查点"
    )
    assert rc == 0, err[-2000:]
    step, path = latest_step(ckpt)
    if PREEMPTED_MARK in text:  # 通常如此：停在某一步之后
        assert 1 <= step <= 8 and path is not None
    _resume_in_this_process(ckpt, out, capsys)
    for a, b in zip(reference, _weights(out), strict=True):
        np.testing.assert_array_equal(b, a)


@pytest.mark.slow
def test_without_handler_sigterm_loses_progress(tmp_path):
    """对照组：不处理 SIGTERM，进程立即终止，只剩上一轮结束时的检查点。"""
    ckpt = tmp_path / "c"
    text, _, rc, _ = run_and_preempt(
        "train", "--ckpt-dir", ckpt, *ARGS, "--pause-at", 6, "--no-handler"
    )
    assert rc == -signal.SIGTERM
    assert PREEMPTED_MARK not in text
    assert latest_step(ckpt)[0] == 4  # 第 5、6 步丢了
