"""故障注入：在不同位置用 SIGKILL 杀死训练子进程，恢复后结果与不中断时相同。

容差为 0：启用确定性算子后，恢复训练的最终权重与不中断的训练逐位相同。
"""

import os
import shutil
import sys

import numpy as np
import pytest

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook.models import create_model
from dlbook.resumable import (
    CKPT_PATTERN,
    main,
    run_and_kill,
    train,
    train_custom_loop,
    update_norms,
)
from dlbook.saving import (
    checkpoint_epoch,
    list_checkpoints,
    load_model_safely,
)

#: 小配置：256 个样本、批量 32，每轮 8 个批量，共 3 轮。
EPOCHS = 3
ARGS = ("--epochs", EPOCHS, "--n-train", 256, "--batch-size", 32)


def train_args(ckpt_dir, *extra):
    return ("train", "--ckpt-dir", ckpt_dir, *ARGS, *extra)


def load_npz(path):
    with np.load(path) as f:
        return [f[f"w{i}"] for i in range(len(f.files))]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """不中断地训练 EPOCHS 轮的最终权重。

    在本进程里训练（子进程每次启动都要导入 TensorFlow）；与子进程一样
    启用确定性算子。下面的测试在子进程里训练、被杀死，再与它逐位比较。
    """
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    d = tmp_path_factory.mktemp("reference")
    lines = []
    model, _ = train(
        d / "ckpt", EPOCHS, n_train=256, batch_size=32, log=lines.append
    )
    assert f"第 {EPOCHS}/{EPOCHS} 轮" in lines[-1]
    return model.get_weights()


def completed_epochs(output: str) -> int:
    """子进程输出中已经完成（并保存）的最后一轮。"""
    done = [
        int(line.split()[1].split("/")[0])
        for line in output.splitlines()
        if line.startswith("第 ") and "已保存" in line
    ]
    return max(done, default=0)


def kill_and_check(ckpt_dir, pause_at, previous_epoch):
    """在 pause_at 处杀死子进程，检查磁盘上的检查点全部可用、没丢一轮。"""
    output, code = run_and_kill(*train_args(ckpt_dir, "--pause-at", pause_at))
    assert code == -9, output  # 确实是被 SIGKILL 杀死的
    assert output.rstrip().endswith(f"PAUSED {pause_at}")
    done = max(completed_epochs(output), previous_epoch)
    paths = list_checkpoints(ckpt_dir, CKPT_PATTERN) if done else []
    # 每个完成的轮次都有检查点，最新的正是最后完成的一轮。
    assert [checkpoint_epoch(p, CKPT_PATTERN) for p in paths][-1:] == (
        [done] if done else []
    )
    for path in paths:  # 包括“写到一半被杀”时的上一个检查点
        load_model_safely(path)
    return done


def resume_and_compare(ckpt_dir, reference, tmp_path, capsys):
    """用命令行入口在本进程里恢复训练到底，权重须与参照逐位相同。

    被杀死的子进程只留下磁盘上的检查点，所以在哪个进程里恢复都一样；
    在本进程里调用 ``main`` 省去一次 TensorFlow 的导入。
    """
    capsys.readouterr()
    args = train_args(ckpt_dir, "--out", tmp_path / "w.npz")
    assert main([str(a) for a in args]) == 0
    out = capsys.readouterr().out
    assert "恢复" in out or "从头" in out
    weights = load_npz(tmp_path / "w.npz")
    assert len(weights) == len(reference)
    for w, r in zip(weights, reference, strict=True):
        np.testing.assert_array_equal(w, r)
    return out


