//! Per-execution resource caps and the limiter that enforces (and remembers) them.
//!
//! A refused `memory.grow` looks to the guest like a failed allocation and usually ends in the
//! same `unreachable` trap as a panic. The [`Limiter`] records every refusal so the classifier can
//! tell "out of memory" from "panicked" after the fact.

use std::time::Duration;
use wasmtime::ResourceLimiter;

/// Caps applied to every execution. Defaults are safe for untrusted code on a shared worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one execution, including time spent waiting in `cluster.gather`.
    pub timeout: Duration,
    /// Linear-memory cap in bytes, summed over the component's memories.
    pub memory_bytes: usize,
    /// Cap on the elements of any one table (function-pointer tables grow with code size).
    pub table_elements: usize,
    /// Maximum wasm stack in bytes; deeper recursion traps as a stack overflow.
    pub max_stack_bytes: usize,
    /// Bytes of stdout (and, separately, stderr) kept; writing more fails the task.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60),
            memory_bytes: 1 << 30,
            table_elements: 1 << 20,
            max_stack_bytes: 1 << 20,
            output_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// What one guest→host call may make the host allocate (wasmtime's "hostcall fuel", counted
    /// in the host's value form: about 32 bytes per list element). The guest's memory cap already
    /// bounds what it can hand over; wasmtime's default of 128 MiB would refuse a result of 4M
    /// list elements that fits the cap easily. Twice the memory cap (never below that default)
    /// lets one value hold a sixteenth of the cap as `list<u8>` (64 MiB by default) or half of it
    /// as `list<f64>`.
    pub(crate) fn hostcall_fuel(&self) -> usize {
        self.memory_bytes.saturating_mul(2).max(128 << 20)
    }
}

/// Enforces [`Limits`] on one store and records what it refused.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_cap: usize,
    table_cap: usize,
    /// Bytes of linear memory currently granted, over all memories of the store.
    memory_in_use: usize,
    /// The largest total the guest asked for and was refused, if any.
    pub(crate) memory_refused: Option<usize>,
    pub(crate) table_refused: Option<usize>,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Limiter {
            memory_cap: limits.memory_bytes,
            table_cap: limits.table_elements,
            memory_in_use: 0,
            memory_refused: None,
            table_refused: None,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_in_use - current.min(self.memory_in_use) + desired;
        if total > self.memory_cap || maximum.is_some_and(|max| desired > max) {
            self.memory_refused = Some(self.memory_refused.unwrap_or(0).max(total));
            return Ok(false);
        }
        self.memory_in_use = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_cap || maximum.is_some_and(|max| desired > max) {
            self.table_refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        // Components instantiate several core instances (shims, adapters, libc, ...).
        1000
    }

    fn memories(&self) -> usize {
        100
    }

    fn tables(&self) -> usize {
        1000
    }
}
