"""子进程工具：读尽输出的后台线程，供带硬超时的演示和测试使用。

还有让本书启动的 TensorFlow 子进程启动和退出得快一些的两个函数：
:func:`skip_optional_imports` 和 :func:`import_tensorflow_quickly`
（后者也用在每页内核的 :func:`dlbook.setup` 里）。
"""

import gc
import signal
import subprocess
import sys
import threading
import time


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


def import_tensorflow_quickly():
    """导入 TensorFlow（连同它顺带导入的 Keras），导入期间暂停循环垃圾回收。

    导入要新建几十万个 Python 对象，其间自动触发的循环垃圾回收一遍遍
    扫描它们，约占导入的 1 秒 CPU；导入完成后恢复回收，并把已有对象
    移出回收范围（``gc.freeze``），之后的回收、以及解释器退出时的清理
    都不必再扫它们（又省 1 秒多）。结果不变：只是少做了无用的扫描。

    TensorFlow 已经导入时什么都不做：此时再 ``gc.freeze`` 会把之后的
    垃圾（例如前面单元里建过的模型）永远留在内存里。
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    enabled = gc.isenabled()
    gc.disable()
    try:
        import tensorflow as tf
    finally:
        if enabled:
            gc.freeze()
            gc.enable()
    return tf
