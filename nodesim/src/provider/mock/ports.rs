//! What listens on a mock container's declared ports: an HTTP responder for HTTP requests and
//! an echo service for anything else.

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const METHODS: &[&str] = &[
    "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "PATCH ", "OPTIONS ",
];

/// Serves one forwarded connection to `port` of the pod `namespace/pod`.
pub async fn serve(
    namespace: &str,
    pod: &str,
    port: u16,
    mut io: DuplexStream,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let n = io.read(&mut chunk).await?;
    if n == 0 {
        return Ok(());
    }
    buf.extend_from_slice(&chunk[..n]);
    let looks_http = METHODS.iter().any(|m| {
        let len = m.len().min(buf.len());
        buf[..len] == m.as_bytes()[..len]
    });
    if !looks_http {
        io.write_all(&buf).await?;
        loop {
            let n = io.read(&mut chunk).await?;
            if n == 0 {
                return io.shutdown().await;
            }
            io.write_all(&chunk[..n]).await?;
        }
    }
    loop {
        while !contains(&buf, b"\r\n\r\n") {
            let n = io.read(&mut chunk).await?;
            if n == 0 {
                return io.shutdown().await;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > 64 * 1024 {
                io.write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
                return io.shutdown().await;
            }
        }
        let end = find(&buf, b"\r\n\r\n").unwrap_or(0) + 4;
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let body_len: usize = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < end + body_len {
            let n = io.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..(end + body_len).min(buf.len()));
        let mut first = head.lines().next().unwrap_or("").split_whitespace();
        let method = first.next().unwrap_or("GET").to_string();
        let path = first.next().unwrap_or("/").to_string();
        let close = head.to_ascii_lowercase().contains("connection: close");
        let body = format!("nodesim {namespace}/{pod} port {port}: {method} {path}\n");
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{}\r\n{}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" },
            if method == "HEAD" { "" } else { body.as_str() }
        );
        io.write_all(resp.as_bytes()).await?;
        if close {
            return io.shutdown().await;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn http_and_echo() {
        let (a, mut b) = tokio::io::duplex(4096);
        tokio::spawn(async move { serve("ns", "p", 80, a).await });
        b.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut resp = String::new();
        b.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(resp.ends_with("nodesim ns/p port 80: GET /healthz\n"));

        let (a, mut b) = tokio::io::duplex(4096);
        tokio::spawn(async move { serve("ns", "p", 9000, a).await });
        b.write_all(b"\x01\x02binary").await.unwrap();
        let mut got = [0u8; 8];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"\x01\x02binary");
    }
}
