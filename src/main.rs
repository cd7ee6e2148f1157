//! The `egresswatch` binary: everything lives in the library; this only hands over the exit code
//! so that errors map to 0 / 1 / 2 in one place (`cli::main`).

fn main() -> std::process::ExitCode {
    egresswatch::cli::main()
}
