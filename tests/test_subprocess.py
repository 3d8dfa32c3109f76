"""Child processes: create_subprocess_exec / create_subprocess_shell."""

import asyncio
import os
import signal
import sys
import tempfile
import time

import pytest

PY = sys.executable
PIPE = asyncio.subprocess.PIPE
DEVNULL = asyncio.subprocess.DEVNULL
STDOUT = asyncio.subprocess.STDOUT
TIMEOUT = 10.0

PATTERN = bytes(range(256))
SIXTEEN_MIB = 16 * 1024 * 1024
BIG_CHILD = (
    "import sys\n"
    "block = bytes(range(256)) * 4096\n"  # 1 MiB
    "for _ in range(16):\n"
    "    sys.stdout.buffer.write(block)\n"
    "sys.stdout.flush()\n"
)


def run(loop_factory, main):
    """Run ``main()`` in an ``asyncio.Runner`` on the loop under test."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(asyncio.wait_for(main(), TIMEOUT))


async def py(code, *args, **kwargs):
    return await asyncio.create_subprocess_exec(PY, "-c", code, *args, **kwargs)


# ------------------------------------------------------------- pipes


def test_stdout_pipe_captures_child_output(loop_factory):
    async def main():
        proc = await py("print('hello from child')", stdout=PIPE)
        out, err = await proc.communicate()
        return out, err, proc.returncode

    assert run(loop_factory, main) == (b"hello from child\n", None, 0)


def test_stderr_pipe_captures_child_error_output(loop_factory):
    async def main():
        proc = await py("import sys; sys.stderr.write('oops')", stderr=PIPE)
        out, err = await proc.communicate()
        return out, err, proc.returncode

    assert run(loop_factory, main) == (None, b"oops", 0)


def test_stdout_and_stderr_pipes_are_kept_apart(loop_factory):
    async def main():
        proc = await py(
            "import sys; sys.stdout.write('out'); sys.stderr.write('err')",
            stdout=PIPE, stderr=PIPE)
        return await proc.communicate()

    assert run(loop_factory, main) == (b"out", b"err")


def test_stderr_stdout_merges_error_output_into_stdout(loop_factory):
    async def main():
        proc = await py(
            "import sys\n"
            "sys.stdout.write('one '); sys.stdout.flush()\n"
            "sys.stderr.write('two '); sys.stderr.flush()\n"
            "sys.stdout.write('three'); sys.stdout.flush()\n",
            stdout=PIPE, stderr=STDOUT)
        out, err = await proc.communicate()
        return out, err, proc.stderr

    assert run(loop_factory, main) == (b"one two three", None, None)


def test_communicate_input_is_echoed_back_by_the_child(loop_factory):
    async def main():
        proc = await py(
            "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read()[::-1])",
            stdin=PIPE, stdout=PIPE)
        return await proc.communicate(input=b"abcdef")

    assert run(loop_factory, main) == (b"fedcba", None)


def test_communicate_with_large_input_and_output_does_not_deadlock(loop_factory):
    payload = os.urandom(1024 * 1024)

    async def main():
        proc = await py(
            "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())",
            stdin=PIPE, stdout=PIPE)
        out, _ = await proc.communicate(input=payload)
        return out

    assert run(loop_factory, main) == payload


def test_stdin_pipe_written_and_closed_gives_the_child_eof(loop_factory):
    async def main():
        proc = await py(
            "import sys\n"
            "for line in sys.stdin: print(line.strip().upper())\n"
            "print('eof')",
            stdin=PIPE, stdout=PIPE)
        proc.stdin.write(b"a\nb\n")
        await proc.stdin.drain()
        proc.stdin.close()
        out = await proc.stdout.read()
        return out, await proc.wait()

    assert run(loop_factory, main) == (b"A\nB\neof\n", 0)


def test_readline_streams_lines_as_the_child_prints_them(loop_factory):
    async def main():
        proc = await py(
            "import sys\n"
            "print('first', flush=True)\n"
            "sys.stdin.readline()\n"
            "print('second', flush=True)\n",
            stdin=PIPE, stdout=PIPE)
        first = await proc.stdout.readline()
        proc.stdin.write(b"go\n")
        second = await proc.stdout.readline()
        rest = await proc.stdout.read()
        return first, second, rest, await proc.wait()

    assert run(loop_factory, main) == (b"first\n", b"second\n", b"", 0)


# ------------------------------------------------------ DEVNULL and fds


def test_devnull_stdin_gives_the_child_immediate_eof(loop_factory):
    async def main():
        proc = await py(
            "import sys; print(repr(sys.stdin.read()))",
            stdin=DEVNULL, stdout=PIPE)
        out, _ = await proc.communicate()
        return out, proc.stdin

    assert run(loop_factory, main) == (b"''\n", None)


def test_devnull_stdout_and_stderr_discard_output(loop_factory):
    async def main():
        proc = await py(
            "import sys; print('x' * 100000); sys.stderr.write('y' * 1000)",
            stdout=DEVNULL, stderr=DEVNULL)
        out, err = await proc.communicate()
        return out, err, proc.stdout, proc.stderr, proc.returncode

    assert run(loop_factory, main) == (None, None, None, None, 0)


def test_file_descriptor_as_stdout_receives_the_output(loop_factory):
    with tempfile.TemporaryFile() as f:
        async def main():
            proc = await py("print('to a file')", stdout=f.fileno())
            return await proc.wait(), proc.stdout

        assert run(loop_factory, main) == (0, None)
        f.seek(0)
        assert f.read() == b"to a file\n"


def test_file_descriptor_as_stdin_feeds_the_child(loop_factory):
    with tempfile.TemporaryFile() as f:
        f.write(b"from a file")
        f.seek(0)

        async def main():
            proc = await py(
                "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())",
                stdin=f.fileno(), stdout=PIPE)
            return await proc.communicate()

        assert run(loop_factory, main) == (b"from a file", None)


def test_file_object_as_stderr_receives_the_error_output(loop_factory):
    with tempfile.TemporaryFile() as f:
        async def main():
            proc = await py("import sys; sys.stderr.write('err to file')",
                            stderr=f)
            return await proc.wait()

        assert run(loop_factory, main) == 0
        f.seek(0)
        assert f.read() == b"err to file"


# ------------------------------------------------------- 16 MiB output


def test_communicate_reads_16_mib_of_output_intact(loop_factory):
    async def main():
        proc = await py(BIG_CHILD, stdout=PIPE)
        out, _ = await proc.communicate()
        return out, proc.returncode

    out, code = run(loop_factory, main)
    assert code == 0
    assert len(out) == SIXTEEN_MIB
    assert out == PATTERN * (SIXTEEN_MIB // 256)


def test_streaming_reads_16_mib_of_output_intact(loop_factory):
    async def main():
        proc = await py(BIG_CHILD, stdout=PIPE)
        chunks = []
        total = 0
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks), total, await proc.wait()

    out, total, code = run(loop_factory, main)
    assert code == 0
    assert total == SIXTEEN_MIB
    assert out == PATTERN * (SIXTEEN_MIB // 256)


# ------------------------------------------------ exit status and waiting


def test_twenty_concurrent_children_are_all_collected_with_their_exit_codes(loop_factory):
    async def child(i):
        proc = await py(f"import sys; print({i}); sys.exit({i})", stdout=PIPE)
        out, _ = await proc.communicate()
        return int(out), proc.returncode

    async def main():
        return await asyncio.gather(*(child(i) for i in range(20)))

    assert run(loop_factory, main) == [(i, i) for i in range(20)]


def test_nonzero_exit_status_is_the_return_code(loop_factory):
    async def main():
        proc = await py("raise SystemExit(7)")
        return await proc.wait(), proc.returncode

    assert run(loop_factory, main) == (7, 7)


def test_returncode_is_none_while_the_child_runs(loop_factory):
    async def main():
        proc = await py("import sys; sys.stdin.read()", stdin=PIPE)
        await asyncio.sleep(0.05)
        running = proc.returncode
        proc.stdin.close()
        code = await proc.wait()
        return running, code, proc.returncode

    assert run(loop_factory, main) == (None, 0, 0)


def test_wait_after_exit_returns_the_same_code_again(loop_factory):
    async def main():
        proc = await py("raise SystemExit(3)")
        first = await proc.wait()
        await asyncio.sleep(0.02)
        second = await proc.wait()
        third = await proc.wait()
        return first, second, third

    assert run(loop_factory, main) == (3, 3, 3)


def test_wait_on_a_child_that_exited_long_ago_returns_its_code(loop_factory):
    async def main():
        proc = await py("raise SystemExit(5)")
        await asyncio.sleep(0.3)
        return await proc.wait()

    assert run(loop_factory, main) == 5


def test_pid_is_the_child_process_id(loop_factory):
    async def main():
        proc = await py("import os; print(os.getpid())", stdout=PIPE)
        out, _ = await proc.communicate()
        return proc.pid, int(out)

    pid, reported = run(loop_factory, main)
    assert pid == reported


# ------------------------------------------------------------- signals


SLEEPER = "import sys, time; print('ready', flush=True); time.sleep(30)"


async def _started_sleeper():
    proc = await py(SLEEPER, stdout=PIPE)
    assert await proc.stdout.readline() == b"ready\n"
    return proc


def test_kill_ends_the_child_with_negative_sigkill(loop_factory):
    async def main():
        proc = await _started_sleeper()
        proc.kill()
        return await proc.wait()

    assert run(loop_factory, main) == -signal.SIGKILL


def test_terminate_ends_the_child_with_negative_sigterm(loop_factory):
    async def main():
        proc = await _started_sleeper()
        proc.terminate()
        return await proc.wait()

    assert run(loop_factory, main) == -signal.SIGTERM


def test_send_signal_sigusr1_ends_the_child_with_negative_sigusr1(loop_factory):
    async def main():
        proc = await _started_sleeper()
        proc.send_signal(signal.SIGUSR1)
        return await proc.wait()

    assert run(loop_factory, main) == -signal.SIGUSR1


def test_child_handling_a_signal_keeps_running_and_exits_normally(loop_factory):
    async def main():
        # The child polls for the handler's run: a signal that arrives just
        # before a blocking read() does not interrupt it (the handler would
        # only run once the read returns).
        proc = await py(
            "import signal, sys, time\n"
            "got = []\n"
            "signal.signal(signal.SIGUSR1, lambda *a: got.append(1))\n"
            "print('ready', flush=True)\n"
            "while not got:\n"
            "    time.sleep(0.01)\n"
            "print('got', flush=True)\n"
            "sys.stdin.readline()\n",
            stdin=PIPE, stdout=PIPE)
        assert await proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGUSR1)
        got = await proc.stdout.readline()
        proc.stdin.write(b"\n")
        return got, await proc.wait()

    assert run(loop_factory, main) == (b"got\n", 0)


# ------------------------------------------------------- Popen options


def test_pass_fds_keeps_the_descriptor_open_in_the_child(loop_factory):
    r, w = os.pipe()
    try:
        async def main():
            proc = await py(
                f"import os; os.write({w}, b'through pass_fds')",
                pass_fds=(w,))
            return await proc.wait()

        assert run(loop_factory, main) == 0
        assert os.read(r, 100) == b"through pass_fds"
    finally:
        os.close(r)
        os.close(w)


def test_descriptors_not_in_pass_fds_are_closed_in_the_child(loop_factory):
    r, w = os.pipe()
    try:
        async def main():
            proc = await py(
                f"import os\n"
                f"try:\n"
                f"    os.fstat({w}); print('open')\n"
                f"except OSError:\n"
                f"    print('closed')\n",
                stdout=PIPE)
            out, _ = await proc.communicate()
            return out

        assert run(loop_factory, main) == b"closed\n"
    finally:
        os.close(r)
        os.close(w)


def test_cwd_sets_the_child_working_directory(loop_factory):
    with tempfile.TemporaryDirectory() as d:
        async def main():
            proc = await py("import os; print(os.getcwd())", stdout=PIPE,
                            cwd=d)
            out, _ = await proc.communicate()
            return out.decode().strip()

        assert os.path.realpath(run(loop_factory, main)) == os.path.realpath(d)


def test_env_replaces_the_child_environment(loop_factory):
    async def main():
        proc = await py(
            "import os; print(os.environ.get('ZLOOP_TEST_VAR'),"
            " os.environ.get('HOME'))",
            stdout=PIPE, env={"ZLOOP_TEST_VAR": "marker"})
        out, _ = await proc.communicate()
        return out

    assert run(loop_factory, main) == b"marker None\n"


def test_start_new_session_makes_the_child_a_session_leader(loop_factory):
    async def main():
        proc = await py(
            "import os; print(os.getsid(0) == os.getpid(),"
            " os.getpgid(0) == os.getpid())",
            stdout=PIPE, start_new_session=True)
        out, _ = await proc.communicate()
        return out

    assert run(loop_factory, main) == b"True True\n"


def test_without_start_new_session_the_child_shares_our_session(loop_factory):
    async def main():
        proc = await py("import os; print(os.getsid(0))", stdout=PIPE)
        out, _ = await proc.communicate()
        return int(out)

    assert run(loop_factory, main) == os.getsid(0)


def test_preexec_fn_runs_in_the_child_before_exec(loop_factory):
    def before_exec():
        os.environ["ZLOOP_PREEXEC"] = "ran"  # only the child's copy changes

    async def main():
        proc = await py(
            "import os; print(os.environ.get('ZLOOP_PREEXEC'))",
            stdout=PIPE, preexec_fn=before_exec)
        out, _ = await proc.communicate()
        return out

    assert run(loop_factory, main) == b"ran\n"
    assert "ZLOOP_PREEXEC" not in os.environ


# ----------------------------------------------------------------- shell


def test_shell_runs_a_command_line(loop_factory):
    async def main():
        proc = await asyncio.create_subprocess_shell(
            "echo one; echo two >&2; exit 4", stdout=PIPE, stderr=PIPE)
        out, err = await proc.communicate()
        return out, err, proc.returncode

    assert run(loop_factory, main) == (b"one\n", b"two\n", 4)


def test_shell_pipes_input_through_a_pipeline(loop_factory):
    async def main():
        proc = await asyncio.create_subprocess_shell(
            "tr a-z A-Z | rev", stdin=PIPE, stdout=PIPE)
        return await proc.communicate(input=b"hello\n")

    assert run(loop_factory, main) == (b"OLLEH\n", None)


def test_exec_of_a_missing_program_raises_file_not_found(loop_factory):
    async def main():
        with pytest.raises(FileNotFoundError):
            await asyncio.create_subprocess_exec("/nonexistent/zloop-program")

    run(loop_factory, main)



def test_cancelling_a_subprocess_being_started_kills_and_reaps_the_child(loop_factory):
    async def main():
        loop = asyncio.get_running_loop()
        started = []
        original = loop.subprocess_exec

        async def spy(*args, **kwargs):
            started.append(True)
            return await original(*args, **kwargs)

        loop.subprocess_exec = spy
        task = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                sys.executable, "-c", "import time; time.sleep(30)", stdout=asyncio.subprocess.PIPE
            )
        )
        while not started:
            await asyncio.sleep(0)
        await asyncio.sleep(0)  # now waiting for its pipes to connect
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        start = time.monotonic()
        runner.run(main())
        assert time.monotonic() - start < 10
