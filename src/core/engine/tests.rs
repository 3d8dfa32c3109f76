//! The engine's unit tests: a fake [`Dispatcher`] drives [`run_once`] and
//! [`run_forever`] over real pipes, eventfds and epoll.

use super::*;
use crate::core::dispatcher::Dispatcher;
use crate::core::test_util::{is_readable as eventfd_readable, pipe};
use std::cell::Cell;
use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

type Item = Rc<FakeItem>;
type Eng = RefCell<Engine<Item>>;
type Action = Box<dyn Fn(&Eng)>;

struct FakeItem {
    id: u32,
    cancelled: Cell<bool>,
    action: Option<Action>,
}

impl std::fmt::Debug for FakeItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FakeItem({})", self.id)
    }
}

impl Schedulable for Rc<FakeItem> {
    fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }
}

fn item(id: u32) -> Item {
    Rc::new(FakeItem {
        id,
        cancelled: Cell::new(false),
        action: None,
    })
}

fn item_with(id: u32, action: impl Fn(&Eng) + 'static) -> Item {
    Rc::new(FakeItem {
        id,
        cancelled: Cell::new(false),
        action: Some(Box::new(action)),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Block {
    Real,
    Eintr,
    Fail,
    WakeThenWait,
}

struct Fake<'a> {
    engine: &'a Eng,
    log: Vec<u32>,
    discarded: Vec<u32>,
    fail_on: Option<u32>,
    mode: Block,
    blocks: usize,
    interrupts: usize,
    interrupt_fails: bool,
}

impl<'a> Fake<'a> {
    fn new(engine: &'a Eng) -> Fake<'a> {
        Fake {
            engine,
            log: Vec::new(),
            discarded: Vec::new(),
            fail_on: None,
            mode: Block::Real,
            blocks: 0,
            interrupts: 0,
            interrupt_fails: false,
        }
    }
}

impl Dispatcher<Item> for Fake<'_> {
    type Error = String;

    fn block(&mut self, wait: &mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize> {
        self.blocks += 1;
        // The engine is not borrowed while blocking.
        assert!(self.engine.try_borrow_mut().is_ok());
        match self.mode {
            Block::Real => wait(),
            Block::Eintr => Err(io::Error::from_raw_os_error(libc::EINTR)),
            Block::Fail => Err(io::Error::from_raw_os_error(libc::EBADF)),
            Block::WakeThenWait => {
                let mut e = self.engine.borrow_mut();
                assert!(e.is_sleeping());
                e.wake();
                assert!(!e.is_sleeping(), "one write per sleep");
                drop(e);
                wait()
            }
        }
    }

    fn interrupted(&mut self) -> Result<(), String> {
        self.interrupts += 1;
        if self.interrupt_fails {
            Err("interrupted".into())
        } else {
            Ok(())
        }
    }

    fn poll_failed(&mut self, err: io::Error) -> String {
        format!("poll: {}", err.raw_os_error().unwrap_or(0))
    }

    fn run(&mut self, item: Item) -> Result<(), String> {
        assert!(self.engine.try_borrow_mut().is_ok());
        self.log.push(item.id);
        if let Some(action) = &item.action {
            action(self.engine);
        }
        if self.fail_on == Some(item.id) {
            return Err(format!("failed {}", item.id));
        }
        Ok(())
    }

    fn discard(&mut self, items: Vec<Item>) {
        assert!(self.engine.try_borrow_mut().is_ok());
        self.discarded.extend(items.iter().map(|i| i.id));
    }
}

fn engine() -> Eng {
    RefCell::new(Engine::new().unwrap())
}

#[test]
fn ready_items_run_fifo_without_blocking() {
    let eng = engine();
    for id in 1..=5 {
        eng.borrow_mut().push_ready(item(id));
    }
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1, 2, 3, 4, 5]);
    assert_eq!(d.blocks, 0);
    assert_eq!(eng.borrow().ready_len(), 0);
}

#[test]
fn push_during_run_waits_for_next_iteration() {
    let eng = engine();
    eng.borrow_mut().push_ready(item_with(1, |e| {
        e.borrow_mut().push_ready(item(10));
    }));
    eng.borrow_mut().push_ready(item(2));
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1, 2]);
    assert_eq!(eng.borrow().ready_len(), 1);
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1, 2, 10]);
    assert_eq!(d.blocks, 0);
}

