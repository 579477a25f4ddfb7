//! `zonegate-agent`: parses the command line and hands over to [`zonegate_agent::cli`], which
//! maps every outcome to a documented exit code.
fn main() -> std::process::ExitCode {
    zonegate_agent::memory::single_arena();
    zonegate_agent::cli::main()
}
