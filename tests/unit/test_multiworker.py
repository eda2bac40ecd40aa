"""多设备与多机训练：集群配置、子进程看门狗，以及杀死一个节点后的恢复。

多进程的测试真的在本机启动两个 MultiWorkerMirroredStrategy 工作节点，
用 SIGKILL 杀死其中一个，整体重启后从主节点的检查点恢复；最终权重与
不中断的训练逐位相同（容差为 0）。
"""

import json
import os
import socket
import sys

import numpy as np
import pytest

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook.multiworker import (
    FIT_ERROR_MARK,
    PAUSE_MARK,
    _check_sizes,
    _parse_pause,
    check_ok,
    error_summary,
    free_ports,
    is_chief,
    load_npz,
    run_children,
    run_cluster,
    run_module,
    tf_config,
    worker_args,
    write_dir,
)


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    for p in ports:
        with socket.socket() as s:
            s.bind(("localhost", p))  # 确实空闲：能绑定


def test_tf_config_lists_cluster_and_task():
    cfg = tf_config([1111, 2222], 1)
    assert cfg["cluster"]["worker"] == ["localhost:1111", "localhost:2222"]
    assert cfg["task"] == {"type": "worker", "index": 1}
    json.dumps(cfg)  # 能写进环境变量
    with pytest.raises(ValueError, match="编号应在 0 到 1"):
        tf_config([1111, 2222], 2)


def test_tf_config_agrees_with_tensorflow_resolver(monkeypatch):
    import tensorflow as tf

    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config([1111, 2222], 1)))
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    spec = resolver.cluster_spec().as_dict()
    assert spec == {"worker": ["localhost:1111", "localhost:2222"]}


def test_only_worker_zero_or_chief_writes_to_ckpt_dir():
    assert is_chief("worker", 0) and is_chief("chief", 0)
    assert not is_chief("worker", 1)
    assert write_dir("/c", "worker", 0) == "/c"
    assert write_dir("/c", "chief", 0) == "/c"
    assert write_dir("/c", "worker", 2) == os.path.join("/c", "workertemp_2")


@pytest.mark.slow
def test_training_data_from_file_or_arrays(tmp_path):
    from dlbook.data import load_flat_mnist
    from dlbook.multiworker import _training_data, save_data

    (X, y), _ = load_flat_mnist(n_train=64, n_test=1)
    path = save_data(tmp_path / "d.npz", n_train=64)
    for data in (None, path, (X, y)):
        X2, y2 = _training_data(data, 64)
        np.testing.assert_array_equal(X2, X)
        np.testing.assert_array_equal(y2, y)
    with pytest.raises(ValueError, match="n_train=32"):
        _training_data(path, 32)


def test_bad_arguments():
    assert _parse_pause(None) is None
    assert _parse_pause("batch:2:3") == (2, 3)
    for bad in ("batch:2", "save:1", "batch:x:1"):
        with pytest.raises(ValueError, match="pause_at"):
            _parse_pause(bad)
    with pytest.raises(ValueError, match="不能被节点数 2 整除"):
        _check_sizes(256, 63, 2)
    with pytest.raises(ValueError, match="n_train=250"):
        _check_sizes(250, 64, 2)
    _check_sizes(256, 64, 2)


def test_error_summary():
    err = (
        "Traceback ...\n"
        "tensorflow.python.framework.errors_impl.UnavailableError: Graph\n"
        "\nCollective ops is aborted by: recvmsg:Connection reset\nmore\n"
    )
    assert error_summary(err) == (
        "UnavailableError: Collective ops is aborted by: recvmsg:"
        "Connection reset"
    )
    assert error_summary("ValueError: x\n") == "ValueError"
    assert "没有找到" in error_summary("")


def _py(code):
    return ([sys.executable, "-c", code], dict(os.environ))


def test_watchdog_kills_a_silent_child():
    """什么也不打印、永不结束的子进程，也会在超时后被杀死。"""
    with pytest.raises(RuntimeError, match="1.5 秒内没有结束"):
        run_children([_py("import time; time.sleep(60)")], timeout=1.5)


def test_chatty_child_does_not_block():
    """子进程往两个管道各写几 MB，读取线程把它们读尽，进程正常结束。"""
    code = (
        "import sys\n"
        "for i in range(20000):\n"
        "    print('x' * 100); print('y' * 100, file=sys.stderr)\n"
    )
    results, killed = run_children([_py(code)], timeout=60)
    out, err, rc = results[0]
    assert rc == 0 and killed is None
    assert len(out) == len(err) == 20000 * 101
    assert check_ok(results) == [out]


def test_kill_on_pause_kills_marked_child_and_stalled_survivor():
    """打印标记的子进程被 SIGKILL；卡住的幸存者在 grace 秒后也被杀死。"""
    marked = f"import time; print('{PAUSE_MARK} x', flush=True); "
    marked += "time.sleep(60)"
    stalled = "import time; time.sleep(60)"
    results, killed = run_children(
        [_py(stalled), _py(marked)],
        kill_on_pause=True,
        grace=0.5,
        timeout=30,
    )
    assert killed == 1
    assert [rc for _, _, rc in results] == [-9, -9]
    with pytest.raises(RuntimeError, match="退出码 -9"):
        check_ok(results)


