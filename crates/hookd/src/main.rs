//! The `hookd` binary.

fn main() -> std::process::ExitCode {
    hookd::cli::main()
}
