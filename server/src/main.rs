//! `agentid`: run the service, and drive every step of the checkout story from the shell.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    agentid_server::cli::main()
}
