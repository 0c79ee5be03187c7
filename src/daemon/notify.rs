//! sd_notify: tells systemd (`Type=notify`) when the daemon is ready, reloading or stopping, and
//! pets the watchdog. The protocol is one datagram of `KEY=VALUE` lines to the unix socket named
//! by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace), so no crate is needed.
//!
//! Outside systemd (`$NOTIFY_SOCKET` unset) every call is a no-op.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Sends notifications to the service manager, if there is one.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    addr: Option<SocketAddr>,
}

impl Notifier {
    /// A notifier for `$NOTIFY_SOCKET`; disabled when it is unset or unusable.
    pub fn from_env() -> Notifier {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(path) => Notifier::new(path.to_string_lossy().as_ref()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "NOTIFY_SOCKET is set but unusable; not notifying systemd");
                Notifier::default()
            }),
            None => Notifier::default(),
        }
    }

    /// A notifier for an explicit socket: a filesystem path or `@abstract-name`.
    pub fn new(socket: &str) -> io::Result<Notifier> {
        let addr = if let Some(name) = socket.strip_prefix('@') {
            abstract_addr(name.as_bytes())?
        } else {
            SocketAddr::from_pathname(socket)?
        };
        Ok(Notifier { addr: Some(addr) })
    }

    /// Whether a service manager is listening.
    pub fn enabled(&self) -> bool {
        self.addr.is_some()
    }

    /// Sends `state` (newline-separated `KEY=VALUE` lines). Returns whether it was sent.
    pub fn notify(&self, state: &str) -> io::Result<bool> {
        let Some(addr) = &self.addr else {
            return Ok(false);
        };
        let sock = UnixDatagram::unbound()?;
        // systemd drains its socket promptly; never let a stuck manager block the runtime.
        sock.set_nonblocking(true)?;
        sock.send_to_addr(state.as_bytes(), addr)?;
        Ok(true)
    }

    /// Logs instead of failing: a lost notification must not take the daemon down.
    fn send(&self, state: &str) {
        if let Err(e) = self.notify(state) {
            tracing::warn!(error = %e, "sd_notify failed");
        }
    }

    /// `READY=1`: startup or a reload finished.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` that `Type=notify-reload` requires.
    pub fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=rescanning manifests",
            monotonic_usec()
        ));
    }

    /// `STOPPING=1`: shutdown started.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=shutting down");
    }

    /// `WATCHDOG=1`: still alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract unix sockets exist only on Linux",
    ))
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares `MONOTONIC_USEC` against.
pub fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1_000
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, when it is set for this process
/// (`$WATCHDOG_PID` absent or equal to our pid).
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(me) {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_petted_at_half_its_timeout_and_only_for_our_pid() {
        assert_eq!(
            watchdog_interval_from(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval_from(Some("30000000"), Some("8"), 7), None);
        assert_eq!(
            watchdog_interval_from(Some("2000000"), Some("7"), 7),
            Some(Duration::from_secs(1))
        );
        assert_eq!(watchdog_interval_from(Some("junk"), None, 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
    }

    #[test]
    fn notifications_reach_a_path_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier::new(path.to_str().expect("utf8 path")).expect("notifier");
        n.ready("up");
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=up");
        n.reloading();
        let len = server.recv(&mut buf).expect("recv");
        let msg = std::str::from_utf8(&buf[..len]).expect("utf8");
        assert!(msg.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{msg}");
    }

    #[test]
    fn without_a_socket_nothing_is_sent() {
        assert!(!Notifier::default().notify("READY=1").expect("no-op"));
    }
}