#[test]
fn timers_fire_in_deadline_then_scheduling_order() {
    let eng = engine();
    let now = eng.borrow().now();
    {
        let mut e = eng.borrow_mut();
        e.push_ready(item(100));
        e.push_timer(now - 0.3, item(1));
        e.push_timer(now - 0.5, item(2));
        e.push_timer(now - 0.3, item(3));
        e.push_timer(now - 0.4, item(4));
        e.push_timer(now - 0.3, item(5));
        e.push_timer(now + 100.0, item(6));
    }
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    // Already-ready items first, then due timers in (deadline, seq) order.
    assert_eq!(d.log, vec![100, 2, 4, 1, 3, 5]);
    assert_eq!(eng.borrow().timer_count(), 1);
    let t = eng.borrow().poll_timeout().unwrap();
    assert!(t > 99.0 && t <= 100.0, "{t}");
}

#[test]
fn blocking_poll_until_timer() {
    let eng = engine();
    let t0 = eng.borrow().now();
    eng.borrow_mut()
        .push_timer(t0 + 0.05, item_with(1, |e| e.borrow_mut().stop()));
    let mut d = Fake::new(&eng);
    run_forever(&eng, &mut d).unwrap();
    let elapsed = eng.borrow().now() - t0;
    assert_eq!(d.log, vec![1]);
    assert!(d.blocks >= 1);
    assert!(
        elapsed >= 0.05 - eng.borrow().clock_resolution(),
        "{elapsed}"
    );
    assert!(!eng.borrow().is_stopping());
    assert!(!eng.borrow().is_sleeping());
    assert_eq!(eng.borrow().events.capacity(), EventBuf::DEFAULT_CAPACITY);
}

#[test]
fn cancelled_items_are_skipped_and_discarded() {
    let eng = engine();
    let now = eng.borrow().now();
    let a = item(1);
    let b = item(2);
    let top = item(3);
    let mid = item(4);
    let late = item(5);
    let victim = item(6);
    {
        let v = victim.clone();
        let mut e = eng.borrow_mut();
        e.push_ready(a.clone());
        e.push_ready(item_with(7, move |_| v.cancelled.set(true)));
        e.push_ready(victim.clone());
        e.push_ready(b.clone());
        e.push_timer(now - 2.0, top.clone());
        e.push_timer(now - 1.0, item(8));
        e.push_timer(now - 0.5, mid.clone());
        e.push_timer(now + 100.0, late.clone());
    }
    a.cancelled.set(true);
    for t in [&top, &mid, &late] {
        t.cancelled.set(true);
        eng.borrow_mut().note_timer_cancelled();
    }
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![7, 2, 8]);
    // Top-of-heap cancelled timer first, then the due one, then the
    // ready items skipped at run time.
    assert_eq!(d.discarded, vec![3, 4, 1, 6]);
    assert_eq!(eng.borrow().timer_count(), 1);
    assert_eq!(eng.borrow().timers.cancelled_count(), 1);
    eng.borrow_mut().push_ready(item(9));
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![7, 2, 8, 9]);
    assert_eq!(d.discarded, vec![3, 4, 1, 6, 5]);
    assert_eq!(eng.borrow().timer_count(), 0);
}

#[test]
fn compaction_happens_in_run_once() {
    let eng = engine();
    let now = eng.borrow().now();
    let items: Vec<Item> = (0..200).map(item).collect();
    for it in &items {
        eng.borrow_mut()
            .push_timer(now + 1000.0 + it.id as f64, it.clone());
    }
    for it in items.iter().skip(1).take(150) {
        it.cancelled.set(true);
        eng.borrow_mut().note_timer_cancelled();
    }
    eng.borrow_mut().push_ready(item(999));
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.discarded.len(), 150);
    assert_eq!(eng.borrow().timer_count(), 50);
    assert_eq!(eng.borrow().timers.cancelled_count(), 0);
}

