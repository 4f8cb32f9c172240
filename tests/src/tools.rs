//! External tools the tests run for real (Debian packages), found on `PATH`. One rule for all
//! of them: a missing tool **fails** the test that needs it, with the package to install
//! (`scripts/test.sh` installs them as root); no test skips, under CI or not.

use std::path::PathBuf;

/// The path of `tool`, or a panic naming the Debian package that has it.
pub fn require(tool: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(tool))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "{tool} not found: install the Debian package {package} (./scripts/test.sh does, as root)"
            )
        })
}
