//! The `hearth` command: parses the command line and dispatches to `hearth::cmd`.
fn main() {}