#[test]
fn reader_fires_on_pipe_and_can_be_removed() {
    let eng = engine();
    let (rd, wr) = pipe();
    let fd = rd.as_raw_fd();
    assert!(eng
        .borrow_mut()
        .set_watcher(fd, Direction::Read, item(1))
        .unwrap()
        .is_none());
    assert!(eng.borrow().has_watcher(fd, Direction::Read));
    assert!(!eng.borrow().has_watcher(fd, Direction::Write));
    assert_eq!(eng.borrow().reactor().interest(fd), Interest::READABLE);
    sys::write(wr.as_raw_fd(), b"x").unwrap();
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1]);
    // Level-triggered: not drained, so it fires again.
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1, 1]);
    // Replacing returns the old reader.
    let old = eng
        .borrow_mut()
        .set_watcher(fd, Direction::Read, item(2))
        .unwrap()
        .unwrap();
    assert_eq!(old.id, 1);
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1, 1, 2]);
    let removed = eng
        .borrow_mut()
        .remove_watcher(fd, Direction::Read)
        .unwrap();
    assert_eq!(removed.id, 2);
    assert!(eng
        .borrow_mut()
        .remove_watcher(fd, Direction::Read)
        .is_none());
    assert_eq!(eng.borrow().reactor().interest(fd), Interest::NONE);
    assert!(eng.borrow().slots.is_empty());
    eng.borrow_mut().push_ready(item(3));
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1, 1, 2, 3]);
}

#[test]
fn a_fork_child_never_touches_the_parents_epoll_or_waker() {
    let eng = engine();
    let (rd, wr) = pipe();
    let fd = rd.as_raw_fd();
    eng.borrow_mut()
        .set_watcher(fd, Direction::Read, item(1))
        .unwrap();
    sys::write(wr.as_raw_fd(), b"x").unwrap();
    let parent_epfd = eng.borrow().reactor().fd();
    let parent_waker = eng.borrow().waker().fd();
    // SAFETY: the child only uses this thread's own objects, then
    // _exit()s without running the test harness's code.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut d = Fake::new(&eng);
            eng.borrow_mut().push_ready(item(5));
            run_once(&eng, &mut d).unwrap();
            // Callbacks run; the inherited reader is let go, not polled.
            let own = eng.borrow().reactor().fd() != parent_epfd
                && eng.borrow().waker().fd() != parent_waker;
            let released = d.discarded == vec![1] && !eng.borrow().has_watcher(fd, Direction::Read);
            drop(eng.borrow_mut().close());
            d.log == vec![5] && own && released
        }));
        // SAFETY: ends the child at once, as a fork child must.
        unsafe { libc::_exit(if ok.unwrap_or(false) { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: pid is our child; status is a writable int.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    // The parent's registration survived the child's close().
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1]);
    assert!(sys::epoll::ctl(parent_epfd, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32).is_ok());
    eng.borrow().wake_always();
    assert!(eventfd_readable(parent_waker));
}

#[test]
fn reader_and_writer_share_a_slot() {
    let eng = engine();
    let (rd, _wr) = pipe();
    let (_rd2, wr2) = pipe();
    let fd = wr2.as_raw_fd();
    // A pipe's write end is writable at once.
    eng.borrow_mut()
        .set_watcher(fd, Direction::Write, item(1))
        .unwrap();
    eng.borrow_mut()
        .set_watcher(fd, Direction::Read, item(2))
        .unwrap();
    assert_eq!(eng.borrow().reactor().interest(fd), Interest::BOTH);
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1]);
    assert_eq!(
        eng.borrow_mut()
            .remove_watcher(fd, Direction::Write)
            .unwrap()
            .id,
        1
    );
    assert_eq!(eng.borrow().reactor().interest(fd), Interest::READABLE);
    assert!(eng.borrow().has_watcher(fd, Direction::Read));
    assert_eq!(
        eng.borrow_mut()
            .remove_watcher(fd, Direction::Read)
            .unwrap()
            .id,
        2
    );
    assert_eq!(eng.borrow().reactor().interest(fd), Interest::NONE);
    drop(rd);
}

