use std::process::ExitCode;

fn main() -> ExitCode {
    smartflow::cli::main()
}
