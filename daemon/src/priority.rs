//! OS scheduling priority of single threads (`[embeddings] nice`).
//!
//! On Linux every thread is a task with its own nice value, and `setpriority(PRIO_PROCESS, tid)`
//! changes that task alone: the rest of the daemon (gRPC, the store writer, the projector, the
//! query threads) keeps its priority. A thread created later inherits the nice value of the
//! thread that creates it, so only threads of the embedding worker get it.
//!
//! This is the daemon's only `unsafe`: two libc calls that take and return plain integers.
#![allow(unsafe_code)]

/// Lowers the calling thread's priority to `nice` (0 = the highest a user may keep, 19 = the
/// lowest). Never raises it: a thread already at `nice` or above (a daemon started under
/// `nice -n 15`) is left as it is. Returns the thread's nice value afterwards.
#[cfg(target_os = "linux")]
pub(crate) fn lower_current_thread(nice: i32) -> std::io::Result<i32> {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    let current = thread_nice(tid)?;
    if current >= nice {
        return Ok(current);
    }
    // SAFETY: plain integer arguments; it changes only the scheduling priority of task `tid`,
    // which is this thread.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(nice)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn lower_current_thread(_nice: i32) -> std::io::Result<i32> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "per-thread priority is only set on Linux",
    ))
}

/// The nice value of task `tid`, from `/proc/thread-self/stat` (getpriority's −1 is both an
/// error and a valid value, so the kernel's own file is read instead).
#[cfg(target_os = "linux")]
fn thread_nice(tid: libc::pid_t) -> std::io::Result<i32> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))?;
    stat_nice(&stat).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("no nice value in /proc/self/task/{tid}/stat"),
        )
    })
}

/// Field 19 (nice) of a `/proc/…/stat` line; the command name (field 2, in parentheses) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn stat_nice(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_is_field_19_counted_after_the_command_name() {
        let line = "4242 (ctx embed (x) 0) S 1 4242 4242 0 -1 4194560 1 0 0 0 3 1 0 0 20 7 3 0 \
                    12 0 0 18446744073709551615";
        assert_eq!(stat_nice(line), Some(7));
        assert_eq!(stat_nice("1 (init) S 1"), None);
        assert_eq!(stat_nice("no parenthesis"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn lowering_changes_only_the_calling_thread() {
        let own = thread_nice(unsafe { libc::gettid() }).unwrap();
        let target = (own + 3).min(19);
        let (set, seen) = std::thread::spawn(move || {
            let set = lower_current_thread(target).unwrap();
            let again = lower_current_thread(0).unwrap();
            (set, again)
        })
        .join()
        .unwrap();
        assert_eq!(set, target);
        assert_eq!(seen, target, "never raised back");
        assert_eq!(thread_nice(unsafe { libc::gettid() }).unwrap(), own);
    }
}