#[test]
fn watcher_methods_pick_the_reader_or_the_writer_by_direction() {
    let eng = engine();
    let (_rd, wr) = pipe();
    let fd = wr.as_raw_fd();
    eng.borrow_mut()
        .set_watcher(fd, Direction::Write, item(1))
        .unwrap();
    assert_eq!(eng.borrow().watcher(fd, Direction::Write).unwrap().id, 1);
    assert!(eng.borrow().watcher(fd, Direction::Read).is_none());
    assert!(eng.borrow().has_watcher(fd, Direction::Write));
    assert!(!eng.borrow().has_watcher(fd, Direction::Read));
    eng.borrow_mut()
        .set_watcher(fd, Direction::Read, item(2))
        .unwrap();
    assert!(eng.borrow().has_watcher(fd, Direction::Read));
    let removed = eng.borrow_mut().remove_watcher(fd, Direction::Read);
    assert_eq!(removed.unwrap().id, 2);
    let removed = eng.borrow_mut().remove_watcher(fd, Direction::Write);
    assert_eq!(removed.unwrap().id, 1);
    assert_eq!(eng.borrow().reactor().interest(fd), Interest::NONE);
}

#[test]
fn cancelled_reader_is_removed_on_event() {
    let eng = engine();
    let (rd, wr) = pipe();
    let fd = rd.as_raw_fd();
    let r = item(1);
    eng.borrow_mut()
        .set_watcher(fd, Direction::Read, r.clone())
        .unwrap();
    r.cancelled.set(true);
    sys::write(wr.as_raw_fd(), b"x").unwrap();
    eng.borrow_mut().push_ready(item(2));
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![2]);
    assert_eq!(d.discarded, vec![1]);
    assert!(!eng.borrow().has_watcher(fd, Direction::Read));
    assert_eq!(eng.borrow().reactor().interest(fd), Interest::NONE);
}

#[test]
fn set_reader_error_returns_the_item() {
    let eng = engine();
    let path = std::env::temp_dir().join(format!("zloop-engine-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let (err, back) = eng
        .borrow_mut()
        .set_watcher(file.as_raw_fd(), Direction::Read, item(7))
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    assert_eq!(back.id, 7);
    assert!(!eng.borrow().has_watcher(file.as_raw_fd(), Direction::Read));
    assert!(eng.borrow().slots.is_empty());
    let waker_fd = eng.borrow().waker().fd();
    let (err, _) = eng
        .borrow_mut()
        .set_watcher(waker_fd, Direction::Write, item(8))
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
}

#[test]
fn stop_ends_run_forever_after_the_current_iteration() {
    let eng = engine();
    eng.borrow_mut().push_ready(item_with(1, |e| {
        let mut e = e.borrow_mut();
        e.stop();
        e.push_ready(item(3));
    }));
    eng.borrow_mut().push_ready(item(2));
    let mut d = Fake::new(&eng);
    run_forever(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1, 2]);
    assert!(!eng.borrow().is_stopping());
    assert_eq!(eng.borrow().ready_len(), 1);

    // stop() before run_forever: exactly one (non-blocking) iteration.
    eng.borrow_mut().stop();
    run_forever(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1, 2, 3]);
    assert_eq!(d.blocks, 0);
    assert!(!eng.borrow().is_stopping());
}