def test_kill_on_pause_requires_a_pause():
    with pytest.raises(RuntimeError, match="没有子进程停在注入点"):
        run_children([_py("pass")], kill_on_pause=True, timeout=30)


def test_skip_optional_imports_blocks_only_unimported_names():
    code = (
        "import sys, json\n"
        "from dlbook._subprocess import skip_optional_imports\n"
        "skip_optional_imports(('json', 'wave'))\n"
        "import json\n"  # 已导入的不受影响
        "try:\n    import wave\n"
        "except ImportError:\n    print('挡住了')\n"
    )
    (out, _, rc), *_ = run_children([_py(code)], timeout=60)[0]
    assert rc == 0 and out == "挡住了\n"


@pytest.mark.slow
@pytest.mark.parametrize("gc_on", [True, False])
def test_import_tensorflow_quickly_restores_gc_state(gc_on):
    """在没导入过 TensorFlow 的新进程里：导入后回收的开关与调用前相同；
    回收开着时冻结导入产生的对象；TensorFlow 已导入时再调用什么都不做。"""
    import subprocess

    code = (
        "import gc, sys\n"
        "from dlbook._subprocess import import_tensorflow_quickly as q\n"
        "assert 'tensorflow' not in sys.modules\n"
        f"gc.enable() if {gc_on} else gc.disable()\n"
        "tf = q()\n"
        f"assert gc.isenabled() is {gc_on}\n"
        f"assert (gc.get_freeze_count() > 0) is {gc_on}\n"
        "n = gc.get_freeze_count()\n"
        "assert q() is tf and gc.get_freeze_count() == n\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr[-2000:]


def test_worker_without_tf_config_is_refused():
    with pytest.raises(RuntimeError, match="TF_CONFIG"):
        run_module("worker", "--ckpt-dir", "unused", timeout=120)
    assert not os.path.exists("unused")


@pytest.mark.slow
def test_mirrored_strategy_save_and_restore(tmp_path):
    out = run_module("mirrored", "--ckpt-dir", tmp_path)
    assert "num_replicas_in_sync = 2" in out
    assert "策略外恢复" in out
    assert os.path.exists(tmp_path / "mirrored.weights.h5")


@pytest.mark.slow
def test_kill_one_worker_then_resume_is_exact(tmp_path):
    """杀死 1 号节点、整体重启后，最终权重与不中断的训练逐位相同。"""
    ref_ckpt, ref_out = tmp_path / "ref", tmp_path / "ref-out"
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    for d in (ref_ckpt, ref_out, ckpt, out):
        d.mkdir()
    # 不中断的参照；顺便确认 Keras 3 的 fit 在这个策略下报错
    results, _ = run_cluster(worker_args(ref_ckpt, ref_out, 3, try_fit=True))
    for text in check_ok(results):
        assert f"{FIT_ERROR_MARK} ValueError" in text
        assert "PerReplica" in text
    # 1 号节点在第 2 轮第 2 个批量之后被杀死
    results, killed = run_cluster(
        worker_args(ckpt, out, 3, pause=(1, "batch:2:2")),
        kill_on_pause=True,
    )
    assert killed == 1 and results[1][2] == -9
    # 幸存的主节点自己报错退出：同步的对方不见了
    assert results[0][2] == 1
    assert error_summary(results[0][1]).startswith("UnavailableError")
    assert sorted(os.listdir(ckpt)) == [
        "checkpoint",
        "ckpt-1.data-00000-of-00001",
        "ckpt-1.index",
    ]
    assert not list(out.iterdir())  # 没有节点训练完
    # 整体重启：两个节点都从主节点的 ckpt-1 继续
    texts = check_ok(run_cluster(worker_args(ckpt, out, 3))[0])
    for i, text in enumerate(texts):
        assert f"worker {i}：从 ckpt-1 恢复，已完成 1 轮" in text
        assert "第 1/3 轮" not in text and "第 3/3 轮" in text
    assert not (ckpt / "workertemp_1").exists()  # 非主节点的临时目录已删
    ref = [load_npz(ref_out / f"worker-{i}.npz") for i in range(2)]
    got = [load_npz(out / f"worker-{i}.npz") for i in range(2)]
    for i in range(2):
        assert len(got[i]) == 4
        for a, b, c in zip(ref[i], got[i], ref[0], strict=True):
            np.testing.assert_array_equal(b, a)  # 恢复 = 不中断
            np.testing.assert_array_equal(a, c)  # 两个节点的权重相同
    # 对照：第 2 轮的检查点是少训练一轮的权重，与之不同，比较确实能失败
    early = checkpoint_weights(ckpt / "ckpt-2")
    assert not np.array_equal(early[0], ref[0][0])


def checkpoint_weights(path):
    """把 tf.train 检查点中的模型权重读进一个新模型，返回权重列表。"""
    import tensorflow as tf

    from dlbook.models import create_model

    model = create_model()
    before = model.get_weights()
    tf.train.Checkpoint(model=model).read(str(path)).expect_partial()
    after = model.get_weights()
    assert not np.array_equal(before[0], after[0])  # 确实读进来了
    return after
