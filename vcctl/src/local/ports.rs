//! Listener ports: a restart reuses the ports of the previous run (kubeconfigs, virtual nodes
//! and people's shells keep working), falling back to a free port when one was taken since.

use std::net::{IpAddr, SocketAddr, TcpListener};

/// The address for a listener: `bind` with the recorded port when it is still free, else port 0
/// (the component binds a free port itself and reports it).
pub fn reuse_or_any(bind: IpAddr, recorded: Option<u16>) -> SocketAddr {
    match recorded {
        Some(port) if port != 0 && is_free(SocketAddr::new(bind, port)) => {
            SocketAddr::new(bind, port)
        }
        _ => SocketAddr::new(bind, 0),
    }
}

/// Whether `addr` can be bound right now.
pub fn is_free(addr: SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok()
}

/// A port that was free a moment ago (for listeners whose port must be known before they
/// start, such as vn-agent's, which the syncer advertises on virtual nodes).
pub fn free_port(bind: IpAddr) -> std::io::Result<u16> {
    Ok(TcpListener::bind(SocketAddr::new(bind, 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_free_ports_and_avoids_taken_ones() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let port = free_port(lo).unwrap();
        assert_eq!(reuse_or_any(lo, Some(port)).port(), port);
        let held = TcpListener::bind(SocketAddr::new(lo, port)).unwrap();
        assert_eq!(reuse_or_any(lo, Some(port)).port(), 0);
        drop(held);
        assert_eq!(reuse_or_any(lo, None).port(), 0);
    }
}
