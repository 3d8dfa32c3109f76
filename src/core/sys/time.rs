//! The monotonic clock (as CPython reads it) and the conversion of a poll
//! timeout to the milliseconds the poller takes.

use libc::c_int;

const NS_PER_SEC: i64 = 1_000_000_000;

fn clock(f: unsafe extern "C" fn(libc::clockid_t, *mut libc::timespec) -> c_int) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the
    // call; CLOCK_MONOTONIC always exists on Linux, so the call cannot fail
    // (if it somehow did, `ts` stays zeroed, which is still initialised).
    unsafe { f(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

/// CLOCK_MONOTONIC in seconds, computed exactly as CPython's
/// `time.monotonic()` does (`_PyTime_AsSecondsDouble`), so both agree.
pub fn monotonic() -> f64 {
    let ts = clock(libc::clock_gettime);
    let ns = (ts.tv_sec as i64)
        .saturating_mul(NS_PER_SEC)
        .saturating_add(ts.tv_nsec as i64);
    if ns % NS_PER_SEC == 0 {
        (ns / NS_PER_SEC) as f64
    } else {
        ns as f64 / 1e9
    }
}

/// `clock_getres(CLOCK_MONOTONIC)` in seconds, computed like CPython's
/// `time.get_clock_info('monotonic').resolution`.
pub fn clock_resolution() -> f64 {
    let ts = clock(libc::clock_getres);
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// A poll timeout in seconds → milliseconds for `epoll_wait`.
///
/// `None` → `-1` (block); otherwise `ceil(seconds * 1000)` clamped to
/// `[0, i32::MAX]`, so a wait never ends early (a positive sub-millisecond
/// timeout becomes 1 ms). NaN → 0.
pub fn timeout_to_ms(timeout: Option<f64>) -> i32 {
    match timeout {
        None => -1,
        // `as` saturates and maps NaN to 0.
        Some(t) => (t * 1000.0).ceil().clamp(0.0, i32::MAX as f64) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_conversion() {
        assert_eq!(timeout_to_ms(None), -1);
        assert_eq!(timeout_to_ms(Some(0.0)), 0);
        assert_eq!(timeout_to_ms(Some(-3.0)), 0);
        assert_eq!(timeout_to_ms(Some(1e-9)), 1);
        assert_eq!(timeout_to_ms(Some(0.0004)), 1);
        assert_eq!(timeout_to_ms(Some(0.001)), 1);
        assert_eq!(timeout_to_ms(Some(0.0011)), 2);
        assert_eq!(timeout_to_ms(Some(1.5)), 1500);
        assert_eq!(timeout_to_ms(Some(86400.0)), 86_400_000);
        assert_eq!(timeout_to_ms(Some(1e12)), i32::MAX);
        assert_eq!(timeout_to_ms(Some(f64::INFINITY)), i32::MAX);
        assert_eq!(timeout_to_ms(Some(f64::NEG_INFINITY)), 0);
        assert_eq!(timeout_to_ms(Some(f64::NAN)), 0);
    }

    #[test]
    fn clock_is_monotonic_and_resolution_sane() {
        let a = monotonic();
        let b = monotonic();
        assert!(b >= a);
        let res = clock_resolution();
        assert!(res > 0.0 && res < 0.1, "{res}");
    }
}
