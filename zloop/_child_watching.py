"""Child processes watched on the loop's own reactor.

asyncio's Unix loop hands every child to a child watcher: on 3.11 a thread
per child by default, on 3.12+ a pidfd when the policy picks one. zloop
watches each child with a pidfd registered with the native reactor (no
thread), and falls back to a waiting thread, as asyncio's
``ThreadedChildWatcher`` does, only where ``pidfd_open`` is unavailable.
"""

import os
import threading
from asyncio import unix_events
from asyncio.log import logger


def _exit_code(pid):
    """Reaps ``pid``; its return code as asyncio reports it."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        logger.warning("child process pid %d exit status already read: will report returncode 255", pid)
        return 255
    return os.waitstatus_to_exitcode(status)


class ChildWatching:
    """Mixin for ``zloop.Loop``: ``subprocess_exec``/``subprocess_shell``
    transports whose exit is seen by the reactor."""

    async def _make_subprocess_transport(
        self, protocol, args, shell, stdin, stdout, stderr, bufsize, extra=None, **kwargs
    ):
        waiter = self.create_future()
        transport = unix_events._UnixSubprocessTransport(
            self, protocol, args, shell, stdin, stdout, stderr, bufsize,
            waiter=waiter, extra=extra, **kwargs,
        )
        self._watch_child(transport.get_pid(), transport)
        try:
            await waiter
        except BaseException:  # e.g. cancelled while the pipes connect
            transport.close()
            await transport._wait()
            raise
        return transport

    def _watch_child(self, pid, transport):
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # no pidfd here: a thread waits
            thread = threading.Thread(
                target=self._wait_child_in_thread,
                args=(pid, transport),
                name=f"zloop-waitpid-{pid}",
                daemon=True,
            )
            thread.start()
            return
        self._add_reader(pidfd, self._child_exited, pidfd, pid, transport)

    def _child_exited(self, pidfd, pid, transport):
        self._remove_reader(pidfd)
        os.close(pidfd)
        self._child_watcher_callback(pid, _exit_code(pid), transport)

    def _wait_child_in_thread(self, pid, transport):
        returncode = _exit_code(pid)
        if not self.is_closed():
            # As asyncio's ThreadedChildWatcher: the loop's callback runs on
            # the loop's thread (on 3.14+ it touches the transport directly).
            self.call_soon_threadsafe(self._child_watcher_callback, pid, returncode, transport)
