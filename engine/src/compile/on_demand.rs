//! Parts of a compiled program that are built when a record first needs them.
//!
//! A rule set like SigmaHQ's carries literal automata and regexes for every log source it
//! knows, and a hunt usually reads a few of them: a Security log never asks for the
//! `CommandLine` automaton of the process-creation rules. Building every part up front was
//! a fifth of compile time and half of its memory (measured on SigmaHQ's Windows rules with
//! tansa's pack: ~30 ms and ~17 MB of automata, ~5 MB of regex programs), so each part is
//! kept as what it is built from and built once, by the first worker that needs it; the
//! others wait for that build and share it. What is built does not depend on which worker
//! got there first, so alerts are the same at any thread count.
//!
//! What can be checked cheaply is still checked at compile time (a regex's syntax). What
//! cannot (a regex program over the size limit) fails at its first use: the part then
//! matches nothing, and `Program::deferred_errors` reports it with the rules it broke.
//! `Program::build_all` builds every part at once, for `rules lint` and `--strict`.

use std::sync::OnceLock;

/// A value built from `spec` on first use.
#[derive(Debug)]
pub(crate) struct OnDemand<S, T> {
    spec: S,
    built: OnceLock<Result<T, String>>,
}

impl<S, T> OnDemand<S, T> {
    pub fn new(spec: S) -> OnDemand<S, T> {
        OnDemand {
            spec,
            built: OnceLock::new(),
        }
    }

    /// The built value, building it with `build` if no one has yet.
    #[inline]
    pub fn get(&self, build: impl FnOnce(&S) -> Result<T, String>) -> Result<&T, &str> {
        self.built
            .get_or_init(|| build(&self.spec))
            .as_ref()
            .map_err(String::as_str)
    }

    /// Why the build failed, if it was tried and failed.
    pub fn failure(&self) -> Option<&str> {
        match self.built.get() {
            Some(Err(message)) => Some(message),
            _ => None,
        }
    }

    pub fn spec(&self) -> &S {
        &self.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn builds_once_and_remembers_failures() {
        let builds = AtomicUsize::new(0);
        let part: OnDemand<u32, u32> = OnDemand::new(20);
        assert_eq!(part.failure(), None);
        for _ in 0..3 {
            let value = part.get(|spec| {
                builds.fetch_add(1, Ordering::Relaxed);
                Ok(spec + 1)
            });
            assert_eq!(value, Ok(&21));
        }
        assert_eq!(builds.load(Ordering::Relaxed), 1);

        let broken: OnDemand<u32, u32> = OnDemand::new(0);
        assert_eq!(broken.get(|_| Err("too large".into())), Err("too large"));
        assert_eq!(broken.get(|_| Ok(1)), Err("too large"), "not built twice");
        assert_eq!(broken.failure(), Some("too large"));
    }

    #[test]
    fn concurrent_first_uses_share_one_build() {
        let builds = AtomicUsize::new(0);
        let part: OnDemand<(), usize> = OnDemand::new(());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    let value = part.get(|_| Ok(builds.fetch_add(1, Ordering::SeqCst)));
                    assert_eq!(value, Ok(&0));
                });
            }
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }
}
