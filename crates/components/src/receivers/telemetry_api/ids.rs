//! The generator of the trace, span and instance ids the converter makes up.
//!
//! One generator per thread (the extension converts on its single runtime thread), seeded from OS entropy.
//! A SnapStart restore resumes every copy of a snapshot from the same memory, generator state included, so
//! copies would make the same ids: the converter reseeds on `platform.restoreStart` ([`reseed_from_os`]).
//! [`seed`] fixes the sequence, which models that shared snapshot in tests.

use std::cell::RefCell;

thread_local! {
    static GENERATOR: RefCell<Option<fastrand::Rng>> = const { RefCell::new(None) };
}

fn with_rng<T>(f: impl FnOnce(&mut fastrand::Rng) -> T) -> T {
    GENERATOR.with(|slot| f(slot.borrow_mut().get_or_insert_with(|| fastrand::Rng::with_seed(os_seed()))))
}

/// 64 bits from the operating system; a time-and-thread seed only if the OS cannot give any.
fn os_seed() -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => fastrand::Rng::new().u64(..),
    }
}

/// Fixes this thread's sequence (tests: two sandboxes restored from one snapshot).
pub fn seed(seed: u64) {
    GENERATOR.with(|slot| *slot.borrow_mut() = Some(fastrand::Rng::with_seed(seed)));
}

/// Gives the generator fresh OS entropy, so this sandbox's ids part from its snapshot siblings'.
pub fn reseed_from_os() {
    seed(os_seed());
}

/// A random non-zero trace id.
pub(crate) fn trace_id() -> [u8; 16] {
    with_rng(|rng| rng.u128(1..)).to_be_bytes()
}

/// A random non-zero span id.
pub(crate) fn span_id() -> [u8; 8] {
    with_rng(|rng| rng.u64(1..)).to_be_bytes()
}

/// A random UUID v4, the fallback `service.instance.id`.
pub(crate) fn uuid_v4() -> String {
    let mut b = with_rng(|rng| rng.u128(..)).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_repeats_the_sequence_and_a_reseed_leaves_it() {
        seed(42);
        let first = (trace_id(), span_id(), uuid_v4());
        seed(42);
        assert_eq!((trace_id(), span_id(), uuid_v4()), first);
        seed(42);
        reseed_from_os();
        assert_ne!(trace_id(), first.0);
    }

    #[test]
    fn uuids_are_version_4() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, uuid_v4());
    }
}
