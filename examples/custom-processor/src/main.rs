//! The `lambdatel-tenant` extension: lambdatel with the `tenant` processor added.

use lambdatel_custom_processor_example::TenantProcessor;

fn main() -> std::process::ExitCode {
    lambdatel::main_with(lambdatel::Registry::builtin().with_processor::<TenantProcessor>())
}
