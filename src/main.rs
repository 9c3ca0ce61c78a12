//! The `ringscan` binary: everything is in the library's `cli` module.

use mimalloc::MiMalloc;

/// mimalloc: fast, thread-caching, and returns memory to the OS after a reload.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> std::process::ExitCode {
    ringscan::cli::main()
}