@pytest.mark.slow
def test_kill_mid_epoch_then_resume(reference, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    assert kill_and_check(ckpt, "batch:2:4", 0) == 1  # 第 2 轮的一半
    out = resume_and_compare(ckpt, reference, tmp_path, capsys)
    assert "从 epoch-0001.keras 恢复" in out


@pytest.mark.slow
def test_kill_three_times_incl_during_writes_then_resume(
    reference, tmp_path, capsys
):
    ckpt = tmp_path / "ckpt"
    done = 0
    # 第一个检查点写到一半（此时还没有任何检查点）；第 2 轮的一半；
    # 第 3 轮的检查点写完临时文件、尚未改名（上一个检查点必须完好）。
    for pause_at, expected in [
        ("save:1", 0),
        ("batch:2:4", 1),
        ("save:3", 2),
    ]:
        done = kill_and_check(ckpt, pause_at, done)
        assert done == expected
    assert any(".tmp-" in name for name in os.listdir(ckpt))
    out = resume_and_compare(ckpt, reference, tmp_path, capsys)
    assert "删除未完成的临时文件" in out
    assert "从 epoch-0002.keras 恢复" in out
    assert (
        checkpoint_epoch(
            list_checkpoints(ckpt, CKPT_PATTERN)[-1], CKPT_PATTERN
        )
        == EPOCHS
    )
    assert not any(".tmp-" in name for name in os.listdir(ckpt))


@pytest.mark.slow
def test_weights_only_restore_diverges(tmp_path):
    """只恢复层的权重、不恢复优化器状态，结果就与不中断时不同。"""
    kw = dict(n_train=128, batch_size=32, log=lambda s: None)
    full, _ = train(tmp_path / "a", 2, **kw)
    # 用不中断那次运行第 1 轮的检查点，分别完整恢复、只恢复权重。
    first = tmp_path / "a" / "epoch-0001.keras"
    for name in "bc":
        os.makedirs(tmp_path / name)
        shutil.copy(first, tmp_path / name)
    resumed, _ = train(tmp_path / "b", 2, restore="full", **kw)
    partial, _ = train(tmp_path / "c", 2, restore="weights", **kw)
    for w, r in zip(resumed.get_weights(), full.get_weights(), strict=True):
        np.testing.assert_array_equal(w, r)
    diff = max(
        np.abs(w - r).max()
        for w, r in zip(
            partial.get_weights(), full.get_weights(), strict=True
        )
    )
    assert diff > 1e-4
    assert int(partial.optimizer.iterations) == 4  # 只算了恢复后的 4 步
    assert int(resumed.optimizer.iterations) == 8


@pytest.mark.slow
def test_weights_only_first_updates_are_larger(tmp_path):
    """Adam 状态归零后，最初几步的更新量明显大于完整恢复的。"""
    from dlbook.data import load_flat_mnist
    from dlbook.saving import load_model_safely

    kw = dict(n_train=256, batch_size=32, log=lambda s: None)
    train(tmp_path, 1, **kw)
    path = tmp_path / "epoch-0001.keras"
    (X, y), _ = load_flat_mnist(n_train=256, n_test=1)
    full = update_norms(load_model_safely(path), X, y, 1, steps=4)
    partial = load_model_safely(path)
    fresh = create_model()
    fresh.set_weights(partial.get_weights())
    weights_only = update_norms(fresh, X, y, 1, steps=4)
    assert full.shape == weights_only.shape == (4,)
    assert weights_only[0] > 1.5 * full[0]  # 实测约 2 倍
    assert weights_only.sum() > full.sum()
    with pytest.raises(ValueError, match="steps"):
        update_norms(fresh, X, y, 1, steps=100)


@pytest.mark.slow
def test_custom_loop_checkpoint_resume_is_exact(tmp_path):
    """tf.train.Checkpoint 恢复后继续训练，与不中断时逐位相同。"""
    kw = dict(n_train=100, log=lambda s: None)
    reference, done = train_custom_loop(tmp_path / "a", 2, **kw)
    assert done == 2
    _, done = train_custom_loop(tmp_path / "b", 2, stop_after=1, **kw)
    assert done == 1
    resumed, done = train_custom_loop(tmp_path / "b", 2, **kw)
    assert done == 2
    for w, r in zip(
        resumed.get_weights(), reference.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(w, r)


def test_bad_arguments():
    with pytest.raises(ValueError, match="pause_at"):
        train("unused", 1, pause_at="mid-epoch")
    with pytest.raises(ValueError, match="restore"):
        train("unused", 1, restore="optimizer")
    assert not os.path.exists("unused")


def test_run_until_pause_kills_a_silent_hang_at_the_deadline():
    """子进程一言不发地挂起：看门狗到时杀死它，而不是永远等下去。"""
    import time as _time

    from dlbook.resumable import run_until_pause

    start = _time.monotonic()
    with pytest.raises(RuntimeError, match="超过 1 秒"):
        run_until_pause(
            [sys.executable, "-c", "import time; time.sleep(60)"], timeout=1
        )
    assert _time.monotonic() - start < 30


def test_run_until_pause_survives_a_stderr_flood():
    """先往标准错误写 1 MB，再打印 PAUSED：不会因管道写满而卡住。"""
    from dlbook.resumable import PAUSE_MARK, run_until_pause

    code = (
        "import sys, time; sys.stderr.write('x' * 1_000_000); "
        f"sys.stderr.flush(); print({PAUSE_MARK!r}, flush=True); "
        "time.sleep(60)"
    )
    out, rc = run_until_pause([sys.executable, "-c", code], timeout=30)
    assert out.strip() == PAUSE_MARK and rc == -9


def test_run_until_pause_reports_an_early_exit_with_stderr():
    from dlbook.resumable import run_until_pause

    code = "import sys; sys.stderr.write('出错了'); sys.exit(3)"
    with pytest.raises(RuntimeError, match=r"退出码 3(.|\n)*出错了"):
        run_until_pause([sys.executable, "-c", code], timeout=30)
