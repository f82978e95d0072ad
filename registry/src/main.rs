//! `agentid`: run the service, and drive every step of the checkout story from the shell.

#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