#[test]
fn run_error_leaves_the_rest_queued_in_order() {
    let eng = engine();
    for id in 1..=5 {
        eng.borrow_mut().push_ready(item(id));
    }
    let mut d = Fake::new(&eng);
    d.fail_on = Some(2);
    assert_eq!(run_once(&eng, &mut d), Err("failed 2".to_string()));
    assert_eq!(d.log, vec![1, 2]);
    let left: Vec<u32> = eng.borrow().ready.iter().map(|i| i.id).collect();
    assert_eq!(left, vec![3, 4, 5]);
    d.fail_on = None;
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.log, vec![1, 2, 3, 4, 5]);

    // run_forever clears stopping on error too.
    eng.borrow_mut().stop();
    eng.borrow_mut().push_ready(item(6));
    d.fail_on = Some(6);
    assert!(run_forever(&eng, &mut d).is_err());
    assert!(!eng.borrow().is_stopping());
}

#[test]
fn close_returns_every_item_and_closes_the_engine_fds() {
    let eng = engine();
    let (r, _w) = pipe();
    eng.borrow_mut().push_ready(item(1));
    eng.borrow_mut().push_timer(1e9, item(2));
    assert!(eng
        .borrow_mut()
        .set_watcher(r.as_raw_fd(), Direction::Read, item(3))
        .is_ok());
    let items = eng.borrow_mut().close();
    assert_eq!(items.len(), 3);
    // The OwnedFds are gone (closed); checking the old numbers would race
    // with other tests reusing them.
    assert_eq!(eng.borrow().reactor().fd(), -1);
    assert_eq!(eng.borrow().waker().fd(), -1);
    eng.borrow().wake_always(); // a closed waker ignores wake-ups
}

#[test]
fn wake_writes_only_while_sleeping() {
    let eng = engine();
    let wfd = eng.borrow().waker().fd();
    eng.borrow_mut().wake();
    assert!(!eventfd_readable(wfd));
    eng.borrow().wake_always();
    assert!(eventfd_readable(wfd));
    // The waker event is drained by the next poll (one that would block
    // until a timer: a ready queue without fds skips polling).
    let soon = eng.borrow().now() + 0.001;
    eng.borrow_mut().push_timer(soon, item(1));
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    assert!(!eventfd_readable(wfd));

    // Inside a blocking poll (no timers, nothing ready: would block
    // forever) wake() does write, and the poll returns.
    d.mode = Block::WakeThenWait;
    run_once(&eng, &mut d).unwrap();
    assert_eq!(d.blocks, 2);
    assert!(!eventfd_readable(wfd));
    assert!(!eng.borrow().is_sleeping());
}

#[test]
fn wake_from_another_thread_ends_a_blocking_poll() {
    let eng = engine();
    let t0 = eng.borrow().now();
    // Safety net so a broken waker fails instead of hanging.
    eng.borrow_mut().push_timer(t0 + 10.0, item(99));
    let wfd = eng.borrow().waker().fd();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        // The engine (and its eventfd) outlives this thread: joined below.
        sys::write(wfd, &1u64.to_ne_bytes()).unwrap();
    });
    let mut d = Fake::new(&eng);
    run_once(&eng, &mut d).unwrap();
    thread.join().unwrap();
    let elapsed = eng.borrow().now() - t0;
    assert!(elapsed < 5.0, "{elapsed}");
    assert_eq!(d.blocks, 1);
    assert!(d.log.is_empty());
    assert!(!eventfd_readable(wfd));
}

#[test]
fn simulated_eintr() {
    let eng = engine();
    let now = eng.borrow().now();
    eng.borrow_mut().push_timer(now + 100.0, item(1));
    let mut d = Fake::new(&eng);
    d.mode = Block::Eintr;
    run_once(&eng, &mut d).unwrap();
    assert_eq!((d.blocks, d.interrupts), (1, 1));
    assert!(d.log.is_empty());

    d.interrupt_fails = true;
    assert_eq!(run_once(&eng, &mut d), Err("interrupted".to_string()));
    assert!(!eng.borrow().is_sleeping());
    assert_eq!(eng.borrow().events.capacity(), EventBuf::DEFAULT_CAPACITY);
    assert_eq!(eng.borrow().timer_count(), 1);
}

