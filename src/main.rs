//! The `switchboard` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: less time in malloc/free on the request paths than glibc's allocator; counted
/// per thread so the jq sandbox can bound an evaluation's memory.
#[global_allocator]
static ALLOCATOR: switchboard::transform::alloc::Counting<mimalloc::MiMalloc> =
    switchboard::transform::alloc::Counting(mimalloc::MiMalloc);

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // One TLS crypto provider for every client (kube, reqwest): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    cli::init_tracing(args.log_format);
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", switchboard::error_chain::chain(&e));
            ExitCode::FAILURE
        }
    }
}
