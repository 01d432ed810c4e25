#![forbid(unsafe_code)]
fn main() -> std::process::ExitCode {
    lambdatel::main_with(lambdatel::Registry::builtin())
}
