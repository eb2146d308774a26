//! The mock container's command set: `echo`, `hostname`, `env`/`printenv`, `cat` (files from the
//! pod's ConfigMap/Secret/projected volumes, or stdin), `ls`, `sleep`, `true`, `false`, `exit`,
//! `pwd`, and `sh -c` (also `bash`/`ash`) with `;`, `&&`, `||`, `|`, quotes and `$VAR`. Nothing
//! ever runs on the host.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The container's view of the world.
#[derive(Debug, Clone, Default)]
pub struct ShellEnv {
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Files by absolute path (from volume mounts).
    pub files: BTreeMap<String, Vec<u8>>,
    /// `hostname` output.
    pub hostname: String,
}

/// Where a command reads its input from.
pub enum Input<'a> {
    /// Nothing (reads see EOF).
    Empty,
    /// The session's stdin.
    Stream(&'a mut (dyn AsyncRead + Send + Unpin + 'static)),
    /// Output of the previous command of a pipeline.
    Bytes(Vec<u8>),
}

type Out<'a> = &'a mut (dyn AsyncWrite + Send + Unpin + 'static);

/// Exit code for a command that does not exist.
pub const NOT_FOUND: i32 = 127;

/// Runs an argv (as `exec` receives it).
pub fn run<'a>(
    argv: &'a [String],
    env: &'a ShellEnv,
    input: Input<'a>,
    out: Out<'a>,
    err: Out<'a>,
) -> BoxFuture<'a, i32> {
    async move {
        let Some(cmd) = argv.first() else {
            return 0;
        };
        let name = cmd.rsplit('/').next().unwrap_or(cmd);
        let args = &argv[1..];
        match name {
            "echo" => {
                let (newline, words) = match args.first().map(String::as_str) {
                    Some("-n") => (false, &args[1..]),
                    _ => (true, args),
                };
                let mut line = words.join(" ");
                if newline {
                    line.push('\n');
                }
                write(out, line.as_bytes()).await
            }
            "hostname" => write(out, format!("{}\n", env.hostname).as_bytes()).await,
            "env" | "printenv" if args.is_empty() => {
                let text: String = env
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}\n"))
                    .collect();
                write(out, text.as_bytes()).await
            }
            "printenv" => {
                let mut code = 0;
                for a in args {
                    match env.env.get(a) {
                        Some(v) => {
                            write(out, format!("{v}\n").as_bytes()).await;
                        }
                        None => code = 1,
                    }
                }
                code
            }
            "cat" => cat(args, env, input, out, err).await,
            "ls" => ls(args, env, out, err).await,
            "pwd" => write(out, b"/\n").await,
            "true" => 0,
            "false" => 1,
            "exit" => args.first().and_then(|a| a.parse().ok()).unwrap_or(0),
            "sleep" => match args.first().map(|a| parse_sleep(a)) {
                Some(Some(d)) => {
                    tokio::time::sleep(d).await;
                    0
                }
                _ => {
                    let _ = err.write_all(b"sleep: invalid time interval\n").await;
                    1
                }
            },
            "sh" | "bash" | "ash" => match (args.first().map(String::as_str), args.get(1)) {
                (Some("-c"), Some(script)) => match parse(script, &env.env) {
                    Ok(list) => run_list(&list, env, input, out, err).await,
                    Err(e) => {
                        let _ = err.write_all(format!("{name}: {e}\n").as_bytes()).await;
                        2
                    }
                },
                _ => {
                    // An interactive shell: run each stdin line as a script.
                    interactive(env, input, out, err).await
                }
            },
            other => {
                let msg = format!(
                    "exec: \"{other}\": executable file not found in $PATH (nodesim runs only built-in commands)\n"
                );
                let _ = err.write_all(msg.as_bytes()).await;
                NOT_FOUND
            }
        }
    }
    .boxed()
}

