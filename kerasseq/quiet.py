"""Keep TensorFlow's native (C++/absl) log lines off a command's stderr.

TensorFlow 2.21 writes some lines before absl's logging is initialised (`I0000 ... oneDNN custom
operations are on`, `E0000 ... NodeDef mentions attribute use_unbounded_threadpool`), and those
ignore `TF_CPP_MIN_LOG_LEVEL`. `native_logs_filtered(level)` runs the process's stderr (file
descriptor 2) through a pipe that drops such lines below `level`, with TensorFlow's meaning
(0 all, 1 no info, 2 no warnings, 3 no errors), and forwards everything else unchanged.
"""

import contextlib
import os
import re
import sys
import threading

# glog/absl: severity letter, MMDD, time, thread id, file:line]   e.g. "I0000 00:00:1796.123 4379 port.cc:153] ..."
NATIVE_LOG_LINE = re.compile(rb"^(?:([IWEF])\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] |WARNING: All log messages before "
                             rb"absl::InitializeLog\(\) is called are written to STDERR)")
SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3, None: 1}  # None: absl's pre-init notice, a warning


def dropped(line, level):
    """True for a native log line of a severity below `level`."""
    match = NATIVE_LOG_LINE.match(line)
    return match is not None and SEVERITY[match.group(1)] < level


@contextlib.contextmanager
def native_logs_filtered(level=3):
    """Filter fd 2 for the duration of the block (a no-op where fd 2 cannot be redirected)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except (OSError, ValueError, AttributeError):
        yield
        return
    os.dup2(write_end, 2)
    os.close(write_end)
    forward = threading.Thread(target=_forward, args=(read_end, saved, level), daemon=True)
    forward.start()
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)  # closes the pipe's last write end: the thread reads to the end and stops
        forward.join(timeout=5)
        os.close(saved)


def _forward(read_end, out, level):
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            _write(out, b"".join(line + b"\n" for line in lines if not dropped(line, level)))
        if pending and not dropped(pending, level):
            _write(out, pending)


def _write(fd, data):
    while data:
        try:
            data = data[os.write(fd, data):]
        except OSError:
            return
