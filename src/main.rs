//! Binary edge: parse the command line, run, map the outcome to an exit code.
//! Everything else lives in the library so tests drive the same code.

fn main() -> std::process::ExitCode {
    tandem::cli::main()
}
