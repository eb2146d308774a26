//! Every command in the README still works: the demo block runs as written against a real
//! `vcctl up`, every `cargo run` line names a package, binary and flags that exist, and the
//! manifests and files it mentions are there. Commands of tools that are not on this machine
//! (sonobuoy, e2e.test, docker) are listed explicitly and reported as not run.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const VCCTL: &str = env!("CARGO_BIN_EXE_vcctl");

/// Tools the README mentions for real clusters that are not installed where tests run.
const EXTERNAL: &[&str] = &["sonobuoy", "e2e.test", "docker"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `(preceding marker, lines)` of every ```sh block, continuation lines joined and comments
/// stripped.
fn sh_blocks() -> Vec<(Option<String>, Vec<String>)> {
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut marker = None;
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        if let Some(lines) = current.as_mut() {
            if line.trim_start().starts_with("```") {
                out.push((marker.take(), current.take().unwrap_or_default()));
                continue;
            }
            let code = line.split(" #").next().unwrap_or("").trim();
            if !code.is_empty() && !code.starts_with('#') {
                lines.push(code.to_string());
            }
        } else if line.trim() == "```sh" {
            current = Some(Vec::new());
        } else if let Some(m) = line.trim().strip_prefix("<!-- readme-test: ") {
            marker = Some(m.trim_end_matches("-->").trim().to_string());
        } else if !line.trim().is_empty() {
            marker = None;
        }
    }
    out
}

fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, ' ') => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A workspace binary built next to this test (target/<profile>/), if it was built.
fn built_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let p = profile_dir.join(name);
    p.exists().then_some(p)
}

/// The `--help` text of `bin` (subcommand `sub` when given), running the built binary or,
/// when the test run did not build it, `cargo run`.
fn help(package: &str, bin: &str, features: &[String], sub: Option<&str>) -> String {
    let mut args: Vec<String> = sub.map(|s| vec![s.to_string()]).unwrap_or_default();
    args.push("--help".into());
    let out = match built_binary(bin).filter(|_| features.is_empty()) {
        Some(path) => Command::new(path).args(&args).output().unwrap(),
        None => {
            let mut c = Command::new(env!("CARGO"));
            c.current_dir(repo())
                .args(["run", "-q", "-p", package, "--bin", bin]);
            for f in features {
                c.args(["--features", f]);
            }
            c.arg("--").args(&args).output().unwrap()
        }
    };
    assert!(
        out.status.success(),
        "{package}/{bin} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The binaries a package declares (its name when it declares none).
fn package_bins(package: &str) -> (PathBuf, Vec<String>, Option<String>) {
    let dir = match package {
        "e2e" => repo().join("test"),
        p => repo().join(p),
    };
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
        .unwrap_or_else(|e| panic!("package {package}: {e}"));
    let mut bins = Vec::new();
    let mut in_bin = false;
    let mut default_run = None;
    for line in manifest.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_bin = l == "[[bin]]";
        } else if let Some(v) = l.strip_prefix("name = ").filter(|_| in_bin) {
            bins.push(v.trim_matches('"').to_string());
        } else if let Some(v) = l.strip_prefix("default-run = ") {
            default_run = Some(v.trim_matches('"').to_string());
        }
    }
    if dir.join("src/main.rs").exists() && !bins.iter().any(|b| b == package) {
        bins.push(package.to_string());
    }
    // Binaries cargo discovers in src/bin/.
    for entry in std::fs::read_dir(dir.join("src/bin"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = entry.path();
        let name = match p.extension().and_then(|e| e.to_str()) {
            Some("rs") => p.file_stem().and_then(|s| s.to_str()).map(str::to_string),
            None if p.join("main.rs").exists() => {
                p.file_name().and_then(|s| s.to_str()).map(str::to_string)
            }
            _ => None,
        };
        if let Some(n) = name
            && !bins.contains(&n)
        {
            bins.push(n);
        }
    }
    (dir, bins, default_run)
}

/// Checks a `cargo run ... -p PKG [--bin BIN] [--features F] -- ARGS` line.
fn check_cargo_run(line: &str) {
    let w = words(line);
    let sep = w.iter().position(|x| x == "--").unwrap_or(w.len());
    let (cargo, args) = (&w[..sep], &w[(sep + 1).min(w.len())..]);
    let flag = |f: &str| {
        cargo
            .iter()
            .position(|x| x == f)
            .and_then(|i| cargo.get(i + 1))
            .cloned()
    };
    let package = flag("-p").unwrap_or_else(|| panic!("{line}: no -p"));
    let features: Vec<String> = flag("--features").into_iter().collect();
    let (_, bins, default_run) = package_bins(&package);
    let bin = flag("--bin")
        .or(default_run)
        .or_else(|| (bins.len() == 1).then(|| bins[0].clone()));
    let bin =
        bin.unwrap_or_else(|| panic!("{line}: cargo cannot pick a binary of {package} ({bins:?})"));
    assert!(
        bins.contains(&bin),
        "{line}: {package} has no binary {bin} ({bins:?})"
    );
    if args.is_empty() {
        // Nothing to check beyond the binary (and `--help` may not be an option, e.g. crdgen).
        return;
    }
    let sub = args
        .first()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str);
    let text = help(&package, &bin, &features, sub);
    for a in args.iter().filter(|a| a.starts_with("--")) {
        let name = a.split('=').next().unwrap_or(a);
        assert!(
            text.contains(name),
            "{line}: {bin} {} has no flag {name}",
            sub.unwrap_or("")
        );
    }
    if let Some(s) = sub {
        let top = help(&package, &bin, &features, None);
        assert!(top.contains(s), "{line}: {bin} has no subcommand {s}");
    }
}