async fn write(out: Out<'_>, bytes: &[u8]) -> i32 {
    match out.write_all(bytes).await {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn parse_sleep(arg: &str) -> Option<Duration> {
    if arg == "infinity" {
        return Some(Duration::from_secs(u64::from(u32::MAX)));
    }
    let (num, mult) = match arg.chars().last()? {
        's' => (&arg[..arg.len() - 1], 1.0),
        'm' => (&arg[..arg.len() - 1], 60.0),
        'h' => (&arg[..arg.len() - 1], 3600.0),
        'd' => (&arg[..arg.len() - 1], 86400.0),
        _ => (arg, 1.0),
    };
    let secs: f64 = num.parse().ok()?;
    (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs * mult))
}

async fn cat(args: &[String], env: &ShellEnv, input: Input<'_>, out: Out<'_>, err: Out<'_>) -> i32 {
    if args.is_empty() || args == ["-"] {
        return match input {
            Input::Empty => 0,
            Input::Bytes(b) => write(out, &b).await,
            Input::Stream(r) => {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match r.read(&mut buf).await {
                        Ok(0) | Err(_) => return 0,
                        Ok(n) => {
                            if out.write_all(&buf[..n]).await.is_err() || out.flush().await.is_err()
                            {
                                return 1;
                            }
                        }
                    }
                }
            }
        };
    }
    let mut code = 0;
    for path in args {
        match env.files.get(path.as_str()) {
            Some(content) => {
                write(out, content).await;
            }
            None => {
                let is_dir = env
                    .files
                    .keys()
                    .any(|k| k.starts_with(&format!("{}/", path.trim_end_matches('/'))));
                let msg = if is_dir {
                    format!("cat: {path}: Is a directory\n")
                } else {
                    format!("cat: {path}: No such file or directory\n")
                };
                let _ = err.write_all(msg.as_bytes()).await;
                code = 1;
            }
        }
    }
    code
}

async fn ls(args: &[String], env: &ShellEnv, out: Out<'_>, err: Out<'_>) -> i32 {
    let dir = args
        .first()
        .map_or("/", String::as_str)
        .trim_end_matches('/');
    let prefix = format!("{dir}/");
    let mut names: Vec<&str> = env
        .files
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix))
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .collect();
    names.dedup();
    if names.is_empty() {
        if env.files.contains_key(dir) {
            return write(out, format!("{dir}\n").as_bytes()).await;
        }
        let _ = err
            .write_all(format!("ls: cannot access '{dir}': No such file or directory\n").as_bytes())
            .await;
        return 2;
    }
    let text: String = names.iter().map(|n| format!("{n}\n")).collect();
    write(out, text.as_bytes()).await
}

async fn interactive(env: &ShellEnv, input: Input<'_>, out: Out<'_>, err: Out<'_>) -> i32 {
    let mut pending = Vec::new();
    let mut code = 0;
    let mut feed = |bytes: &[u8]| pending.extend_from_slice(bytes);
    match input {
        Input::Empty => return 0,
        Input::Bytes(b) => feed(&b),
        Input::Stream(r) => {
            let mut buf = vec![0u8; 4096];
            loop {
                let n = match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=pos).collect();
                    let line = String::from_utf8_lossy(&line).to_string();
                    match parse(&line, &env.env) {
                        Ok(list)
                            if list.iter().any(|(p, _)| {
                                p.iter().any(|c| c.first().is_some_and(|w| w == "exit"))
                            }) =>
                        {
                            return run_list(&list, env, Input::Empty, out, err).await;
                        }
                        Ok(list) => code = run_list(&list, env, Input::Empty, out, err).await,
                        Err(e) => {
                            let _ = err.write_all(format!("sh: {e}\n").as_bytes()).await;
                            code = 2;
                        }
                    }
                }
            }
            return code;
        }
    }
    let script = String::from_utf8_lossy(&pending).to_string();
    match parse(&script, &env.env) {
        Ok(list) => run_list(&list, env, Input::Empty, out, err).await,
        Err(_) => 2,
    }
}

/// A pipeline: commands (argv) connected by `|`.
pub type Pipeline = Vec<Vec<String>>;

/// Connective before a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sep {
    /// First, or after `;`.
    Always,
    /// After `&&`.
    And,
    /// After `||`.
    Or,
}

/// A parsed script: pipelines with the separator before each.
pub type List = Vec<(Pipeline, Sep)>;

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Op(&'static str),
}

