//! `agentid`: run the service, and drive every step of the checkout story from the shell.

#![forbid(unsafe_code)]

/// jemalloc rather than the C library's allocator: allocation is a large part of a request's
/// work (parsing, JSON, signatures' buffers), and glibc's malloc and free cost some 8% of a
/// spend authorization's CPU under load.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    agentid_server::cli::main()
}