#[test]
fn poll_failure_is_reported() {
    let eng = engine();
    let mut d = Fake::new(&eng);
    d.mode = Block::Fail;
    assert_eq!(
        run_once(&eng, &mut d),
        Err(format!("poll: {}", libc::EBADF))
    );
    assert!(!eng.borrow().is_sleeping());
    assert_eq!(eng.borrow().events.capacity(), EventBuf::DEFAULT_CAPACITY);
}

extern "C" fn on_sigusr1(_: libc::c_int) {}

#[test]
fn real_eintr_from_a_signal() {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
    // value; the handler is an async-signal-safe no-op; SIGUSR1 is not
    // used elsewhere in this process.
    unsafe {
        let mut sa: libc::sigaction = mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let eng = engine();
    let now = eng.borrow().now();
    eng.borrow_mut().push_timer(now + 10.0, item(1));
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let done = Arc::new(AtomicBool::new(false));
    let done2 = done.clone();
    let thread = std::thread::spawn(move || {
        while !done2.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
            if !done2.load(Ordering::SeqCst) {
                // SAFETY: `me` is alive: it joins this thread before
                // returning, after setting `done`.
                unsafe { libc::pthread_kill(me, libc::SIGUSR1) };
            }
        }
    });
    let mut d = Fake::new(&eng);
    let r = run_once(&eng, &mut d);
    done.store(true, Ordering::SeqCst);
    thread.join().unwrap();
    r.unwrap();
    assert_eq!(d.interrupts, 1);
    assert!(d.log.is_empty());
    assert!(eng.borrow().now() - now < 5.0);
}

#[test]
fn poll_timeout_rules() {
    let eng = engine();
    assert_eq!(eng.borrow().poll_timeout(), None);
    let now = eng.borrow().now();
    eng.borrow_mut().push_timer(now + 1e9, item(1));
    assert_eq!(eng.borrow().poll_timeout(), Some(MAXIMUM_SELECT_TIMEOUT));
    eng.borrow_mut().push_timer(now + 5.0, item(2));
    let t = eng.borrow().poll_timeout().unwrap();
    assert!(t > 4.0 && t <= 5.0, "{t}");
    eng.borrow_mut().push_timer(now - 5.0, item(3));
    assert_eq!(eng.borrow().poll_timeout(), Some(0.0));
    let all = eng.borrow_mut().take_all();
    assert_eq!(all.len(), 3);
    eng.borrow_mut().push_timer(f64::NAN, item(4));
    assert_eq!(eng.borrow().poll_timeout(), Some(0.0));
    eng.borrow_mut().take_all();
    eng.borrow_mut().stop();
    assert_eq!(eng.borrow().poll_timeout(), Some(0.0));
    eng.borrow_mut().clear_stopping();
    eng.borrow_mut().push_ready(item(5));
    assert_eq!(eng.borrow().poll_timeout(), Some(0.0));
}

#[test]
fn for_each_and_take_all() {
    let eng = engine();
    let (rd, _wr) = pipe();
    let (_rd2, wr2) = pipe();
    {
        let mut e = eng.borrow_mut();
        e.push_ready(item(1));
        e.push_timer(1.0, item(2));
        e.set_watcher(rd.as_raw_fd(), Direction::Read, item(3))
            .unwrap();
        e.set_watcher(wr2.as_raw_fd(), Direction::Write, item(4))
            .unwrap();
    }
    let mut seen = Vec::new();
    eng.borrow().for_each(&mut |i| seen.push(i.id));
    seen.sort();
    assert_eq!(seen, vec![1, 2, 3, 4]);
    assert_eq!(eng.borrow().reactor().len(), 3);
    let mut all: Vec<u32> = eng.borrow_mut().take_all().iter().map(|i| i.id).collect();
    all.sort();
    assert_eq!(all, vec![1, 2, 3, 4]);
    let e = eng.borrow();
    assert_eq!(e.reactor().len(), 1);
    assert_eq!(e.reactor().interest(e.waker().fd()), Interest::READABLE);
    assert_eq!((e.ready_len(), e.timer_count()), (0, 0));
    let mut n = 0;
    e.for_each(&mut |_| n += 1);
    assert_eq!(n, 0);
}
