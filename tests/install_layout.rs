//! Installing like a real service (issue 15, "Install like a real service"): the files
//! `cargo deb` would install, staged from `[package.metadata.deb]` assets in `Cargo.toml`
//! (cargo-deb itself is not needed), form a layout the README's systemd walk-through works
//! with: the unit's ExecStart is the packaged binary and passes `systemd-analyze verify` there,
//! `/etc/tandem` holds a README and no secret, every credential the examples name is in the
//! unit, commented out. Also: the release profile ships no debug info, and completions, the man
//! page and the documented defaults come out of the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

/// `(source, destination, mode)` of every asset, read from the `assets = [...]` array of
/// `[package.metadata.deb]` (one `["src", "dest", "mode"]` per line, as written there).
fn deb_assets() -> Vec<(String, String, String)> {
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let section = cargo
        .split("[package.metadata.deb]")
        .nth(1)
        .expect("Cargo.toml has [package.metadata.deb]");
    let assets = section
        .split("assets = [")
        .nth(1)
        .expect("deb metadata lists assets");
    assets
        .lines()
        .map(str::trim)
        .take_while(|l| *l != "]")
        .filter(|l| l.starts_with('['))
        .map(|l| {
            let parts: Vec<String> = l
                .trim_start_matches('[')
                .trim_end_matches(',')
                .trim_end_matches(']')
                .split(',')
                .map(|p| p.trim().trim_matches('"').to_owned())
                .collect();
            assert_eq!(parts.len(), 3, "asset line {l}");
            (parts[0].clone(), parts[1].clone(), parts[2].clone())
        })
        .collect()
}

/// Copies every asset under `stage` as the package would install it; the binary is the one
/// under test (its release build is what `target/release/tandem` names).
fn stage(stage: &Path) {
    for (src, dest, mode) in deb_assets() {
        let sources: Vec<PathBuf> = if src == "target/release/tandem" {
            vec![PathBuf::from(bin())]
        } else if let Some(dir) = src.strip_suffix("/*") {
            let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
                .expect("asset dir")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            files
        } else {
            vec![root().join(&src)]
        };
        for source in sources {
            assert!(source.exists(), "asset {} is missing", source.display());
            let target = if dest.ends_with('/') {
                let name = if src == "target/release/tandem" {
                    "tandem".into()
                } else {
                    source.file_name().expect("file name").to_owned()
                };
                stage.join(&dest).join(name)
            } else {
                stage.join(&dest)
            };
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::copy(&source, &target).expect("copy asset");
            use std::os::unix::fs::PermissionsExt as _;
            let mode = u32::from_str_radix(&mode, 8).expect("octal mode");
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .expect("chmod");
        }
    }
}

#[test]
fn the_packaged_layout_is_what_the_systemd_walk_through_needs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let staged = tmp.path();
    stage(staged);

    let unit_path = staged.join("lib/systemd/system/tandem.service");
    let unit = std::fs::read_to_string(&unit_path).expect("the unit is packaged");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let program = exec.split_whitespace().next().expect("program");
    let installed = staged.join(program.trim_start_matches('/'));
    assert!(
        installed.is_file(),
        "ExecStart runs {program}, which the package does not install"
    );

    // /etc/tandem: a README, nothing the daemon would read, no secret.
    let etc: Vec<String> = std::fs::read_dir(staged.join("etc/tandem"))
        .expect("/etc/tandem is packaged")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(etc, vec!["README.md".to_owned()], "{etc:?}");
    let readme = std::fs::read_to_string(staged.join("etc/tandem/README.md")).expect("README");
    assert!(readme.contains("/etc/credstore"), "{readme}");

    // Every secret the examples name is in the unit, commented out; nothing is active.
    let active: Vec<&str> = unit
        .lines()
        .filter(|l| l.starts_with("LoadCredential") || l.starts_with("EnvironmentFile"))
        .collect();
    assert!(
        active.is_empty(),
        "active credentials in the unit: {active:?}"
    );
    let examples = staged.join("usr/share/doc/tandem/examples");
    for entry in std::fs::read_dir(&examples).expect("examples packaged") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        for (marker, needle) in [
            ("{file: ", "#LoadCredential="),
            ("{env: ", "#EnvironmentFile="),
        ] {
            for part in text.split(marker).skip(1) {
                let name = part.split('}').next().expect("reference").trim();
                let named = unit
                    .lines()
                    .filter(|l| l.starts_with(needle) || l.starts_with('#'))
                    .any(|l| l.contains(name));
                assert!(
                    named,
                    "the unit does not mention the examples' secret {name}"
                );
            }
        }
    }

    // The packaged examples validate.
    let out = Command::new(bin())
        .arg("validate")
        .arg(&examples)
        .output()
        .expect("tandem validate");
    assert!(out.status.success(), "{out:?}");

    // systemd-analyze verify on the staged unit, its ExecStart pointing into the layout.
    let Some(tool) = systemd_analyze() else {
        return;
    };
    let verify_dir = tmp.path().join("verify");
    std::fs::create_dir_all(&verify_dir).expect("mkdir");
    let copy = verify_dir.join("tandem.service");
    std::fs::write(
        &copy,
        unit.replace(
            &format!("ExecStart={program}"),
            &format!("ExecStart={}", installed.display()),
        ),
    )
    .expect("write unit");
    let out = Command::new(tool)
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed:\n{stderr}");
    assert!(
        !stderr.lines().any(|l| l.contains("tandem.service")),
        "verify complained:\n{stderr}"
    );
}

/// `systemd-analyze`, or `None` after a loud skip (a failure under `CI=true`).
fn systemd_analyze() -> Option<&'static str> {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("systemd-analyze");
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("systemd-analyze not found; install the `systemd` package in CI");
    }
    eprintln!("SKIPPED: systemd-analyze verify of the packaged layout (apt-get install systemd)");
    None
}

#[test]
fn the_release_profile_ships_no_debug_info_and_benches_keep_theirs() {
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let profile = |name: &str| -> String {
        cargo
            .split(&format!("[profile.{name}]"))
            .nth(1)
            .unwrap_or_else(|| panic!("no [profile.{name}]"))
            .split("\n[")
            .next()
            .unwrap_or("")
            .to_owned()
    };
    let release = profile("release");
    assert!(release.contains("debug = false"), "{release}");
    assert!(release.contains("strip = \"debuginfo\""), "{release}");
    let bench = profile("bench");
    assert!(bench.contains("debug = 1"), "{bench}");
}

#[test]
fn completions_man_page_and_documented_defaults() {
    let run = |args: &[&str]| {
        let out = Command::new(bin())
            .args(args)
            .output()
            .expect("tandem runs");
        assert!(out.status.success(), "tandem {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        assert!(
            script.contains("tandem") && script.contains("manifests-mode"),
            "{shell}: {script}"
        );
    }
    let man = run(&["man"]);
    assert!(man.contains(".TH tandem 1"), "{man}");
    let dir = tempfile::tempdir().expect("tempdir");
    run(&["man", "--out", dir.path().to_str().expect("utf8")]);
    for page in [
        "tandem.1",
        "tandem-run.1",
        "tandem-plan.1",
        "tandem-status.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
    let help = run(&["run", "--help"]);
    assert!(
        help.contains("./manifests") && help.contains("./state"),
        "{help}"
    );
}