/// Parses a script (quotes, `$VAR`/`${VAR}` expansion, `;`, `&&`, `||`, `|`, newlines).
pub fn parse(script: &str, vars: &BTreeMap<String, String>) -> Result<List, String> {
    let toks = tokenize(script, vars)?;
    let mut list: List = Vec::new();
    let mut pipeline: Pipeline = Vec::new();
    let mut cmd: Vec<String> = Vec::new();
    let mut sep = Sep::Always;
    for t in toks {
        match t {
            Tok::Word(w) => cmd.push(w),
            Tok::Op("|") => {
                if cmd.is_empty() {
                    return Err("syntax error near unexpected token `|'".into());
                }
                pipeline.push(std::mem::take(&mut cmd));
            }
            Tok::Op(op) => {
                if !cmd.is_empty() {
                    pipeline.push(std::mem::take(&mut cmd));
                }
                if pipeline.is_empty() {
                    if op == ";" {
                        continue;
                    }
                    return Err(format!("syntax error near unexpected token `{op}'"));
                }
                list.push((std::mem::take(&mut pipeline), sep));
                sep = match op {
                    "&&" => Sep::And,
                    "||" => Sep::Or,
                    _ => Sep::Always,
                };
            }
        }
    }
    if !cmd.is_empty() {
        pipeline.push(cmd);
    }
    if !pipeline.is_empty() {
        list.push((pipeline, sep));
    } else if sep != Sep::Always {
        return Err("syntax error: unexpected end of file".into());
    }
    Ok(list)
}

fn tokenize(s: &str, vars: &BTreeMap<String, String>) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let flush = |word: &mut String, in_word: &mut bool, toks: &mut Vec<Tok>| {
        if *in_word {
            toks.push(Tok::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => flush(&mut word, &mut in_word, &mut toks),
            '\n' | ';' => {
                flush(&mut word, &mut in_word, &mut toks);
                toks.push(Tok::Op(";"));
            }
            '&' if chars.get(i + 1) == Some(&'&') => {
                flush(&mut word, &mut in_word, &mut toks);
                toks.push(Tok::Op("&&"));
                i += 1;
            }
            '|' if chars.get(i + 1) == Some(&'|') => {
                flush(&mut word, &mut in_word, &mut toks);
                toks.push(Tok::Op("||"));
                i += 1;
            }
            '|' => {
                flush(&mut word, &mut in_word, &mut toks);
                toks.push(Tok::Op("|"));
            }
            '&' | '<' | '>' | '(' | ')' | '`' => {
                return Err(format!("`{c}' is not supported by the nodesim shell"));
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    word.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("unterminated quoted string".into());
                }
            }
            '"' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && matches!(chars.get(i + 1), Some('"' | '\\' | '$')) {
                        word.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    if chars[i] == '$' {
                        i = expand(&chars, i, vars, &mut word);
                        continue;
                    }
                    word.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("unterminated quoted string".into());
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.get(i + 1) {
                    word.push(*n);
                    i += 1;
                }
            }
            '$' => {
                in_word = true;
                i = expand(&chars, i, vars, &mut word);
                continue;
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
        i += 1;
    }
    flush(&mut word, &mut in_word, &mut toks);
    Ok(toks)
}

/// Expands `$NAME` or `${NAME}` at `chars[i] == '$'`; returns the index after it.
fn expand(chars: &[char], i: usize, vars: &BTreeMap<String, String>, word: &mut String) -> usize {
    let mut j = i + 1;
    let braced = chars.get(j) == Some(&'{');
    if braced {
        j += 1;
    }
    let start = j;
    while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    let name: String = chars[start..j].iter().collect();
    if name.is_empty() && !braced {
        word.push('$');
        return i + 1;
    }
    if braced && chars.get(j) == Some(&'}') {
        j += 1;
    }
    if let Some(v) = vars.get(&name) {
        word.push_str(v);
    }
    j
}

/// Runs a parsed list.
pub fn run_list<'a>(
    list: &'a List,
    env: &'a ShellEnv,
    mut input: Input<'a>,
    out: Out<'a>,
    err: Out<'a>,
) -> BoxFuture<'a, i32> {
    async move {
        let mut code = 0;
        for (pipeline, sep) in list {
            let skip = match sep {
                Sep::Always => false,
                Sep::And => code != 0,
                Sep::Or => code == 0,
            };
            if skip {
                continue;
            }
            let this_input = std::mem::replace(&mut input, Input::Empty);
            code = run_pipeline(pipeline, env, this_input, out, err).await;
            if pipeline
                .last()
                .and_then(|c| c.first())
                .is_some_and(|c| c == "exit")
            {
                return code;
            }
        }
        code
    }
    .boxed()
}

