//! Loopback ports for listeners whose port someone must know before the process that binds them starts: a
//! sandbox's extension in a fleet, a receiver a test's function sends to.
//!
//! A port found free by binding port 0 comes from Linux's default ephemeral range (32768-60999), from which the
//! kernel also picks the local port of every outgoing connection, so any connection made in between may take it
//! before its listener binds it. These come from below that range, in turn through one process-wide counter, so
//! that only a caller of [`free_port`] that has gone round the whole range could take one given out before.

use std::{
    ops::Range,
    sync::atomic::{AtomicUsize, Ordering},
};

/// Where the ports come from.
pub const FREE_PORT_RANGE: Range<u16> = 20_000..32_000;

/// The process-wide turn. It starts where the process id says, so that two processes seldom meet.
static NEXT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The next port of [`FREE_PORT_RANGE`] that can be bound now (ports in use are skipped); any free port when
/// none can.
pub fn free_port() -> u16 {
    let start = (u64::from(std::process::id()) * 7919 % FREE_PORT_RANGE.len() as u64) as usize;
    let _ = NEXT.compare_exchange(usize::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    free_port_from(&NEXT)
}

fn free_port_from(next: &AtomicUsize) -> u16 {
    let span = FREE_PORT_RANGE.len();
    let bindable = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    (0..span)
        .map(|_| FREE_PORT_RANGE.start + (next.fetch_add(1, Ordering::Relaxed) % span) as u16)
        .find(|port| bindable(*port))
        .unwrap_or_else(|| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
            listener.local_addr().expect("a bound listener's address").port()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_in_turn_from_below_the_ephemeral_range_skipping_ports_in_use() {
        let next = AtomicUsize::new(0);
        let first = free_port_from(&next);
        assert!(FREE_PORT_RANGE.contains(&first));
        // Hold the next one in turn: it is skipped.
        let held = std::net::TcpListener::bind(("127.0.0.1", first + 1));
        let second = free_port_from(&next);
        assert!(FREE_PORT_RANGE.contains(&second) && second > first);
        if held.is_ok() {
            assert!(second > first + 1, "{first} {second}");
        }
    }

    #[test]
    fn the_process_wide_turn_gives_each_port_once() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        assert!(ports.iter().all(|port| FREE_PORT_RANGE.contains(port)), "{ports:?}");
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }
}
