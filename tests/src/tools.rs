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

/// A free TCP port on loopback (the listener is closed again: the caller binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process, killed and waited for on drop, and a directory of its removed after it.
#[derive(Debug)]
pub struct Process {
    child: std::process::Child,
    dir: Option<PathBuf>,
}

impl Process {
    /// Own `child` (and `dir`, removed when it ends).
    pub fn new(child: std::process::Child, dir: Option<PathBuf>) -> Self {
        Process { child, dir }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its directory, if it has one.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_deref()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
