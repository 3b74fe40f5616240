//! Records the git commit hookd is built from, for `hookd version`: `HOOKD_GIT_COMMIT`
//! is the short hash, with `-modified` when the work tree had changes, or `unknown`
//! outside a git checkout (a crate downloaded from a registry) unless the build sets
//! `HOOKD_GIT_COMMIT` itself.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    // A build without the repository (a container build context) may say it itself.
    println!("cargo:rerun-if-env-changed=HOOKD_GIT_COMMIT");
    let given = std::env::var("HOOKD_GIT_COMMIT").ok().filter(|c| !c.is_empty());
    let commit = match (given, git(&["rev-parse", "--short=12", "HEAD"])) {
        (Some(commit), _) => commit,
        (None, Some(hash)) if !hash.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{hash}-modified")
            } else {
                hash
            }
        }
        _ => "unknown".to_owned(),
    };
    println!("cargo:rustc-env=HOOKD_GIT_COMMIT={commit}");
    // A new commit or a checkout changes HEAD or the ref it points to.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{r}");
        }
        println!("cargo:rerun-if-changed={dir}/index");
    }
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=HOOKD_BUILD_PROFILE={profile}");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=HOOKD_BUILD_TARGET={target}");
}
