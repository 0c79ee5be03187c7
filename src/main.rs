//! Binary edge: parse the command line, run, map the outcome to an exit code.
//! Everything else lives in the library so tests drive the same code.

/// mimalloc rather than glibc's malloc: an import allocates and frees millions of small JSON
/// values, decoded on one thread and dropped on another, which glibc serves with arena locks and
/// `malloc_consolidate` (up to a sixth of a thread's CPU in profiles of the import).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tandem::cli::main()
}
