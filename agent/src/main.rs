//! zonegate-agent: placeholder entry point until the agent issue lands.
fn main() {
    eprintln!("zonegate-agent: not built yet");
    std::process::exit(1);
}
