//! The P2P listener thread: accepts connections and hands each to its own
//! connection thread.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use log::{info, warn};

use super::ConnContext;
use super::connection::spawn_inbound;

/// A running accept loop; [`Listener::stop`] ends it.
pub struct Listener {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Starts accepting on an already bound listener.
    pub fn start(listener: TcpListener, ctx: ConnContext) -> io::Result<Listener> {
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("p2p-listener".into())
            .spawn(move || accept_loop(listener, ctx, flag))?;
        Ok(Listener {
            addr,
            stopping,
            thread: Some(thread),
        })
    }

    /// Stops accepting and waits for the accept loop to end.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stopping.store(true, Ordering::Release);
        wake_accept(self.addr);
        let _ = thread.join();
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, ctx: ConnContext, stopping: Arc<AtomicBool>) {
    for conn in listener.incoming() {
        if stopping.load(Ordering::Acquire) {
            break;
        }
        match conn {
            Ok(stream) => {
                let remote = stream
                    .peer_addr()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                spawn_inbound(&ctx, stream, remote);
            }
            Err(e) => {
                warn!("P2P accept failed: {e}");
                // E.g. out of file descriptors: don't spin while it lasts.
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    info!("P2P listener stopped");
}

/// Unblocks a thread blocked in `accept` on `addr` by connecting to it once.
pub fn wake_accept(addr: SocketAddr) {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => [127, 0, 0, 1].into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    // Failure means the listener is already gone, which is fine.
    let _ = TcpStream::connect_timeout(&target, std::time::Duration::from_millis(500));
}
