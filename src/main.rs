//! The `ringpost` binary; everything it does is in [`ringpost::cli`].

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ringpost::cli::run()
}
