"""子进程工具：读尽输出的后台线程，供带硬超时的演示和测试使用。

还有让本书启动的 TensorFlow 子进程启动和退出得快一些的两个函数：
:func:`skip_optional_imports` 和 :func:`import_tensorflow_quickly`
（后者也用在每页内核的 :func:`dlbook.setup` 里，并固定 TensorFlow 的
线程数，见 :data:`DEFAULT_THREADS`）。
"""

import gc
import os
import signal
import subprocess
import sys
import threading
import time
import warnings


class Child:
    """一个子进程，外加两个把它的 stdout/stderr 读进列表的后台线程。

    后台线程一直读到管道关闭，子进程输出再多也不会因管道写满而卡住。
    """

    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.out, self.err = [], []
        self.threads = [
            threading.Thread(target=self._drain, args=(s, b), daemon=True)
            for s, b in (
                (self.proc.stdout, self.out),
                (self.proc.stderr, self.err),
            )
        ]
        for t in self.threads:
            t.start()

    @staticmethod
    def _drain(stream, buf):
        for line in stream:
            buf.append(line)
        stream.close()

    def kill(self):
        """还在运行就发 SIGKILL。"""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def finish(self):
        """回收子进程（还在运行就先杀死），返回输出与退出码。

        已经结束的子进程不受影响。
        """
        self.kill()
        self.proc.wait()
        for t in self.threads:
            t.join(timeout=5)
        return "".join(self.out), "".join(self.err), self.proc.returncode


def wait_for_line(child, prefix: str, deadline: float) -> bool:
    """等子进程打印以 ``prefix`` 开头的一行。

    Returns:
        见到这一行时为 True；子进程没打印它就结束了为 False。

    Raises:
        TimeoutError: 到了 ``deadline``（``time.monotonic()`` 的时刻）仍没
            见到；即使子进程一言不发地挂起，也按时返回。
    """
    while True:
        if any(line.startswith(prefix) for line in list(child.out)):
            return True
        if child.proc.poll() is not None:
            # 进程已结束：等读线程读完最后几行再判断一次
            for t in child.threads:
                t.join(timeout=5)
            return any(line.startswith(prefix) for line in child.out)
        if time.monotonic() > deadline:
            raise TimeoutError(f"到期仍没有见到以 {prefix!r} 开头的一行")
        time.sleep(0.02)


#: Keras 和 TensorFlow 导入时顺带试着导入、训练子进程用不到的可选依赖。
OPTIONAL_IMPORTS = (
    "sklearn",
    "scipy",
    "pandas",
    "jax",
    "matplotlib",
    "IPython",
    "PIL",
)


def skip_optional_imports(names=OPTIONAL_IMPORTS) -> None:
    """把尚未导入的可选依赖标成“不可导入”，让训练子进程启动得快一些。

    Keras 导入时会试着导入 scikit-learn、pandas、matplotlib 等（装了就
    启用相应的功能，没装就跳过），TensorFlow 会试着导入 JAX。只训练、
    保存、加载模型的子进程用不到它们。只应在子进程的入口、导入 Keras
    之前调用：调用之后，本进程再也导入不了这些包。已导入的不受影响。
    """
    for name in names:
        sys.modules.setdefault(name, None)


#: 全书固定的 TensorFlow 算子内（intra-op）线程数。线程数不同，卷积与
#: 求和按线程切分的方式就不同，浮点数相加的顺序随之改变，训练出的数字
#: 在末几位上就不同（在 2 核的机器上实测：用 1、4、8 个线程训练同一个
#: 小 CNN，损失都与 2 个线程时不同）。固定它，读者在核数不同的机器上
#: 也能得到与书上相同的数字。环境变量 ``DLBOOK_THREADS`` 可以改它；
#: 0 表示不固定，用 TensorFlow 的默认值（CPU 核数）。
DEFAULT_THREADS = 2
THREADS_ENV = "DLBOOK_THREADS"


def book_threads() -> int:
    """本书要用的算子内线程数：``DLBOOK_THREADS``，没有设置时为 2。"""
    raw = os.environ.get(THREADS_ENV, str(DEFAULT_THREADS))
    try:
        threads = int(raw)
    except ValueError:
        threads = -1
    if threads < 0:
        raise ValueError(
            f"环境变量 {THREADS_ENV}={raw!r} 不是非负整数：请设成线程数"
            f"（如 {DEFAULT_THREADS}），或设成 0 以使用 TensorFlow 的默认值，"
            "或者删掉它。"
        )
    return threads


def pin_threads(tf) -> None:
    """把 TensorFlow 的算子内线程数设为 :func:`book_threads`。

    只能在 TensorFlow 执行第一个运算之前设置；已经晚了时给出警告，
    说明本进程的数字可能与书上的不同，而不是报错中断。
    """
    threads = book_threads()
    threading_config = tf.config.threading
    if threads == 0:
        return
    if threading_config.get_intra_op_parallelism_threads() == threads:
        return
    try:
        threading_config.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        warnings.warn(
            f"TensorFlow 已经执行过运算，算子内线程数无法再设为 {threads}"
            f"（{THREADS_ENV}）：本进程算出的数字可能在末几位上与书上不同。"
            "请在执行任何 TensorFlow 运算之前调用 dlbook.setup()，"
            "或重启内核后再运行。",
            RuntimeWarning,
            stacklevel=3,
        )


def import_tensorflow_quickly():
    """导入 TensorFlow（连同它顺带导入的 Keras），导入期间暂停循环垃圾回收。

    导入要新建几十万个 Python 对象，其间自动触发的循环垃圾回收一遍遍
    扫描它们，约占导入的 1 秒 CPU；导入完成后恢复回收，并把已有对象
    移出回收范围（``gc.freeze``），之后的回收、以及解释器退出时的清理
    都不必再扫它们（又省 1 秒多）。结果不变：只是少做了无用的扫描。

    TensorFlow 已经导入时不再导入：此时再 ``gc.freeze`` 会把之后的
    垃圾（例如前面单元里建过的模型）永远留在内存里。两种情况下都用
    :func:`pin_threads` 固定线程数。
    """
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
    else:
        enabled = gc.isenabled()
        gc.disable()
        try:
            import tensorflow as tf
        finally:
            if enabled:
                gc.freeze()
                gc.enable()
    pin_threads(tf)
    return tf
