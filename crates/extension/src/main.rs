#![forbid(unsafe_code)]

/// The static (musl) layer binary allocates with dlmalloc: musl's allocator made a chatty function's
/// invocations cost about 1.6 times the CPU of the glibc build's (README, "Performance").
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> std::process::ExitCode {
    lambdatel::main_with(lambdatel::Registry::builtin())
}
