//! Benchmark helper for zloop's `scripts/bench_net` (not part of zloop).
//!
//! `echo_client ADDR [options]`: a native echo client. Every connection sends a
//! message of SIZE bytes, reads exactly SIZE bytes back (strict ping-pong) and
//! repeats. All connections are driven by one thread with level-triggered
//! epoll, so the client spends as little CPU as possible. After a warm-up it
//! counts round trips over a fixed duration (or until a request count is
//! reached) and prints one JSON object. With `--server-pid PID` it also samples
//! the server's CPU time (sum of /proc/PID/task/*/schedstat, in ns) exactly at
//! the start and end of the measured window.
//!
//! With `--tls` every connection speaks TLS (rustls; the server's
//! certificate is not checked) from its own blocking thread.
//!
//! `echo_client serve ADDR`: a reference echo server in plain Rust (one thread,
//! epoll), the "native" row of the benchmark tables.
//!
//! ADDR is `host:port`, or a Unix socket path (`unix:PATH`, `file:PATH`, or
//! anything containing a `/`).

mod tls_client;

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::{IntoRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::exit;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: echo_client ADDR [-c CONNS] [-s SIZE] [-d SECS | -n COUNT] [-w WARMUP_SECS]
                        [--server-pid PID] [--check-every K] [--connect-timeout SECS] [--tls]
       echo_client serve ADDR

ADDR is host:port or a Unix socket path (unix:PATH, file:PATH, or any path with '/').
Client defaults: -c 10 -s 1024 -d 5 -w 1 --check-every 1000 --connect-timeout 10.
The client prints one JSON object: round_trips, elapsed_s, rps, errors, and, with
--server-pid, server_cpu_s and server_cpu_us_per_rt over the measured window.
With --tls each connection is a TLS client (rustls, certificate not checked) on its
own blocking thread.";

// ---------------------------------------------------------------------------
// Small helpers.
// ---------------------------------------------------------------------------

enum Addr {
    Tcp(String),
    Unix(String),
}

fn parse_addr(s: &str) -> Addr {
    if let Some(p) = s.strip_prefix("unix:").or_else(|| s.strip_prefix("file:")) {
        Addr::Unix(p.to_string())
    } else if s.contains('/') {
        Addr::Unix(s.to_string())
    } else {
        Addr::Tcp(s.to_string())
    }
}

fn die(msg: &str) -> ! {
    eprintln!("echo_client: {msg}");
    exit(2)
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn opt_f64(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".to_string(),
    }
}

struct Epoll(RawFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall with a valid flag; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll(fd))
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event that outlives the call.
        let r = unsafe { libc::epoll_ctl(self.0, op, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout_ms`; EINTR counts as zero events.
    fn wait(&self, evs: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        // SAFETY: the buffer is valid for `evs.len()` events.
        let n = unsafe { libc::epoll_wait(self.0, evs.as_mut_ptr(), evs.len() as i32, timeout_ms) };
        if n < 0 {
            if errno() == libc::EINTR {
                return Ok(0);
            }
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

fn close_fd(fd: RawFd) {
    // SAFETY: the caller owns `fd` and never uses it again.
    unsafe {
        libc::close(fd);
    }
}

fn recv(fd: RawFd, buf: &mut [u8]) -> isize {
    // SAFETY: the pointer and length describe a live, writable buffer.
    unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) }
}

fn send(fd: RawFd, buf: &[u8]) -> isize {
    // SAFETY: the pointer and length describe a live, readable buffer.
    unsafe {
        libc::send(
            fd,
            buf.as_ptr() as *const libc::c_void,
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    }
}

fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: valid option pointer and size; failure (e.g. Unix socket) is ignored.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// CPU time (seconds) consumed so far by every thread of process `pid`.
fn proc_cpu_seconds(pid: i32) -> Option<f64> {
    // sum_exec_runtime from schedstat is in ns, far finer than clock ticks.
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        let mut total: u64 = 0;
        let mut any = false;
        for entry in dir.flatten() {
            let p = entry.path().join("schedstat");
            if let Ok(s) = std::fs::read_to_string(p) {
                if let Some(v) = s
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
                {
                    total += v;
                    any = true;
                }
            }
        }
        if any && total > 0 {
            return Some(total as f64 / 1e9);
        }
    }
    // Fallback: utime + stime from /proc/PID/stat, in clock ticks.
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((ut + st) / hz)
}

/// Time (seconds) the threads of `pid` spent runnable but waiting for a CPU
/// (schedstat run_delay): a sign that other work shared the pinned CPU.
fn proc_wait_seconds(pid: i32) -> Option<f64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total: u64 = 0;
    for entry in dir.flatten() {
        if let Ok(s) = std::fs::read_to_string(entry.path().join("schedstat")) {
            total += s
                .split_whitespace()
                .nth(1)
                .and_then(|x| x.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some(total as f64 / 1e9)
}

fn self_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

// ---------------------------------------------------------------------------
// Client.
// ---------------------------------------------------------------------------

struct ClientOpts {
    addr: String,
    conns: usize,
    size: usize,
    duration: f64,
    count: Option<u64>,
    warmup: f64,
    server_pid: Option<i32>,
    check_every: u64,
    connect_timeout: f64,
    tls: bool,
}

struct Conn {
    fd: RawFd,
    seq: u64,
    sent: usize,
    recvd: usize,
    want_out: bool,
    alive: bool,
    tx: Vec<u8>,
    rx: Vec<u8>,
}

/// Blocking connect (retried until the deadline) plus one small blocking
/// round trip, so the server has surely accepted the connection before the
/// next one is opened (uvloop's sock_* server listens with a backlog of 5).
fn open_conn(addr: &Addr, deadline: Instant) -> io::Result<RawFd> {
    const HELLO: &[u8] = b"zloop-echo-hello";
    loop {
        let r: io::Result<RawFd> = (|| match addr {
            Addr::Tcp(a) => {
                let mut s = TcpStream::connect(a.as_str())?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                s.write_all(HELLO)?;
                let mut back = [0u8; 16];
                s.read_exact(&mut back)?;
                if back != HELLO {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bad hello echo"));
                }
                s.set_nonblocking(true)?;
                Ok(s.into_raw_fd())
            }
            Addr::Unix(p) => {
                let mut s = UnixStream::connect(p)?;
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                s.write_all(HELLO)?;
                let mut back = [0u8; 16];
                s.read_exact(&mut back)?;
                if back != HELLO {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bad hello echo"));
                }
                s.set_nonblocking(true)?;
                Ok(s.into_raw_fd())
            }
        })();
        match r {
            Ok(fd) => return Ok(fd),
            Err(e)
                if Instant::now() < deadline
                    && matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                    ) =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

struct Stats {
    completed: u64,
    errors: u64,
    error_msgs: Vec<String>,
    full_checks: u64,
}

impl Stats {
    fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.error_msgs.len() < 5 {
            self.error_msgs.push(msg);
        }
    }
}

fn kill_conn(ep: &Epoll, c: &mut Conn, stats: &mut Stats, msg: String) {
    if c.alive {
        let _ = ep.ctl(libc::EPOLL_CTL_DEL, c.fd, 0, 0);
        close_fd(c.fd);
        c.alive = false;
        stats.error(msg);
    }
}

/// Sends what is left of the current message; arms EPOLLOUT only while a
/// send is incomplete (never for small messages).
fn try_send(ep: &Epoll, c: &mut Conn, tok: u64) -> Result<(), String> {
    let n = c.tx.len();
    while c.sent < n {
        let r = send(c.fd, &c.tx[c.sent..]);
        if r > 0 {
            c.sent += r as usize;
            continue;
        }
        let e = errno();
        if r < 0 && e == libc::EINTR {
            continue;
        }
        if r < 0 && (e == libc::EAGAIN || e == libc::EWOULDBLOCK) {
            if !c.want_out {
                ep.ctl(
                    libc::EPOLL_CTL_MOD,
                    c.fd,
                    (libc::EPOLLIN | libc::EPOLLOUT) as u32,
                    tok,
                )
                .map_err(|e| format!("epoll_ctl: {e}"))?;
                c.want_out = true;
            }
            return Ok(());
        }
        return Err(format!("send: {}", io::Error::from_raw_os_error(e)));
    }
    if c.want_out {
        ep.ctl(libc::EPOLL_CTL_MOD, c.fd, libc::EPOLLIN as u32, tok)
            .map_err(|e| format!("epoll_ctl: {e}"))?;
        c.want_out = false;
    }
    Ok(())
}

fn start_round(ep: &Epoll, c: &mut Conn, tok: u64) -> Result<(), String> {
    let k = c.tx.len().min(8);
    c.tx[..k].copy_from_slice(&c.seq.to_le_bytes()[..k]);
    c.sent = 0;
    c.recvd = 0;
    try_send(ep, c, tok)
}

/// Reads what has arrived of the echo; completes the round (validating it)
/// and starts the next one when all SIZE bytes are back.
fn on_readable(
    ep: &Epoll,
    c: &mut Conn,
    tok: u64,
    st: &mut Stats,
    check_every: u64,
) -> Result<(), String> {
    let n = c.rx.len();
    loop {
        let want = n - c.recvd;
        let r = recv(c.fd, &mut c.rx[c.recvd..]);
        if r > 0 {
            let r = r as usize;
            c.recvd += r;
            if c.recvd == n {
                if c.recvd > c.sent {
                    return Err("echo longer than what was sent".into());
                }
                let k = n.min(8);
                if c.rx[..k] != c.tx[..k] {
                    return Err(format!("echo of round {} has the wrong header", c.seq));
                }
                if check_every > 0 && c.seq.is_multiple_of(check_every) {
                    if c.rx != c.tx {
                        return Err(format!(
                            "echo of round {} differs from what was sent",
                            c.seq
                        ));
                    }
                    st.full_checks += 1;
                }
                st.completed += 1;
                c.seq += 1;
                return start_round(ep, c, tok);
            }
            if r < want {
                return Ok(()); // short read: drained for now (level-triggered anyway)
            }
            continue;
        }
        if r == 0 {
            return Err(format!(
                "server closed the connection after {} of {} bytes",
                c.recvd, n
            ));
        }
        let e = errno();
        if e == libc::EINTR {
            continue;
        }
        if e == libc::EAGAIN || e == libc::EWOULDBLOCK {
            return Ok(());
        }
        return Err(format!("recv: {}", io::Error::from_raw_os_error(e)));
    }
}

fn run_client(o: ClientOpts) -> i32 {
    let addr = parse_addr(&o.addr);
    let ep = Epoll::new().unwrap_or_else(|e| die(&format!("epoll_create1: {e}")));
    let mut st = Stats {
        completed: 0,
        errors: 0,
        error_msgs: Vec::new(),
        full_checks: 0,
    };
    let mut conns: Vec<Conn> = Vec::with_capacity(o.conns);
    let deadline = Instant::now() + Duration::from_secs_f64(o.connect_timeout);
    for i in 0..o.conns {
        match open_conn(&addr, deadline) {
            Ok(fd) => {
                let mut tx = vec![0u8; o.size];
                for (j, b) in tx.iter_mut().enumerate() {
                    *b = (j as u32).wrapping_mul(31).wrapping_add(i as u32 * 7 + 1) as u8;
                }
                conns.push(Conn {
                    fd,
                    seq: 0,
                    sent: 0,
                    recvd: 0,
                    want_out: false,
                    alive: true,
                    tx,
                    rx: vec![0u8; o.size],
                });
            }
            Err(e) => st.error(format!("connect {}: {e}", o.addr)),
        }
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let tok = i as u64;
        if let Err(e) = ep.ctl(libc::EPOLL_CTL_ADD, c.fd, libc::EPOLLIN as u32, tok) {
            kill_conn(&ep, c, &mut st, format!("epoll_ctl: {e}"));
            continue;
        }
        if let Err(e) = start_round(&ep, c, tok) {
            kill_conn(&ep, c, &mut st, e);
        }
    }

    let t_begin = Instant::now();
    let warm_end = t_begin + Duration::from_secs_f64(o.warmup);
    let mut measuring = false;
    let mut t0 = t_begin;
    let mut t_end = t_begin;
    let mut done0 = 0u64;
    let mut srv0: Option<f64> = None;
    let me = std::process::id() as i32;
    let (mut sw0, mut cw0): (Option<f64>, Option<f64>) = (None, None);
    let mut cli0 = 0.0;
    let mut warm_rt = 0u64;
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; conns.len().max(1)];
    let mut finished = false;

    while !finished {
        if !conns.iter().any(|c| c.alive) {
            break;
        }
        let now = Instant::now();
        let limit = if measuring {
            if o.count.is_some() {
                t0 + Duration::from_secs(3600)
            } else {
                t0 + Duration::from_secs_f64(o.duration)
            }
        } else {
            warm_end
        };
        let timeout_ms = if limit > now {
            ((limit - now).as_micros() as i32 + 999) / 1000
        } else {
            0
        };
        let nev = match ep.wait(&mut evs, timeout_ms.min(1000)) {
            Ok(n) => n,
            Err(e) => {
                st.error(format!("epoll_wait: {e}"));
                break;
            }
        };
        for ev in &evs[..nev] {
            let tok = ev.u64;
            let flags = ev.events;
            let c = &mut conns[tok as usize];
            if !c.alive {
                continue;
            }
            let mut res = Ok(());
            if flags & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                res = on_readable(&ep, c, tok, &mut st, o.check_every);
            }
            if res.is_ok() && c.alive && flags & libc::EPOLLOUT as u32 != 0 && c.sent < c.tx.len() {
                res = try_send(&ep, c, tok);
            }
            if let Err(e) = res {
                kill_conn(&ep, c, &mut st, e);
            }
        }
        let now = Instant::now();
        if !measuring {
            if now >= warm_end {
                measuring = true;
                warm_rt = st.completed;
                done0 = st.completed;
                srv0 = o.server_pid.and_then(proc_cpu_seconds);
                sw0 = o.server_pid.and_then(proc_wait_seconds);
                cw0 = proc_wait_seconds(me);
                cli0 = self_cpu_seconds();
                t0 = Instant::now();
            }
        } else {
            let reached = match o.count {
                Some(n) => st.completed - done0 >= n,
                None => now >= t0 + Duration::from_secs_f64(o.duration),
            };
            if reached {
                t_end = now;
                finished = true;
            }
        }
    }
    let srv1 = o.server_pid.and_then(proc_cpu_seconds);
    let sw1 = o.server_pid.and_then(proc_wait_seconds);
    let cw1 = proc_wait_seconds(me);
    let delta = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if measuring => Some(b - a),
        _ => None,
    };
    let cli1 = self_cpu_seconds();
    if !finished {
        t_end = Instant::now();
    }
    for c in conns.iter_mut().filter(|c| c.alive) {
        close_fd(c.fd);
        c.alive = false;
    }

    let rt = if measuring { st.completed - done0 } else { 0 };
    let elapsed = if measuring {
        (t_end - t0).as_secs_f64()
    } else {
        0.0
    };
    let report = Report {
        round_trips: rt,
        elapsed,
        errors: st.error_msgs,
        warmup_round_trips: warm_rt,
        full_checks: st.full_checks,
        server_cpu: delta(srv0, srv1),
        client_cpu: if measuring { Some(cli1 - cli0) } else { None },
        server_wait: delta(sw0, sw1),
        client_wait: delta(cw0, cw1),
    };
    report.print(&o, st.errors)
}

/// What a client run measured, printed as one JSON object.
pub struct Report {
    pub round_trips: u64,
    pub elapsed: f64,
    pub errors: Vec<String>,
    pub warmup_round_trips: u64,
    pub full_checks: u64,
    pub server_cpu: Option<f64>,
    pub client_cpu: Option<f64>,
    pub server_wait: Option<f64>,
    pub client_wait: Option<f64>,
}

impl Report {
    /// Prints the report; the exit status (1 on errors or no round trip).
    fn print(&self, o: &ClientOpts, error_count: u64) -> i32 {
        let rt = self.round_trips;
        let rps = if self.elapsed > 0.0 {
            Some(rt as f64 / self.elapsed)
        } else {
            None
        };
        let per_rt = |cpu: Option<f64>| match cpu {
            Some(c) if rt > 0 => Some(c * 1e6 / rt as f64),
            _ => None,
        };
        let msgs: Vec<String> = self.errors.iter().map(|m| json_str(m)).collect();
        println!(
            "{{\"addr\": {}, \"connections\": {}, \"size\": {}, \"tls\": {}, \"round_trips\": {}, \"elapsed_s\": {}, \
\"rps\": {}, \"errors\": {}, \"error_messages\": [{}], \"warmup_round_trips\": {}, \"full_checks\": {}, \
\"server_pid\": {}, \"server_cpu_s\": {}, \"server_cpu_us_per_rt\": {}, \"client_cpu_s\": {}, \
\"client_cpu_us_per_rt\": {}, \"server_wait_s\": {}, \"client_wait_s\": {}}}",
            json_str(&o.addr),
            o.conns,
            o.size,
            o.tls,
            rt,
            self.elapsed,
            opt_f64(rps),
            error_count,
            msgs.join(", "),
            self.warmup_round_trips,
            self.full_checks,
            o.server_pid.map(|p| p.to_string()).unwrap_or_else(|| "null".into()),
            opt_f64(self.server_cpu),
            opt_f64(per_rt(self.server_cpu)),
            opt_f64(self.client_cpu),
            opt_f64(per_rt(self.client_cpu)),
            opt_f64(self.server_wait),
            opt_f64(self.client_wait),
        );
        if error_count > 0 || rt == 0 {
            1
        } else {
            0
        }
    }
}

// ---------------------------------------------------------------------------
// Reference server.
// ---------------------------------------------------------------------------

struct SConn {
    fd: RawFd,
    pending: Vec<u8>,
    pos: usize,
}

fn serve(addr_s: &str) -> ! {
    let addr = parse_addr(addr_s);
    let (lfd, is_tcp) = match &addr {
        Addr::Tcp(a) => {
            let l =
                TcpListener::bind(a.as_str()).unwrap_or_else(|e| die(&format!("bind {a}: {e}")));
            l.set_nonblocking(true).unwrap();
            (l.into_raw_fd(), true)
        }
        Addr::Unix(p) => {
            let _ = std::fs::remove_file(p);
            let l = UnixListener::bind(p).unwrap_or_else(|e| die(&format!("bind {p}: {e}")));
            l.set_nonblocking(true).unwrap();
            (l.into_raw_fd(), false)
        }
    };
    let ep = Epoll::new().unwrap_or_else(|e| die(&format!("epoll_create1: {e}")));
    const LISTENER: u64 = u64::MAX;
    ep.ctl(libc::EPOLL_CTL_ADD, lfd, libc::EPOLLIN as u32, LISTENER)
        .unwrap_or_else(|e| die(&format!("epoll_ctl: {e}")));
    println!("serving on {addr_s}");
    let _ = io::stdout().flush();

    let mut conns: Vec<Option<SConn>> = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        let nev = ep
            .wait(&mut evs, -1)
            .unwrap_or_else(|e| die(&format!("epoll_wait: {e}")));
        for ev in &evs[..nev] {
            let tok = ev.u64;
            let flags = ev.events;
            if tok == LISTENER {
                loop {
                    // SAFETY: null address pointers are allowed by accept4.
                    let fd = unsafe {
                        libc::accept4(
                            lfd,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        )
                    };
                    if fd < 0 {
                        let e = errno();
                        if e == libc::EINTR || e == libc::ECONNABORTED {
                            continue;
                        }
                        break; // EAGAIN, or EMFILE and friends: retry on the next event
                    }
                    if is_tcp {
                        set_nodelay(fd);
                    }
                    let slot = conns.iter().position(|c| c.is_none()).unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    if ep
                        .ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, slot as u64)
                        .is_err()
                    {
                        close_fd(fd);
                        continue;
                    }
                    conns[slot] = Some(SConn {
                        fd,
                        pending: Vec::new(),
                        pos: 0,
                    });
                }
                continue;
            }
            let idx = tok as usize;
            let close = {
                let Some(c) = conns[idx].as_mut() else {
                    continue;
                };
                serve_event(&ep, c, tok, flags, &mut buf)
            };
            if close {
                if let Some(c) = conns[idx].take() {
                    let _ = ep.ctl(libc::EPOLL_CTL_DEL, c.fd, 0, 0);
                    close_fd(c.fd);
                }
            }
        }
    }
}

/// Handles one event of an accepted connection; returns true to close it.
fn serve_event(ep: &Epoll, c: &mut SConn, tok: u64, flags: u32, buf: &mut [u8]) -> bool {
    if c.pos < c.pending.len() {
        // Writing a backlog: flush it, then read again.
        if flags & (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
            return false;
        }
        while c.pos < c.pending.len() {
            let r = send(c.fd, &c.pending[c.pos..]);
            if r > 0 {
                c.pos += r as usize;
                continue;
            }
            let e = errno();
            if r < 0 && e == libc::EINTR {
                continue;
            }
            return !(r < 0 && (e == libc::EAGAIN || e == libc::EWOULDBLOCK));
        }
        c.pending.clear();
        c.pos = 0;
        return ep
            .ctl(libc::EPOLL_CTL_MOD, c.fd, libc::EPOLLIN as u32, tok)
            .is_err();
    }
    loop {
        let r = recv(c.fd, buf);
        if r == 0 {
            return true;
        }
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return !(e == libc::EAGAIN || e == libc::EWOULDBLOCK);
        }
        let n = r as usize;
        let mut off = 0;
        while off < n {
            let w = send(c.fd, &buf[off..n]);
            if w > 0 {
                off += w as usize;
                continue;
            }
            let e = errno();
            if w < 0 && e == libc::EINTR {
                continue;
            }
            if w < 0 && (e == libc::EAGAIN || e == libc::EWOULDBLOCK) {
                // Stop reading until the rest is written (back-pressure).
                c.pending.extend_from_slice(&buf[off..n]);
                c.pos = 0;
                return ep
                    .ctl(libc::EPOLL_CTL_MOD, c.fd, libc::EPOLLOUT as u32, tok)
                    .is_err();
            }
            return true;
        }
        if n < buf.len() {
            return false; // short read: drained for now
        }
    }
}

// ---------------------------------------------------------------------------
// Command line.
// ---------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        exit(if args.is_empty() { 2 } else { 0 });
    }
    if args[0] == "serve" {
        if args.len() != 2 {
            die("usage: echo_client serve ADDR");
        }
        serve(&args[1]);
    }
    let mut o = ClientOpts {
        addr: String::new(),
        conns: 10,
        size: 1024,
        duration: 5.0,
        count: None,
        warmup: 1.0,
        server_pid: None,
        check_every: 1000,
        connect_timeout: 10.0,
        tls: false,
    };
    let mut it = args.into_iter();
    let mut addr = None;
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .unwrap_or_else(|| die(&format!("{name} needs a value")))
        };
        fn num<T: std::str::FromStr>(name: &str, v: String) -> T {
            v.parse()
                .unwrap_or_else(|_| die(&format!("bad value for {name}: {v}")))
        }
        match a.as_str() {
            "-c" | "--connections" => o.conns = num(&a, val(&a)),
            "-s" | "--size" => o.size = num(&a, val(&a)),
            "-d" | "--duration" => o.duration = num(&a, val(&a)),
            "-n" | "--requests" => o.count = Some(num(&a, val(&a))),
            "-w" | "--warmup" => o.warmup = num(&a, val(&a)),
            "--server-pid" => o.server_pid = Some(num(&a, val(&a))),
            "--check-every" => o.check_every = num(&a, val(&a)),
            "--connect-timeout" => o.connect_timeout = num(&a, val(&a)),
            "--tls" => o.tls = true,
            s if s.starts_with('-') => die(&format!("unknown option {s}\n{USAGE}")),
            _ if addr.is_none() => addr = Some(a),
            _ => die(&format!("unexpected argument {a}")),
        }
    }
    o.addr = addr.unwrap_or_else(|| die("missing ADDR"));
    if o.conns == 0 || o.size == 0 {
        die("connections and size must be positive");
    }
    if o.tls {
        if o.count.is_some() || matches!(parse_addr(&o.addr), Addr::Unix(_)) {
            die("--tls takes a host:port and a duration (-d), not -n");
        }
        let report = tls_client::run(
            &o.addr,
            o.conns,
            o.size,
            o.warmup,
            o.duration,
            o.server_pid,
            o.check_every,
        );
        let n = report.errors.len() as u64;
        exit(report.print(&o, n));
    }
    exit(run_client(o));
}