/// Checks a line that is not `cargo run` and not part of the demo.
fn check_other(line: &str, ran: &mut BTreeMap<String, &'static str>) {
    // Leading environment assignments (`SIGS=cli test/conformance.sh`) are not the tool.
    let w: Vec<String> = words(line)
        .into_iter()
        .skip_while(|w| {
            w.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
        })
        .collect();
    let tool = w[0].as_str();
    if EXTERNAL.contains(&tool) {
        ran.insert(line.to_string(), "not run: tool not installed here");
        return;
    }
    match tool {
        "cargo" if w.get(1).map(String::as_str) == Some("test") => {
            ran.insert(line.to_string(), "checked: the test command itself");
        }
        "cargo" => check_cargo_run(line),
        ".ci/run" => {
            let meta = std::fs::metadata(repo().join(".ci/run")).unwrap();
            assert!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0);
            ran.insert(line.to_string(), "checked: executable (CI runs it)");
        }
        "test/conformance.sh" => {
            // Needs ../shared/upstream-k8s and runs for an hour: checked, not run.
            let meta = std::fs::metadata(repo().join(tool)).unwrap();
            assert!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0);
            for mode in w.iter().skip(1) {
                assert!(
                    ["embedded", "upstream"].contains(&mode.as_str()),
                    "{line}: unknown mode {mode}"
                );
            }
            ran.insert(line.to_string(), "checked: executable (long upstream run)");
        }
        "kubectl" => {
            // Manifest commands: what they read must exist and render.
            let target = w
                .iter()
                .skip_while(|x| *x != "-k" && *x != "-f")
                .nth(1)
                .cloned();
            let kustomize = w.contains(&"kustomize".to_string());
            let path = if kustomize { w.get(2).cloned() } else { target };
            let path = path.unwrap_or_else(|| panic!("{line}: no file or directory"));
            assert!(repo().join(&path).exists(), "{line}: {path} does not exist");
            if kustomize || w.contains(&"-k".to_string()) {
                let out = Command::new("kubectl")
                    .args(["kustomize"])
                    .arg(repo().join(&path))
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{line}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            ran.insert(line.to_string(), "checked: manifests exist and render");
        }
        other => panic!("README command `{line}` is not covered by the README test ({other})"),
    }
}

/// Starts `vcctl up` in `dir` on a free port; returns the child once it reports ready.
fn start_up(dir: &Path) -> std::process::Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(VCCTL)
        .args(["up", "--dir"])
        .arg(dir)
        .args(["--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if l.starts_with("virtualcluster ready in ") => return child,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("vcctl up did not become ready");
            }
        }
    }
}

/// Runs the demo block as written: `.vc/` is the state directory of a real `vcctl up`.
fn run_demo(lines: &[String], ran: &mut BTreeMap<String, &'static str>) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let state = work.join(".vc");
    let mut child = start_up(&state);
    let mut env_kubeconfig: Option<String> = None;
    for line in lines {
        if let Some(rest) = line.strip_prefix("export KUBECONFIG=") {
            env_kubeconfig = Some(rest.to_string());
            ran.insert(line.clone(), "ran");
            continue;
        }
        let mut c = Command::new("sh");
        c.arg("-c").arg(line).current_dir(work).env("HOME", work);
        if let Some(k) = &env_kubeconfig {
            c.env("KUBECONFIG", work.join(k));
        }
        let out = c.output().unwrap();
        if !out.status.success() {
            let _ = child.kill();
            panic!(
                "README demo command `{line}` failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ran.insert(line.clone(), "ran");
    }
    // SIGTERM: the same clean shutdown Ctrl-C gives.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn every_readme_command_works() {
    let mut ran: BTreeMap<String, &'static str> = BTreeMap::new();
    let blocks = sh_blocks();
    assert!(
        blocks.iter().any(|(m, _)| m.as_deref() == Some("demo")),
        "README has a demo block"
    );
    for (marker, lines) in &blocks {
        if marker.as_deref() == Some("demo") {
            run_demo(lines, &mut ran);
            continue;
        }
        for line in lines {
            check_other(line, &mut ran);
            ran.entry(line.clone())
                .or_insert("checked: package, binary and flags exist");
        }
    }
    for (line, how) in &ran {
        println!("{how:<45} {line}");
    }
}