async fn run_pipeline<'a>(
    pipeline: &'a Pipeline,
    env: &'a ShellEnv,
    input: Input<'a>,
    out: Out<'a>,
    err: Out<'a>,
) -> i32 {
    let Some((last, rest)) = pipeline.split_last() else {
        return 0;
    };
    let Some((first, middle)) = rest.split_first() else {
        return run(last, env, input, out, err).await;
    };
    let mut captured: Vec<u8> = Vec::new();
    run(first, env, input, &mut captured, &mut *err).await;
    for argv in middle {
        let mut next: Vec<u8> = Vec::new();
        run(
            argv,
            env,
            Input::Bytes(std::mem::take(&mut captured)),
            &mut next,
            &mut *err,
        )
        .await;
        captured = next;
    }
    run(last, env, Input::Bytes(captured), out, err).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> ShellEnv {
        let mut e = ShellEnv {
            hostname: "web-0".into(),
            ..Default::default()
        };
        e.env.insert("GREETING".into(), "hello world".into());
        e.files
            .insert("/etc/config/app.conf".into(), b"color=blue\n".to_vec());
        e
    }

    async fn sh(argv: &[&str], stdin: &[u8]) -> (i32, String, String) {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let e = env();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut input: Box<dyn AsyncRead + Send + Unpin> =
            Box::new(std::io::Cursor::new(stdin.to_vec()));
        let code = run(&argv, &e, Input::Stream(input.as_mut()), &mut out, &mut err).await;
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[tokio::test]
    async fn builtins() {
        assert_eq!(
            sh(&["echo", "hi"], b"").await,
            (0, "hi\n".into(), "".into())
        );
        assert_eq!(sh(&["/bin/hostname"], b"").await.1, "web-0\n");
        assert_eq!(sh(&["printenv", "GREETING"], b"").await.1, "hello world\n");
        assert!(sh(&["env"], b"").await.1.contains("GREETING=hello world\n"));
        assert_eq!(
            sh(&["cat", "/etc/config/app.conf"], b"").await.1,
            "color=blue\n"
        );
        assert_eq!(sh(&["cat"], b"from stdin").await.1, "from stdin");
        assert_eq!(sh(&["ls", "/etc/config"], b"").await.1, "app.conf\n");
        let (code, _, err) = sh(&["cat", "/nope"], b"").await;
        assert_eq!(code, 1);
        assert!(err.contains("No such file"));
        let (code, _, err) = sh(&["python"], b"").await;
        assert_eq!(code, NOT_FOUND);
        assert!(err.contains("executable file not found"));
    }

    #[tokio::test]
    async fn shell_scripts() {
        let (code, out, _) = sh(
            &[
                "sh",
                "-c",
                "echo \"$GREETING\" && false || echo 'fallback $X'; exit 4",
            ],
            b"",
        )
        .await;
        assert_eq!(code, 4);
        assert_eq!(out, "hello world\nfallback $X\n");
        let (_, out, _) = sh(&["sh", "-c", "cat /etc/config/app.conf | cat"], b"").await;
        assert_eq!(out, "color=blue\n");
        let (code, _, err) = sh(&["sh", "-c", "echo > /tmp/x"], b"").await;
        assert_eq!(code, 2);
        assert!(err.contains("not supported"));
        let (_, out, _) = sh(&["sh"], b"echo one\nhostname\nexit 3\necho never\n").await;
        assert_eq!(out, "one\nweb-0\n");
    }

    #[tokio::test]
    async fn sleep_waits() {
        let start = tokio::time::Instant::now();
        assert_eq!(sh(&["sleep", "0.2"], b"").await.0, 0);
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert_eq!(sh(&["sleep", "x"], b"").await.0, 1);
    }
}
